"""VBench Quality dimensions: ours (`omninft-bench run vbench`) vs the reference code, same videos, same weights.

    python -m omninft.bench.perf.scripts.vbench_reference --ref-python /path/to/refvenv/bin/python \\
        --dino-checkout DINO_DIR --work /tmp/vbref [--ref-checkout VBENCH_DIR] [--videos 4] [--frames 16]

The reference is never a dependency: it runs in its own throwaway interpreter (`--ref-python`: a venv with
torch 2.5.1 + torchvision 0.20.1 and `vbench==0.1.5 "numpy<2"`, whose metric code equals VBench 45e79ec for
every dimension, spec §0); `--ref-checkout` puts a Vchitect/VBench checkout first on that interpreter's path
instead. `--dino-checkout` is a facebookresearch/dino working tree (the reference loads DINO through
torch.hub from it in local mode). Nothing is downloaded.

Steps: (1) write small generated videos `{prompt}-{i}.mp4`; (2) in the reference interpreter, build every
Quality model at full size with random weights from the reference's own classes (seeded) and save them in the
official layouts where the reference looks for them ($VBENCH_CACHE_DIR, $TORCH_HOME): DINO's
`dino_vitbase16_pretrain.pth`, OpenAI-CLIP TorchScript archives `ViT-B-32.pt` / `ViT-L-14.pt` (weights rounded to
fp16 as OpenAI's files are), the LAION head, pyiqa MUSIQ, `raft-things.pth` (`module.` prefixes) and AMT-S
(`{'state_dict': ...}`); then time `VBench.evaluate(mode='custom_input', local=True)` dimension by dimension;
(3) serve the same files with `omninft-serve --config` and time `omninft-bench run vbench --mode custom_input`;
(4) compare the two `<name>_eval_results.json` per dimension (aggregate and per video, matched by file name).
Prints a JSON summary and keeps it in WORK/comparison.json and bench/perf/results/vbench_reference.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report

QUALITY = (
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "motion_smoothness",
    "dynamic_degree",
    "aesthetic_quality",
    "imaging_quality",
)
PROMPTS = ("a red ball bouncing in a box", "a ball rolling on a table")

# Runs in the reference interpreter: builds random models with the reference's classes, saves official files.
_REF_WEIGHTS = r"""
import json, os, sys, torch
from torch import nn
cache, torch_home, dino_repo = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
def save(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True); torch.save(obj, path); out[os.path.basename(path)] = path
def half_rounded(m):
    with torch.no_grad():
        for p in m.parameters(): p.copy_(p.half().float())
    return m
# DINO ViT-B/16 (hubconf dino_vitb16: vit_base(patch_size=16, num_classes=0)), read from torch.hub's cache
sys.path.insert(0, dino_repo)
import vision_transformer as vits
torch.manual_seed(1)
dino = vits.vit_base(patch_size=16, num_classes=0)
sd = dino.state_dict()
save(sd, os.path.join(torch_home, "hub", "checkpoints", "dino_vitbase16_pretrain.pth"))
save(sd, os.path.join(cache, "dino_model", "dino_vitbase16_pretrain.pth"))
dst = os.path.join(cache, "dino_model", "facebookresearch_dino_main")
if not os.path.isdir(dst):
    import shutil; shutil.copytree(dino_repo, dst, ignore=shutil.ignore_patterns(".git"))
# OpenAI CLIP as TorchScript archives (clip.load reads only those)
from clip.model import CLIP
for name, seed, args in (("ViT-B-32.pt", 2, (512, 224, 12, 768, 32, 77, 49408, 512, 8, 12)),
                         ("ViT-L-14.pt", 3, (768, 224, 24, 1024, 14, 77, 49408, 768, 12, 12))):
    if os.path.exists(os.path.join(cache, "clip_model", name)):  # deterministic: reuse an earlier build
        out[name] = os.path.join(cache, "clip_model", name); continue
    torch.manual_seed(seed)
    model = half_rounded(CLIP(*args).eval())
    with torch.no_grad():
        traced = torch.jit.trace(model, (torch.zeros(1, 3, 224, 224), torch.zeros(1, 77, dtype=torch.long)),
                                 check_trace=False)
    path = os.path.join(cache, "clip_model", name)
    os.makedirs(os.path.dirname(path), exist_ok=True); traced.save(path); out[name] = path
