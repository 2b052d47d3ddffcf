"""JavisBench against the reference: the same media and the same full-size random weights, timed per group.

    # once: media (W/gen, W/gt, 32 rows each) and random full-size weights in the official layouts
    python -m omninft.bench.perf.scripts.vs_reference prepare --work W --ref /path/to/JavisDiT \\
        --ref-python /path/to/refvenv/bin/python
    # the reference side, then ours (one side at a time; results accumulate in W/state.json)
    python -m omninft.bench.perf.scripts.vs_reference run --work W --n 8 --sides ref \\
        --ref /path/to/JavisDiT --ref-python /path/to/refvenv/bin/python
    python -m omninft.bench.perf.scripts.vs_reference run --work W --n 8 --sides ours
    python -m omninft.bench.perf.scripts.vs_reference table --work W   # JSON + RESULTS.md-ready table
    # CI smoke: tiny weights, 2 samples, ours only (no reference needed)
    python -m omninft.bench.perf.scripts.vs_reference quick --work W

The reference: a JavisDiT checkout (``git clone https://github.com/JavisVerse/JavisDiT``; measured at b505b37)
given as ``--ref``, run by ``--ref-python``, the interpreter of a throwaway venv with the reference's pinned
requirements (torch 2.5.1 trio, transformers 4.49, librosa 0.9.2, numpy<2, openai-clip, audiobox_aesthetics
0.0.4, timm 1.0.12, pytorchvideo 0.1.5, decord, fvcore, iopath; see issue 9 for the recipe). Each group is one
``vs_reference_ref.py`` process calling the reference's own ``calc_*`` function (``src/metrics.py``), so its
time includes interpreter start, imports, model load, the reference's DataLoaders (8 workers) and compute, as
its ``main.py`` pays them per metric. Without ``--ref-python`` the reference side is skipped (and said so).

Ours: ``omninft-bench run javisbench --metrics <group keys>`` on the same rows (interpreter start, embedded
server spawn, model load, warm-up and scoring included); the fvd group also builds the ground-truth cache with
``omninft-bench reference build`` (the reference embeds the GT set too). The whole suite is one
``omninft-bench run`` with every group's keys (one server, one decode per sample); the reference's whole suite
is the sum of its groups (its ``main.py`` runs the same functions one after another in one process, so the sum
holds each group's interpreter start once too many: ``torch_import_s`` per group says how much).

Per run: wall seconds, CPU seconds of the whole process tree (user + system, children included: the machine is
shared, so CPU seconds are the honest figure), peak RSS (the largest single process), and for ours the server's
own accounting from ``results.json`` (``provenance.server_stats``): decodes per sample and the share of our
wall time spent in model forward. Weights (``prepare``): CLIP ViT-B/32 / CLAP / Audiobox / Synchformer from
``javisbench_parity``'s stages; I3D (``i3d_pretrained_400.pt``), AudioCLIP's audio branch
(``AudioCLIP-Full-Training.pt``, ``audio.*`` keys: the reference loads it with ``strict=False``, so its image and
text towers stay random) and ImageBind-Huge (``imagebind_huge.pth``, built by the reference's own
``imagebind_huge()`` in the reference venv) here. VideoReward (visual/motion quality) is not timed: its
full-size model is Qwen2-VL-2B (8 GB float32), beyond this machine's per-process budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROWS = 32  # media rows written by `prepare`; runs take the first --n


@dataclass(frozen=True)
class Group:
    """A metric group timed as one unit: its official keys, our scorers and their weight files under W/weights."""

    keys: tuple[str, ...]
    weights: dict[str, str] = field(default_factory=dict)  # scorer -> file or folder under W/weights
    needs_gt: bool = False
    # scorer -> options; a value starting with "W/" names a file under W/weights
    options: dict[str, dict[str, str]] = field(default_factory=dict)


BPE = "bpe_simple_vocab_16e6.txt.gz"  # openai-clip's BPE vocabulary, ImageBind's text tokenizer too
_IB_OPTIONS = {"architecture": "huge", "tokenizer": f"W/{BPE}"}


GROUPS: dict[str, Group] = {
    "fvd": Group(
        ("fvd", "kvd", "fad"),
        {"i3d": "i3d_pretrained_400.pt", "audioclip": "AudioCLIP-Full-Training.pt"},
        needs_gt=True,
    ),
    "imagebind": Group(
        ("ib_tv", "ib_ta", "ib_av"), {"imagebind": "imagebind_huge.pth"}, options={"imagebind": _IB_OPTIONS}
    ),
    "avh": Group(
        ("avh_score", "javis_score"),
        {"imagebind_avh": "imagebind_huge.pth"},
        options={"imagebind_avh": _IB_OPTIONS},
    ),
    "desync": Group(("desync",), {"desync": "synchformer_state_dict.pth"}),
    "audio_quality": Group(("audio_quality",), {"audiobox_aesthetics": "audiobox_checkpoint.pt"}),
    "clip_score": Group(("clip_score",), {"clip": "clip"}),
    "clap_score": Group(("clap_score",), {"clap": "clap"}),
    "av_align": Group(("av_align",)),
}
# Files the reference reads from ./checkpoints (its cwd is W/refcwd).
REF_CHECKPOINTS = ("i3d_pretrained_400.pt", "AudioCLIP-Full-Training.pt", "imagebind_huge.pth")
NOT_TIMED = {
    "visual_quality / motion_quality": "VideoReward's full-size model is Qwen2-VL-2B (8 GB float32, minutes per "
    "clip on this CPU), beyond the shared machine's per-process budget"
}


# ----------------------------------------------------------------------------------------------- measuring


def timed(
    cmd: list[str], *, cwd: Path | None = None, log: Path | None = None, nice: int = 10
) -> dict[str, Any]:
    """Run `cmd` (under `nice`), wait for it with wait4: wall s, CPU s of its whole tree, peak RSS, exit code."""
    full = (["nice", "-n", str(nice)] if nice else []) + cmd
    print("+", " ".join(full), flush=True)
    load_before = os.getloadavg()
    out = log.open("wb") if log else None
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(full, cwd=cwd, stdout=out, stderr=subprocess.STDOUT if out else None)
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        if out:
            out.close()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "peak_rss_mib": round(ru.ru_maxrss / 1024),  # Linux: KiB, the largest single process of the tree
        "rc": proc.returncode,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }


def add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two sequential runs as one (times summed, the larger peak RSS, the worse exit code)."""
    return {
        "wall_s": round(a["wall_s"] + b["wall_s"], 2),
        "cpu_s": round(a["cpu_s"] + b["cpu_s"], 2),
        "peak_rss_mib": max(a["peak_rss_mib"], b["peak_rss_mib"]),
        "rc": a["rc"] or b["rc"],
        "load_avg_before": a["load_avg_before"],
        "load_avg_after": b["load_avg_after"],
    }


# ----------------------------------------------------------------------------------------------- preparing


def write_media(work: Path, rows: int) -> None:
    """W/gen and W/gt: bouncing-disc clips (2 s, 128x96, 24 fps) with 16 kHz wav, as javisbench_parity."""
    from omninft.bench.demo_data import write_demo_set

    for name, seed in (("gen", 1), ("gt", 2)):
        if not (work / name / "prompts.csv").exists():
            write_demo_set(work / name, n=rows, seconds=2.0, height=96, width=128, seed=seed)


def write_i3d_audioclip(work: Path, seed: int) -> None:
    """Full-size random I3D (plain state dict) and AudioCLIP's audio branch (``audio.*`` keys)."""
    import torch

    from omninft.reward_servers.models.audioclip.model import ESResNeXtConfig
    from omninft.reward_servers.models.audioclip.model import build as build_audio
    from omninft.reward_servers.models.i3d.model import I3DConfig
    from omninft.reward_servers.models.i3d.model import build as build_i3d

    w = work / "weights"
    w.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        i3d = build_i3d(I3DConfig.official())
        audio = build_audio(ESResNeXtConfig.official())
    torch.save(i3d.state_dict(), w / "i3d_pretrained_400.pt")
    torch.save({"audio." + k: v for k, v in audio.state_dict().items()}, w / "AudioCLIP-Full-Training.pt")