torch.manual_seed(4)
save(nn.Linear(768, 1).state_dict(), os.path.join(cache, "aesthetic_model", "emb_reader", "sa_0_4_vit_l_14_linear.pth"))
from pyiqa.archs.musiq_arch import MUSIQ
torch.manual_seed(5)
save(MUSIQ(pretrained=False).state_dict(), os.path.join(cache, "pyiqa_model", "musiq_spaq_ckpt-358bb6af.pth"))
from easydict import EasyDict
from vbench.third_party.RAFT.core.raft import RAFT
torch.manual_seed(6)
raft = RAFT(EasyDict(small=False, mixed_precision=False, alternate_corr=False))
save({"module." + k: v for k, v in raft.state_dict().items()}, os.path.join(cache, "raft_model", "models", "raft-things.pth"))
from omegaconf import OmegaConf
import vbench
from vbench.third_party.amt.utils.build_utils import build_from_cfg
cfg = OmegaConf.load(os.path.join(os.path.dirname(vbench.__file__), "third_party", "amt", "cfgs", "AMT-S.yaml"))
torch.manual_seed(7)
save({"state_dict": build_from_cfg(cfg.network).state_dict()}, os.path.join(cache, "amt_model", "amt-s.pth"))
print(json.dumps(out))
"""

# Runs in the reference interpreter: VBench.evaluate one dimension at a time, timed.
_REF_EVAL = r"""
import json, os, resource, sys, time, torch
videos, out_dir, dims, threads = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
torch.set_num_threads(threads)
import vbench
from vbench import VBench
full_info = os.path.join(os.path.dirname(vbench.__file__), "VBench_full_info.json")
bench = VBench(torch.device("cpu"), full_info, out_dir)
timing = {}
for dim in dims:
    t0 = time.perf_counter()
    bench.evaluate(videos_path=videos, name=f"ref_{dim}", dimension_list=[dim], local=True, mode="custom_input")
    timing[dim] = time.perf_counter() - t0
merged = {}
for dim in dims:
    merged.update(json.load(open(os.path.join(out_dir, f"ref_{dim}_eval_results.json"))))