# Run by the reference venv's interpreter (the reference's vendored ImageBind is on its path, not ours).
IMAGEBIND_SNIPPET = """
import importlib, sys, torch
# pytorchvideo at the reference's pinned commit imports the pre-0.17 torchvision name
sys.modules.setdefault(
    "torchvision.transforms.functional_tensor", importlib.import_module("torchvision.transforms._functional_tensor")
)
sys.path.insert(0, sys.argv[1])
model_module = importlib.import_module("imagebind.models.imagebind_model")
torch.manual_seed(int(sys.argv[3]))
torch.save(model_module.imagebind_huge(pretrained=False).state_dict(), sys.argv[2])
"""


def prepare(work: Path, ref: Path | None, ref_python: str, seed: int, bpe: Path | None) -> None:
    """Media and every group's weights (skipping files already there), then W/refcwd/checkpoints links."""
    import javisbench_parity as parity  # type: ignore[import-not-found]  # sibling script, by path

    write_media(work, ROWS)
    w = work / "weights"
    if not (w / "clip").exists() or not (w / BPE).exists():
        if bpe is None and ref_python:
            bpe = (
                Path(
                    subprocess.run(
                        [ref_python, "-c", "import clip, os; print(os.path.dirname(clip.__file__))"],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout.strip()
                )
                / "bpe_simple_vocab_16e6.txt.gz"
            )
        if bpe is None:
            raise SystemExit(
                "prepare needs --bpe (openai-clip's bpe_simple_vocab_16e6.txt.gz) or --ref-python"
            )
        w.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bpe, w / BPE)  # ImageBind's vocabulary is this file too (its `tokenizer` option)
        if not (w / "clip").exists():
            parity.stage_weights(work, bpe, seed)
    if not (w / "audiobox_checkpoint.pt").exists():
        parity.stage_aes_weights(work, seed)
    if not (w / "synchformer_state_dict.pth").exists():
        parity.stage_sync_weights(work, seed)
    if not (w / "i3d_pretrained_400.pt").exists():
        write_i3d_audioclip(work, seed)
    if not (w / "imagebind_huge.pth").exists() and ref is not None and ref_python:
        ib_src = ref / "eval" / "javisbench" / "src" / "ImageBind"
        subprocess.run(
            [ref_python, "-c", IMAGEBIND_SNIPPET, str(ib_src), str(w / "imagebind_huge.pth"), str(seed)],
            check=True,
        )
    ck = work / "refcwd" / "checkpoints"
    ck.mkdir(parents=True, exist_ok=True)
    for name in REF_CHECKPOINTS:
        if (w / name).exists() and not (ck / name).exists():
            (ck / name).symlink_to(w / name)


# ----------------------------------------------------------------------------------------------- sides


def _ours_yaml(work: Path, groups: list[str], tiny: bool) -> Path:
    """The embedded-config naming each scorer's weight file (none: --weights tiny throughout)."""
    scorers: dict[str, Any] = {}
    if not tiny:
        for g in groups:
            for scorer, rel in GROUPS[g].weights.items():
                scorers[scorer] = {"weights": str(work / "weights" / rel)}
                opts = GROUPS[g].options.get(scorer, {})
                if opts:
                    scorers[scorer]["options"] = {
                        k: str(work / "weights" / v[2:]) if v.startswith("W/") else v for k, v in opts.items()
                    }
    path = work / f"ours-{'-'.join(groups)}.yaml"
    path.write_text(json.dumps({"scorers": scorers}, indent=1) + "\n")  # JSON is YAML
    return path


def _bench_exe() -> str:
    """The `omninft-bench` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "omninft-bench"
    return str(beside) if beside.exists() else shutil.which("omninft-bench") or "omninft-bench"


def run_ours(work: Path, name: str, groups: list[str], n: int, tiny: bool) -> dict[str, Any]:
    """`omninft-bench` for `groups` on the first n rows: timings, values and the server's own accounting."""
    out = work / f"ours-{name}-n{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cfg = _ours_yaml(work, groups, tiny)
    bench = [_bench_exe()]
    common = ["--weights", "tiny", "--embedded-config", str(cfg), "--no-progress", "--limit", str(n)]
    keys = [k for g in groups for k in GROUPS[g].keys]
    build = None
    extra: list[str] = []
    if any(GROUPS[g].needs_gt for g in groups):
        cache = out / "gt-features.pt"
        build = timed(
            [*bench, "reference", "build", "--samples", str(work / "gt"), "--prompts",
             str(work / "gt" / "prompts.csv"), "--out", str(cache), *common],
            log=out / "build.log",
        )  # fmt: skip
        extra = ["--reference-cache", str(cache)]
    runt = timed(
        [*bench, "run", "javisbench", "--samples", str(work / "gen"), "--prompts",
         str(work / "gen" / "prompts.csv"), "--metrics", ",".join(keys), "--out", str(out), "--fresh",
         *extra, *common],
        log=out / "run.log",
    )  # fmt: skip
    doc = add(build, runt) if build else dict(runt)
    res_path = out / "results.json"
    if runt["rc"] != 0 or not res_path.exists():
        doc["error"] = (out / "run.log").read_text(errors="replace")[-2000:]
        return doc
    res = json.loads(res_path.read_text())
    stats = res["provenance"].get("server_stats") or {}
    doc["values"] = {k: (v["overall"] if isinstance(v, dict) else v) for k, v in res["results"].items()}
    doc["tiny_weights"] = res["provenance"].get("tiny_weights")
    doc["server_stats"] = stats
    doc["run_wall_s"] = runt["wall_s"]
    if build:
        doc["gt_build_wall_s"] = build["wall_s"]
    # Forward share of the scoring run's wall (the GT build's server is not read); decodes of the gen rows.
    doc["forward_s"] = round(stats.get("forward_s", 0.0), 2)
    doc["forward_share"] = round(stats.get("forward_s", 0.0) / runt["wall_s"], 3) if runt["wall_s"] else None
    doc["decodes_per_sample"] = {m: round(v / n, 2) for m, v in stats.get("decodes", {}).items()}
    doc["server_ready_s"] = stats.get("ready_s")
    return doc


def run_ref(work: Path, group: str, n: int, ref: Path, ref_python: str) -> dict[str, Any]:
    """One `vs_reference_ref.py` process for `group` (cwd W/refcwd), timed."""
    log = work / f"ref-{group}-n{n}.log"
    doc = timed(
        [ref_python, str(HERE / "vs_reference_ref.py"), "--ref", str(ref), "--work", str(work), "--group",
         group, "--n", str(n)],
        cwd=work / "refcwd",
        log=log,
    )  # fmt: skip
    got = work / f"ref-{group}.json"
    if doc["rc"] != 0 or not got.exists():
        doc["error"] = log.read_text(errors="replace")[-2000:]
        return doc
    ref_doc = json.loads(got.read_text())
    got.unlink()
    doc["values"] = {k: v for k, v in ref_doc["values"].items() if not k.endswith("_per_sample")}
    doc["torch_import_s"] = ref_doc.get("torch_import_s")
    return doc


# ----------------------------------------------------------------------------------------------- state, table


def load_state(work: Path) -> dict[str, Any]:
    """W/state.json: {"runs": {"<side>/<group>/n<n>": run doc}}."""
    path = work / "state.json"
    return json.loads(path.read_text()) if path.exists() else {"runs": {}}