json.dump(merged, open(os.path.join(out_dir, "reference_eval_results.json"), "w"), indent=1)
print(json.dumps({"wall_s": timing, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": torch.__version__, "vbench": getattr(vbench, "__version__", "?"), "file": vbench.__file__}))
"""


def write_videos(
    folder: Path, per_prompt: int, frames: int, height: int, width: int, fps: float
) -> list[Path]:
    """Bouncing-disc clips in the standard naming, deterministic."""
    from omninft.bench.demo_data import write_mp4
    from omninft.bench.synth import bouncing_disc_clip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, prompt in enumerate(PROMPTS):
        for i in range(per_prompt // len(PROMPTS) + (k < per_prompt % len(PROMPTS))):
            path = folder / f"{prompt}-{i}.mp4"
            if not path.exists():
                clip = bouncing_disc_clip(
                    1000 + 10 * k + i, seconds=frames / fps, height=height, width=width, fps=fps
                )
                write_mp4(path, clip, mux_audio=False)
            paths.append(path)
    return paths


def _ref_env(args: argparse.Namespace, work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "VBENCH_CACHE_DIR": str(work / "cache"),
        "TORCH_HOME": str(work / "torch"),
        "OMP_NUM_THREADS": str(args.threads),
        "PYTHONNOUSERSITE": "1",
    }
    env.pop("PYTHONPATH", None)
    if args.ref_checkout:
        env["PYTHONPATH"] = str(Path(args.ref_checkout).resolve())
    return env


def run_reference(args: argparse.Namespace, work: Path, videos: Path, dims: list[str]) -> dict[str, Any]:
    """Prepare the weights, then evaluate with the reference; returns its timing summary."""
    env = _ref_env(args, work)
    prep = subprocess.run(
        [
            args.ref_python,
            "-c",
            _REF_WEIGHTS,
            str(work / "cache"),
            str(work / "torch"),
            str(Path(args.dino_checkout).resolve()),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if prep.returncode != 0:
        raise SystemExit(f"building the reference weights failed:\n{prep.stderr[-3000:]}")
    files = json.loads(prep.stdout.strip().splitlines()[-1])
    out = work / "reference"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [args.ref_python, "-c", _REF_EVAL, str(videos), str(out), ",".join(dims), str(args.threads)],
        env=env,
        capture_output=True,
        text=True,
    )
    (work / "reference.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"reference run failed (log: {work / 'reference.log'}):\n{proc.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["files"] = files
    return summary


def server_config(work: Path) -> Path:
    """omninft-serve config hosting the Quality scorers on the files the reference read."""
    c = work / "cache"
    scorers: dict[str, dict[str, Any]] = {
        "vbench_subject_consistency": {"weights": str(c / "dino_model" / "dino_vitbase16_pretrain.pth")},
        "vbench_background_consistency": {"weights": str(c / "clip_model" / "ViT-B-32.pt")},
        "vbench_aesthetic_quality": {
            "weights": str(c / "clip_model" / "ViT-L-14.pt"),
            "options": {
                "head_weights": str(c / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth")
            },
        },
        "vbench_imaging_quality": {"weights": str(c / "pyiqa_model" / "musiq_spaq_ckpt-358bb6af.pth")},
        "vbench_motion_smoothness": {"weights": str(c / "amt_model" / "amt-s.pth")},
        "vbench_dynamic_degree": {"weights": str(c / "raft_model" / "models" / "raft-things.pth")},
        "vbench_temporal_flickering": {},
    }
    for sc in scorers.values():
        sc["device"] = "cpu"
    cfg = work / "serve.yaml"
    cfg.write_text(json.dumps({"metricsPort": 0, "scorers": scorers}, indent=1))  # JSON is YAML
    return cfg


def run_ours(args: argparse.Namespace, work: Path, videos: Path, dims: list[str]) -> dict[str, Any]:
    """Serve the same files, run `omninft-bench run vbench` (all dimensions, then one by one); timed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    port_file = work / "port"
    port_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [
            shutil.which("omninft-serve") or "omninft-serve",
            "--config",
            str(server_config(work)),
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "server.log", "w"),
    )
    try:
        while not port_file.exists():
            if server.poll() is not None:
                raise SystemExit(f"server exited; see {work / 'server.log'}")
            time.sleep(0.2)
        startup = time.perf_counter() - t0
        address = port_file.read_text().strip()
        timing: dict[str, float] = {}

        def bench(tag: str, ds: list[str]) -> float:
            t = time.perf_counter()
            cmd = [
                shutil.which("omninft-bench") or "omninft-bench",
                "run",
                "vbench",
                "--videos",
                str(videos),
                "--mode",
                "custom_input",
                "--server",
                address,
                "--out",
                str(work / "ours" / tag),
                "--name",
                "ours",
                "--no-progress",
                "--fresh",
                *(a for d in ds for a in ("--dimensions", d)),
            ]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            (work / f"ours_{tag}.log").write_text(proc.stdout + proc.stderr)
            if proc.returncode != 0:
                raise SystemExit(f"omninft-bench failed ({tag}):\n{proc.stderr[-3000:]}")
            return time.perf_counter() - t

        timing["all"] = bench("all", dims)
        if args.per_dimension:
            for d in dims:
                timing[d] = bench(d, [d])
        return {"startup_s": startup, "wall_s": timing, "server_peak_rss_mib": _rss_of(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _rss_of(pid: int) -> float:
    """VmHWM of a live process in MiB (Linux), else -1."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def _value(v: Any) -> float:
    """A per-video result as a float (dynamic_degree's booleans as 0/1)."""
    return float(v)


def compare(ref: dict[str, Any], ours: dict[str, Any], dims: list[str]) -> dict[str, Any]:
    """Per dimension: both aggregates, their difference, and the largest per-video difference (by file name)."""
    out: dict[str, Any] = {}
    for d in dims:
        if d not in ref or d not in ours:
            out[d] = {"missing_in": [s for s, doc in (("reference", ref), ("ours", ours)) if d not in doc]}
            continue
        ra, oa = float(ref[d][0]), float(ours[d][0])
        rv = {Path(v["video_path"]).name: _value(v["video_results"]) for v in ref[d][1]}
        ov = {Path(v["video_path"]).name: _value(v["video_results"]) for v in ours[d][1]}
        common = sorted(set(rv) & set(ov))
        diffs = [abs(rv[k] - ov[k]) for k in common]
        out[d] = {
            "reference": ra,
            "ours": oa,
            "abs_diff": abs(ra - oa),
            "rel_diff": abs(ra - oa) / max(abs(ra), 1e-12),
            "videos_compared": len(common),
            "videos_only_in": {"reference": sorted(set(rv) - set(ov)), "ours": sorted(set(ov) - set(rv))},
            "max_per_video_abs_diff": max(diffs) if diffs else None,
        }
    return out


def main() -> None:
    """Run both sides and print the comparison as JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-python", required=True, help="python of the throwaway reference venv")
    ap.add_argument(
        "--ref-checkout", default="", help="Vchitect/VBench checkout to use instead of the installed vbench"
    )
    ap.add_argument(
        "--dino-checkout", required=True, help="facebookresearch/dino working tree (torch.hub local)"
    )
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--fps", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dimensions", default=",".join(QUALITY))
    ap.add_argument("--per-dimension", action="store_true", help="also time ours one dimension per run")
    ap.add_argument("--skip-reference", action="store_true", help="reuse WORK/reference from an earlier run")
    args = ap.parse_args()
    work = args.work.resolve()
    dims = [d for d in args.dimensions.split(",") if d]
    videos = work / "videos"
    write_videos(videos, args.videos, args.frames, args.height, args.width, args.fps)
    ref_summary_path = work / "reference_summary.json"
    if args.skip_reference and ref_summary_path.exists():
        ref_summary = json.loads(ref_summary_path.read_text())
    else:
        ref_summary = run_reference(args, work, videos, dims)
        ref_summary_path.write_text(json.dumps(ref_summary, indent=1))
    ours_summary = run_ours(args, work, videos, dims)
    ref = json.loads((work / "reference" / "reference_eval_results.json").read_text())
    ours = json.loads((work / "ours" / "all" / "evaluation_results" / "ours_eval_results.json").read_text())
    ref_total = sum(ref_summary["wall_s"].values())
    doc = {
        "videos": args.videos,
        "frames": args.frames,
        "size": f"{args.height}x{args.width}",
        "fps": args.fps,
        "threads": args.threads,
        "reference": ref_summary,
        "ours": ours_summary,
        "wall_ratio_quality_group": ref_total / ours_summary["wall_s"]["all"],
        "wall_ratio_incl_our_startup": ref_total
        / (ours_summary["wall_s"]["all"] + ours_summary["startup_s"]),
        "per_dimension_ratio": {
            d: ref_summary["wall_s"][d] / ours_summary["wall_s"][d]
            for d in dims
            if d in ours_summary["wall_s"]
        },
        "values": compare(ref, ours, dims),
        "driver_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    (work / "comparison.json").write_text(json.dumps(doc, indent=1))
    report("vbench_reference", doc)


if __name__ == "__main__":
    main()