def save_state(work: Path, state: dict[str, Any]) -> None:
    """Write W/state.json atomically."""
    tmp = work / ".state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    tmp.replace(work / "state.json")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def _share(run: dict[str, Any] | None) -> str:
    """Our forward share as a percentage ('—' when not known)."""
    share = (run or {}).get("forward_share")
    return f"{share * 100:.0f} %" if isinstance(share, (int, float)) else "—"


def _agree(ref: dict[str, Any], ours: dict[str, Any]) -> str:
    """Largest relative difference over the keys both sides computed."""
    rel = []
    for k, rv in ref.get("values", {}).items():
        ov = ours.get("values", {}).get(k)
        if isinstance(rv, (int, float)) and isinstance(ov, (int, float)):
            rel.append(abs(ov - rv) / abs(rv) if rv else abs(ov - rv))
    return f"{max(rel):.1e}" if rel else ""


def table(state: dict[str, Any], n: int) -> str:
    """The RESULTS.md table for n samples (groups in GROUPS order, then the whole suite)."""
    runs = state["runs"]
    lines = [
        f"| group (n = {n}) | ref wall s | ref CPU s | ref peak RSS MiB | ours wall s | ours CPU s | "
        "ours peak RSS MiB | speed-up wall | speed-up CPU | ours forward share | ours decodes/sample (v, a) | "
        "max rel diff of values |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    names = [*GROUPS, "suite"]
    # The reference's suite: the sum of its runs of the groups our suite run covered (all groups if none ran).
    ref_suite: dict[str, Any] | None = None
    suite_groups = runs.get(f"ours/suite/n{n}", {}).get("groups") or list(GROUPS)
    for g in suite_groups:
        r = runs.get(f"ref/{g}/n{n}")
        if not r or r.get("error"):
            ref_suite = None  # a group missing on the reference side: no sum to compare
            break
        ref_suite = r if ref_suite is None else add(ref_suite, r)
    for g in names:
        r = runs.get(f"ref/{g}/n{n}") if g != "suite" else ref_suite
        o = runs.get(f"ours/{g}/n{n}")
        if not r and not o:
            continue
        r_ok = r and not r.get("error")
        o_ok = o and not o.get("error")

        def cell(d: dict[str, Any] | None, ok: Any, key: str) -> str:
            fmt = ".0f" if key == "peak_rss_mib" else ".1f"
            return f"{d[key]:{fmt}}" if ok and d else ("failed" if d else "—")

        dec = (o or {}).get("decodes_per_sample", {}) if o_ok else {}
        label = g if g != "suite" else f"**whole suite**: {', '.join(suite_groups)} (ref = sum of its groups)"
        lines.append(
            f"| {label} | {cell(r, r_ok, 'wall_s')} | {cell(r, r_ok, 'cpu_s')} | {cell(r, r_ok, 'peak_rss_mib')} | "
            f"{cell(o, o_ok, 'wall_s')} | {cell(o, o_ok, 'cpu_s')} | {cell(o, o_ok, 'peak_rss_mib')} | "
            f"{_ratio(r['wall_s'], o['wall_s']) if r_ok and o_ok else 'n/a'} | "  # type: ignore[index]
            f"{_ratio(r['cpu_s'], o['cpu_s']) if r_ok and o_ok else 'n/a'} | "  # type: ignore[index]
            f"{_share(o) if o_ok else '—'} | "
            f"{dec.get('video', '—')}, {dec.get('audio', '—')} | "
            f"{_agree(r or {}, o or {}) if r_ok and o_ok and g != 'suite' else ''} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace, tiny: bool = False) -> dict[str, Any]:
    """Run the asked sides/groups at --n, accumulating into W/state.json; returns the state."""
    work: Path = args.work
    groups = [g for g in args.groups.split(",") if g] if args.groups else list(GROUPS)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise SystemExit(f"unknown groups {unknown}; choose from {sorted(GROUPS)}")
    sides = args.sides.split(",")
    if "ref" in sides and not args.ref_python:
        print("reference side skipped: no --ref-python given (see this script's docstring)", flush=True)
        sides = [s for s in sides if s != "ref"]
    for side in sides:
        todo = [*groups, "suite"] if side == "ours" and args.suite else groups
        if args.suite_only:
            todo = ["suite"] if side == "ours" else []
        for g in todo:
            key = f"{side}/{g}/n{args.n}"
            state = load_state(work)
            if key in state["runs"] and not state["runs"][key].get("error") and not args.redo:
                print(f"{key}: kept from an earlier run (--redo to measure again)", flush=True)
                continue
            if side == "ref":
                doc = run_ref(work, g, args.n, args.ref, args.ref_python)
            else:
                doc = run_ours(work, g, groups if g == "suite" else [g], args.n, tiny)
            if g == "suite":
                doc["groups"] = groups
            doc["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            state = load_state(
                work
            )  # another invocation may have recorded runs meanwhile: merge, not overwrite
            state["runs"][key] = doc
            save_state(work, state)
            brief = {k: doc.get(k) for k in ("wall_s", "cpu_s", "peak_rss_mib", "forward_share", "rc")}
            print(f"{key}: {brief}" + (f"\n{doc['error']}" if doc.get("error") else ""), flush=True)
    return load_state(work)


def main(argv: list[str] | None = None) -> int:
    """prepare | run | table | quick."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=("prepare", "run", "table", "quick"))
    p.add_argument("--work", type=Path, required=True, help="media, weights, logs and state.json")
    p.add_argument("--ref", type=Path, help="JavisDiT checkout (holds eval/javisbench/src)")
    p.add_argument("--ref-python", default="", help="interpreter of the reference's throwaway venv")
    p.add_argument("--n", type=int, default=8, help="samples (the first n rows)")
    p.add_argument("--groups", default="", help=f"comma list of {', '.join(GROUPS)} (default: all)")
    p.add_argument("--sides", default="ref,ours", help="ref, ours or both (one after the other)")
    p.add_argument("--no-suite", dest="suite", action="store_false", help="ours: skip the whole-suite run")
    p.add_argument(
        "--suite-only",
        action="store_true",
        help="ours: only the whole-suite run of --groups (no per-group runs)",
    )
    p.add_argument("--redo", action="store_true", help="measure again what state.json already holds")
    p.add_argument("--seed", type=int, default=0, help="prepare: random-init seed of every model")
    p.add_argument("--bpe", type=Path, help="prepare: openai-clip's bpe_simple_vocab_16e6.txt.gz")
    p.add_argument("--json-out", type=Path, help="table/quick: also write the JSON here")
    a = p.parse_args(argv)
    a.work = a.work.resolve()
    a.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    if a.stage == "prepare":
        prepare(a.work, a.ref, a.ref_python, a.seed, a.bpe)
        return 0
    if a.stage == "quick":
        # tiny weights everywhere, 2 samples, ours only unless a reference is given: the CI smoke of this script
        write_media(a.work, 2)
        a.n = 2
        a.suite_only = False
        a.groups = a.groups or "av_align"
        state = run(a, tiny=True)
    elif a.stage == "run":
        state = run(a)
    else:
        state = load_state(a.work)
    ns = sorted({int(k.rsplit("/n", 1)[1]) for k in state["runs"]})
    doc = {
        "runs": state["runs"],
        "not_timed": NOT_TIMED,
        "load_avg_now": [round(x, 2) for x in os.getloadavg()],
        "tables": {str(n): table(state, n) for n in ns},
    }
    out = a.json_out or a.work / "vs_reference.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    for n in ns:
        print(f"\n{doc['tables'][str(n)]}\n")
    print(f"JSON: {out}")
    failed = [k for k, v in state["runs"].items() if v.get("error")]
    return 1 if failed and a.stage == "quick" else 0


if __name__ == "__main__":
    sys.exit(main())
