"""VBench Semantic dimensions without GRiT: ours (`omninft-bench run vbench`) vs the reference, same videos/weights.

    python -m omninft.bench.perf.scripts.vbench_reference_semantic --ref-python /path/to/refvenv/bin/python \\
        --work /tmp/vbsem [--dimensions human_action,scene,overall_consistency,temporal_style,appearance_style]

The sibling of `vbench_reference` (the Quality dimensions) for human_action (UMT ViT-L/16 K400), scene (Tag2Text
Swin-B 384), overall_consistency and temporal_style (ViCLIP ViT-L/14) and appearance_style (CLIP ViT-B/32). The
reference runs in its own throwaway interpreter (`--ref-python`: torch 2.5.1 + torchvision 0.20.1,
`vbench==0.1.5`, transformers 4.33.2, timm, fairscale); it is never a dependency and its source is not edited:
everything it would download is put where it looks, and the driver only wraps module attributes at run time.

Steps:
1. write small generated videos named after prompts of the standard suite (`<prompt>-0.mp4`), so that
   `mode="vbench_standard"` finds them with their auxiliary_info (scene, appearance_style) and human_action's file
   names parse to Kinetics-400 labels; the scene video is 384 x 384 (decord then decodes it at its own size);
2. in the reference interpreter, build at full size with random init from the reference's own classes (seeded)
   and save in the official layouts under $VBENCH_CACHE_DIR: `umt_model/l16_ptk710_ftk710_ftk400_f16_res224.pth`
   (a bare state dict; the head bias of `--action-label` raised by 4 so that one video is a correct answer),
   `caption_model/tag2text_swin_14m.pth` (`{"model": ...}`), `ViCLIP/ViClip-InternVid-10M-FLT.pth`
   (`{"model": ...}`, with the CLIP BPE beside it; the three tensors ViCLIP allocates with `torch.empty` and
   leaves to the checkpoint get OpenAI CLIP's initialisation), `clip_model/ViT-B-32.pt` (TorchScript, fp16-rounded). Tag2Text's
   `BertTokenizer/BertModel.from_pretrained('bert-base-uncased')` read a hub cache written under WORK/hf
   (HF_HOME, offline): a generated uncased WordPiece vocabulary of bert-base's size (30,522: BERT's special-token
   layout, characters, word pieces, every word of the tag names and the prompt, filler tokens) and a random
   full-size BertModel (Tag2Text's checkpoint overwrites every weight it takes from it);
3. time `VBench.evaluate(mode="vbench_standard", local=True)` one dimension per reference process (`nice`, its
   RSS watched: the process is stopped above `--rss-limit-gib` and the figure reported), with forward hooks that
   record UMT's 400 logits per video and Tag2Text's tag logits, tags, generated token ids and captions (scene's
   `generate` runs under `torch.no_grad()`: the reference calls it with autograd on, which holds every Swin-B
   activation of 16 frames at 384, above 14 GiB; the forward values are the same);
4. per dimension, start `omninft-serve --config` with that dimension's scorer on the same files (timed: load and
   warm-up) and time `omninft-bench run vbench --mode vbench_standard` against it; then run our scorers in this
   process with the same hooks (UMT logits; Tag2Text tag logits, tags, beam-search token ids, captions);
5. compare the `<name>_eval_results.json` files per dimension (aggregate and per video) and the traces.
Prints a JSON summary and keeps it in WORK/comparison.json and bench/perf/results/vbench_reference_semantic.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import resource
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report
from omninft.bench.perf.scripts.vbench_reference import compare

TAG2TEXT_BEAMS = 3  # vbench's scene(): generate(num_beams=3)
SEMANTIC = ("human_action", "scene", "overall_consistency", "temporal_style", "appearance_style")
# (file stem = a standard-suite prompt, dimension, height, width, frames, seed)
VIDEOS = (
    ("A person is riding a bike", "human_action", 96, 128, 16, 2001),
    ("A person is marching", "human_action", 120, 90, 12, 2002),
    ("alley", "scene", 384, 384, 16, 2003),
    ("Close up of grapes on a rotating table.", "overall_consistency", 96, 128, 16, 2004),
    ("Turtle swimming in ocean.", "overall_consistency", 90, 120, 10, 2005),
    (
        "A beautiful coastal beach in spring, waves lapping on sand, zoom in",
        "temporal_style",
        96,
        128,
        16,
        2006,
    ),
    (
        "A beautiful coastal beach in spring, waves lapping on sand, Van Gogh style",
        "appearance_style",
        96,
        128,
        8,
        2007,
    ),
)
VOCAB_SIZE = 30522  # bert-base-uncased's; Tag2Text's embeddings hold it + [DEC] + [ENC]
HF_REVISION = "0" * 40

# Runs in the reference interpreter: random full-size models from the reference's classes, official files.
_REF_WEIGHTS = r"""
import json, os, shutil, sys, torch
cache, snapshot, vocab, label, dims = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(",")
out = {}
def save(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True); torch.save(obj, path); out[os.path.basename(path)] = path
def done(path):
    if os.path.exists(path):  # deterministic: reuse an earlier build
        out[os.path.basename(path)] = path; return True
    return False
if "scene" in dims and not os.path.exists(os.path.join(snapshot, "config.json")):
    # bert-base-uncased as the hub cache holds it: tokenizer files and a random BertModel of its config
    from transformers import BertConfig, BertModel, BertTokenizer
    torch.manual_seed(10)
    BertModel(BertConfig()).save_pretrained(snapshot)
    BertTokenizer(vocab).save_pretrained(snapshot)
if "human_action" in dims:
    path = os.path.join(cache, "umt_model", "l16_ptk710_ftk710_ftk400_f16_res224.pth")
    if not done(path):
        from timm.models import create_model
        import vbench.human_action as H
        torch.manual_seed(11)
        m = create_model("vit_large_patch16_224", pretrained=False, num_classes=400, all_frames=16, tubelet_size=1,
                         use_learnable_pos_emb=False, fc_drop_rate=0., drop_rate=0., drop_path_rate=0.2,
                         attn_drop_rate=0., drop_block_rate=None, use_checkpoint=False, checkpoint_num=16,
                         use_mean_pooling=True, init_scale=0.001)
        index = {name: int(k) for k, name in H.build_dict().items()}[label]
        with torch.no_grad():
            m.head.bias[index] += 4.0
        save(m.state_dict(), path); del m
if "scene" in dims:
    path = os.path.join(cache, "caption_model", "tag2text_swin_14m.pth")
    if not done(path):
        from vbench.third_party.tag2Text.tag2text import tag2text_caption
        torch.manual_seed(12)
        m = tag2text_caption(pretrained="", image_size=384, vit="swin_b")
        save({"model": m.state_dict()}, path); del m
if {"overall_consistency", "temporal_style"} & set(dims):
    import clip
    bpe = os.path.join(cache, "ViCLIP", "bpe_simple_vocab_16e6.txt.gz")
    os.makedirs(os.path.dirname(bpe), exist_ok=True)
    shutil.copyfile(os.path.join(os.path.dirname(clip.__file__), "bpe_simple_vocab_16e6.txt.gz"), bpe)
    path = os.path.join(cache, "ViCLIP", "ViClip-InternVid-10M-FLT.pth")
    if not done(path):
        from vbench.third_party.ViCLIP.viclip import ViCLIP
        from vbench.third_party.ViCLIP.simple_tokenizer import SimpleTokenizer
        torch.manual_seed(13)
        m = ViCLIP(tokenizer=SimpleTokenizer(bpe), pretrain=None)
        # three tensors the reference allocates with torch.empty and never initialises (a checkpoint fills
        # them): OpenAI CLIP's initialisation, else they hold whatever memory held (NaN in the first try)
        with torch.no_grad():
            torch.nn.init.normal_(m.text_encoder.positional_embedding, std=0.01)
            torch.nn.init.normal_(m.text_encoder.text_projection, std=m.text_encoder.transformer.width ** -0.5)
            torch.nn.init.normal_(m.vision_encoder.proj, std=m.vision_encoder.proj.shape[0] ** -0.5)
        save({"model": m.state_dict()}, path); del m
if "appearance_style" in dims:
    path = os.path.join(cache, "clip_model", "ViT-B-32.pt")
    if not done(path):  # as vbench_reference builds it: OpenAI's TorchScript archive, weights rounded to fp16
        from clip.model import CLIP
        torch.manual_seed(2)
        m = CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12).eval()
        with torch.no_grad():
            for p in m.parameters(): p.copy_(p.half().float())
            traced = torch.jit.trace(m, (torch.zeros(1, 3, 224, 224), torch.zeros(1, 77, dtype=torch.long)),
                                     check_trace=False)
        os.makedirs(os.path.dirname(path), exist_ok=True); traced.save(path); out["ViT-B-32.pt"] = path
print(json.dumps(out))
"""

# Runs in the reference interpreter: VBench.evaluate for one dimension, timed, with recording hooks.
_REF_EVAL = r"""
import json, os, resource, sys, time, torch
videos, out_dir, dim, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
import vbench
from vbench import VBench
trace = {"paths": []}
def record_paths(module):
    real = module.load_video
    def load_video(path, *a, **k):
        trace["paths"].append(os.path.basename(path)); return real(path, *a, **k)
    module.load_video = load_video
if dim == "human_action":
    import vbench.human_action as H
    record_paths(H)
    trace["logits"] = []
    real_create = H.create_model
    def create_model(*a, **k):
        m = real_create(*a, **k)
        m.register_forward_hook(lambda mod, inp, o: trace["logits"].append(o.detach()[0].tolist()))
        return m
    H.create_model = create_model
elif dim == "scene":
    import vbench.scene as S
    record_paths(S)
    trace.update(tag_logits=[], ids=[], captions=[], tags=[])
    real_build = S.tag2text_caption
    def tag2text_caption(**kw):
        m = real_build(**kw)
        m.fc.register_forward_hook(lambda mod, inp, o: trace["tag_logits"].append(o.detach().tolist()))
        decoder_generate, model_generate = m.text_decoder.generate, m.generate
        def text_generate(*a, **k):
            ids = decoder_generate(*a, **k); trace["ids"].append(ids.tolist()); return ids
        def generate(*a, **k):
            # memory shim, values unchanged: vbench's scene() calls generate with autograd on, which keeps every
            # Swin-B activation of 16 frames at 384 (> 14 GiB); no_grad computes the same forward
            with torch.no_grad():
                r = model_generate(*a, **k)
            trace["captions"].append(r[0]); trace["tags"].append(r[1]); return r
        m.text_decoder.generate, m.generate = text_generate, generate
        return m
    S.tag2text_caption = tag2text_caption
full_info = os.path.join(os.path.dirname(vbench.__file__), "VBench_full_info.json")
bench = VBench(torch.device("cpu"), full_info, out_dir)
t0, c0 = time.perf_counter(), time.process_time()
bench.evaluate(videos_path=videos, name=f"ref_{dim}", dimension_list=[dim], local=True, mode="vbench_standard")
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
json.dump(trace, open(os.path.join(out_dir, f"ref_{dim}_trace.json"), "w"))
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": torch.__version__, "file": vbench.__file__}))
"""


def write_videos(folder: Path, dims: list[str], per_dimension: int) -> dict[str, list[str]]:
    """The first `per_dimension` clips of each chosen dimension, named after standard-suite prompts."""
    from omninft.bench.demo_data import write_mp4
    from omninft.bench.synth import bouncing_disc_clip

    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {}
    for prompt, dim, h, w, frames, seed in VIDEOS:
        if dim not in dims or len(names.get(dim, [])) >= per_dimension:
            continue
        path = folder / f"{prompt}-0.mp4"
        if not path.exists():
            write_mp4(
                path,
                bouncing_disc_clip(seed, seconds=frames / 8.0, height=h, width=w, fps=8.0),
                mux_audio=False,
            )
        names.setdefault(dim, []).append(path.name)
    return names


def write_vocab(path: Path) -> None:
    """An uncased WordPiece vocabulary of bert-base's size and special-token layout (no hub access here)."""
    from omninft.reward_servers.models.tag2text.model import PROMPT, tag_names

    words: set[str] = set()
    for text in (*tag_names(), PROMPT):
        words.update(re.findall(r"[a-z0-9]+", text.lower()))
    chars = sorted({c for w in words for c in w} | set("|.,!?'-()&\":;/"))
    tokens = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [*chars, *(f"##{c}" for c in chars), *sorted(words - set(chars))]
    tokens += [f"w{i}" for i in range(VOCAB_SIZE - len(tokens))]
    if len(tokens) != VOCAB_SIZE or len(set(tokens)) != VOCAB_SIZE:
        raise RuntimeError("the generated vocabulary is not 30,522 distinct tokens")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")


def _ref_env(args: argparse.Namespace, work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "VBENCH_CACHE_DIR": str(work / "cache"),
        "TORCH_HOME": str(work / "torch"),
        "HF_HOME": str(work / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": str(args.threads),
        "PYTHONNOUSERSITE": "1",
    }
    env.pop("PYTHONPATH", None)
    return env


def _watch(proc: subprocess.Popen[str], limit_mib: float, peak: dict[str, float]) -> None:
    """Poll a child's RSS; stop it (SIGKILL) above limit_mib; keep the largest figure seen."""
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
                peak["rss_mib"] = max(peak.get("rss_mib", 0.0), rss)
                if rss > limit_mib:
                    peak["killed_at_mib"] = rss
                    proc.kill()
                    return
        time.sleep(0.25)


def run_watched(
    cmd: list[str], env: dict[str, str], limit_gib: float, log: Path
) -> tuple[int, str, dict[str, float]]:
    """Run cmd under `nice -n 10` with its RSS watched; (return code, stdout, {rss_mib, killed_at_mib?})."""
    peak: dict[str, float] = {}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            ["nice", "-n", "10", *cmd], env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
        watcher = threading.Thread(target=_watch, args=(proc, limit_gib * 1024, peak), daemon=True)
        watcher.start()
        out, _ = proc.communicate()
        watcher.join(timeout=5)
    return proc.returncode, out, peak


def run_reference(args: argparse.Namespace, work: Path, videos: Path, dims: list[str]) -> dict[str, Any]:
    """Build the weights, then one timed `evaluate` per dimension in its own reference process."""
    env = _ref_env(args, work)
    snapshot = work / "hf" / "hub" / "models--bert-base-uncased" / "snapshots" / HF_REVISION
    refs = snapshot.parents[1] / "refs" / "main"
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(HF_REVISION)
    rc, out, peak = run_watched(
        [
            args.ref_python,
            "-c",
            _REF_WEIGHTS,
            str(work / "cache"),
            str(snapshot),
            str(work / "vocab.txt"),
            args.action_label,
            ",".join(dims),
        ],
        env,
        args.rss_limit_gib,
        work / "reference_weights.log",
    )
    if rc != 0:
        raise SystemExit(
            f"building the reference weights failed ({peak}); see {work / 'reference_weights.log'}"
        )
    summary: dict[str, Any] = {"files": json.loads(out.strip().splitlines()[-1]), "dimensions": {}}
    ref_out = work / "reference"
    ref_out.mkdir(parents=True, exist_ok=True)
    for dim in dims:
        rc, out, peak = run_watched(
            [args.ref_python, "-c", _REF_EVAL, str(videos), str(ref_out), dim, str(args.threads)],
            env,
            args.rss_limit_gib,
            work / f"reference_{dim}.log",
        )
        entry: dict[str, Any] = {"returncode": rc, "watched_peak_rss_mib": peak.get("rss_mib")}
        if "killed_at_mib" in peak:
            entry["stopped_above_limit_at_mib"] = peak["killed_at_mib"]
        if rc == 0:
            entry.update(json.loads(out.strip().splitlines()[-1]))
        summary["dimensions"][dim] = entry
        print(json.dumps({"reference": dim, **entry}), flush=True)
    return summary


def _scorer_configs(work: Path) -> dict[str, dict[str, Any]]:
    """Per dimension: the omninft-serve scorer config on the files the reference read."""
    c = work / "cache"
    bpe = str(c / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz")
    viclip = str(c / "ViCLIP" / "ViClip-InternVid-10M-FLT.pth")
    return {
        "human_action": {"weights": str(c / "umt_model" / "l16_ptk710_ftk710_ftk400_f16_res224.pth")},
        "scene": {
            "weights": str(c / "caption_model" / "tag2text_swin_14m.pth"),
            "options": {"tokenizer": str(work / "vocab.txt")},
        },
        "overall_consistency": {"weights": viclip, "options": {"tokenizer": bpe}},
        "temporal_style": {"weights": viclip, "options": {"tokenizer": bpe}},
        "appearance_style": {"weights": str(c / "clip_model" / "ViT-B-32.pt"), "options": {"tokenizer": bpe}},
    }


def run_ours(args: argparse.Namespace, work: Path, videos: Path, dims: list[str]) -> dict[str, Any]:
    """Per dimension: a server with that scorer alone (start-up timed), then `omninft-bench run vbench` (timed)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    full_info = _reference_full_info(args)
    configs = _scorer_configs(work)
    out: dict[str, Any] = {}
    for dim in dims:
        cfg = work / f"serve_{dim}.yaml"
        scorer = {**configs[dim], "device": "cpu"}
        cfg.write_text(json.dumps({"metricsPort": 0, "scorers": {f"vbench_{dim}": scorer}}, indent=1))
        port_file = work / f"port_{dim}"
        port_file.unlink(missing_ok=True)
        t0 = time.perf_counter()
        server = subprocess.Popen(
            [
                "nice",
                "-n",
                "10",
                shutil.which("omninft-serve") or "omninft-serve",
                "--config",
                str(cfg),
                "--port",
                "0",
                "--port-file",
                str(port_file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / f"server_{dim}.log", "w"),
        )
        try:
            while not port_file.exists():
                if server.poll() is not None:
                    raise SystemExit(f"server exited; see {work / f'server_{dim}.log'}")
                time.sleep(0.2)
            startup = time.perf_counter() - t0
            startup_cpu = _cpu_s(server.pid)
            t1, client0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            cmd = [
                "nice",
                "-n",
                "10",
                shutil.which("omninft-bench") or "omninft-bench",
                "run",
                "vbench",
                "--videos",
                str(videos),
                "--mode",
                "vbench_standard",
                "--full-info",
                str(full_info),
                "--layout",
                "flat",
                "--server",
                port_file.read_text().strip(),
                "--out",
                str(work / "ours" / dim),
                "--name",
                f"ours_{dim}",
                "--no-progress",
                "--fresh",
                "--dimensions",
                dim,
            ]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t1
            client1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            serve_cpu = _cpu_s(server.pid) - startup_cpu
            client_cpu = (client1.ru_utime + client1.ru_stime) - (client0.ru_utime + client0.ru_stime)
            (work / f"ours_{dim}.log").write_text(proc.stdout + proc.stderr)
            rss = _status_mib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=120)
        result = _ours_results(work / "ours" / dim, dim)
        out[dim] = {
            "returncode": proc.returncode,
            "startup_s": startup,
            "wall_s": wall,
            "startup_cpu_s": startup_cpu,
            "run_cpu_s": serve_cpu + client_cpu,
            "run_cpu_s_server": serve_cpu,
            "server_peak_rss_mib": rss,
            "found_results": result is not None,
        }
        print(json.dumps({"ours": dim, **out[dim]}), flush=True)
    return out


def _reference_full_info(args: argparse.Namespace) -> Path:
    """The reference package's VBench_full_info.json (read, not copied)."""
    proc = subprocess.run(
        [args.ref_python, "-c", "import os, vbench; print(os.path.dirname(vbench.__file__))"],
        env={**os.environ, "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(proc.stdout.strip().splitlines()[-1]) / "VBench_full_info.json"


def _ours_results(out_dir: Path, dim: str) -> dict[str, Any] | None:
    """Our `<name>_eval_results.json` of one dimension's run, wherever the runner put it."""
    for path in sorted(out_dir.rglob(f"ours_{dim}_eval_results.json")):
        doc: dict[str, Any] = json.loads(path.read_text())
        return doc
    return None


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (Linux /proc), else -1."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_mib(pid: int, field: str) -> float:
    """A /proc status field of a live process in MiB (Linux), else -1."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def our_traces(
    args: argparse.Namespace, work: Path, videos: Path, names: dict[str, list[str]]
) -> dict[str, Any]:
    """Our scorers in this process on the same files, recording what the reference's hooks record."""
    import torch

    from omninft.reward_servers.media import DecodedSample, decode_video
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    torch.set_num_threads(args.threads)
    configs = _scorer_configs(work)
    traces: dict[str, Any] = {}
    for dim, label_of in (("human_action", _action_label), ("scene", _scene_label)):
        if dim not in names:
            continue
        cfg = configs[dim]
        rec: dict[str, Any] = {
            "paths": [],
            "logits": [],
            "tag_logits": [],
            "ids": [],
            "captions": [],
            "tags": [],
        }

        def hook(module: Any, inp: Any, out: Any, rec: dict[str, Any] = rec) -> None:
            kind = type(module).__name__
            if kind == "UMTClassifier":
                rec["logits"].append(out.detach()[0].double().tolist())
            elif kind == "GroupWiseLinear":
                rec["tag_logits"].append(out.detach().tolist())

        gen_mod: Any = importlib.import_module("omninft.reward_servers.models.tag2text.generate")
        real_beam = gen_mod.beam_search

        def beam_search(*a: Any, rec: dict[str, Any] = rec, real_beam: Any = real_beam, **k: Any) -> Any:
            best = real_beam(*a, **k)
            rec["ids"].append([list(map(int, b)) for b in best])
            return best

        handle = torch.nn.modules.module.register_module_forward_hook(hook)
        gen_mod.beam_search = beam_search
        try:
            with registry.sharing():
                scorer = registry.build(
                    f"vbench_{dim}", ScorerConfig(weights=cfg["weights"], options=cfg.get("options", {}))
                )
                for name in names[dim]:
                    video = decode_video((videos / name).read_bytes(), max_frames=100000, max_pixels=10**9)
                    sample = DecodedSample(id=name, prompt=label_of(name), video=video)
                    out = scorer.forward([scorer.preprocess(sample)])[0]
                    if isinstance(out, Exception):
                        raise out
                    rec["paths"].append(name)
                    if dim == "scene":
                        rec.setdefault("scores", []).append(scorer.postprocess(out).scores)
                del scorer
        finally:
            handle.remove()
            gen_mod.beam_search = real_beam
        if dim == "scene":
            rec.update(_captions_from_ids(work, rec["ids"]))
        traces[dim] = rec
    return traces


def _action_label(name: str) -> str:
    """human_action's label from a file name, by the reference's rule."""
    return name.lower().split("-")[0].split("person is ")[-1].split("_")[0]


def _scene_label(name: str) -> str:
    """The scene of our standard-suite scene videos (file stem = the scene)."""
    return name.rsplit("-", 1)[0]


def _captions_from_ids(work: Path, ids: list[list[list[int]]]) -> dict[str, Any]:
    """Captions decoded from our beam-search ids with our tokenizer (what our scorer's substring rule reads)."""
    from omninft.reward_servers.models import tag2text
    from omninft.reward_servers.models.tag2text.model import PROMPT

    tok = tag2text.tokenizer(str(work / "vocab.txt"))
    return {"captions": [[tok.decode(s)[len(PROMPT) :] for s in call] for call in ids]}


def _strip_ref_ids(seq: list[int], prompt_len: int, sep: int, pad: int) -> list[int]:
    """A reference generate() row without its EOS and padding (ours returns the prompt and tokens, no EOS)."""
    out = []
    for t in seq:
        if t == sep:
            break
        out.append(t)
    while out and out[-1] == pad:
        out.pop()
    del prompt_len
    return out


def compare_traces(work: Path, traces: dict[str, Any], dims: list[str]) -> dict[str, Any]:
    """UMT logits and probabilities; Tag2Text tag logits, tags, token ids and captions."""
    import numpy as np

    result: dict[str, Any] = {}
    have = {d for d in dims if (work / "reference" / f"ref_{d}_trace.json").exists()}
    if "human_action" in have and "human_action" in traces:
        ref = json.loads((work / "reference" / "ref_human_action_trace.json").read_text())
        ours = traces["human_action"]
        per: dict[str, dict[str, Any]] = {}
        for name, logits in zip(ref["paths"], ref["logits"], strict=True):
            o = np.asarray(ours["logits"][ours["paths"].index(name)], dtype=np.float64)
            r = np.asarray(logits, dtype=np.float64)
            pr, po = 1 / (1 + np.exp(-r)), 1 / (1 + np.exp(-o))
            top_r, top_o = np.argsort(-r, kind="stable")[:5], np.argsort(-o, kind="stable")[:5]
            per[name] = {
                "max_abs_logit_diff": float(np.abs(r - o).max()),
                "max_rel_logit_diff": float((np.abs(r - o) / np.maximum(np.abs(r), 1e-12)).max()),
                "logit_scale": float(np.abs(r).max()),
                "max_abs_prob_diff": float(np.abs(pr - po).max()),
                "top5_reference": [int(i) for i in top_r],
                "top5_ours": [int(i) for i in top_o],
                "top5_probs_reference": [round(float(pr[i]), 4) for i in top_r],
                "top5_probs_ours": [round(float(po[i]), 4) for i in top_o],
                "top5_prob_gap_to_6th_reference": float(np.sort(pr)[-5] - np.sort(pr)[-6]),
            }
        result["human_action"] = per
    if "scene" in have and "scene" in traces:
        ref = json.loads((work / "reference" / "ref_scene_trace.json").read_text())
        ours = traces["scene"]
        from omninft.reward_servers.models import tag2text

        tok = tag2text.tokenizer(str(work / "vocab.txt"))
        prompt_len = len(tok.prompt_ids())
        per = {}
        for k, name in enumerate(ref["paths"]):
            j = ours["paths"].index(name)
            r_logits = np.asarray(ref["tag_logits"][k], dtype=np.float64)
            o_logits = np.asarray(ours["tag_logits"][j], dtype=np.float64)
            r_ids = [_strip_ref_ids(s, prompt_len, tok.sep_token_id, tok.pad_token_id) for s in ref["ids"][k]]
            o_ids = ours["ids"][j]
            # the reference's rows carry [DEC] + prompt like ours; compare whole sequences
            same_ids = [a == b for a, b in zip(r_ids, o_ids, strict=True)]
            per[name] = {
                "frames": len(r_ids),
                "max_abs_tag_logit_diff": float(np.abs(r_logits - o_logits).max()),
                "tag_logit_scale": float(np.abs(r_logits).max()),
                # vbench's Tag2Text returns tag_input[:len/num_beams] of the beam-repeated list, so slot i holds
                # frame i // 3's tags (captions use the right ones; the scene score reads captions only)
                "tags_identical": ref["tags"][k]
                == [tags[i // TAG2TEXT_BEAMS] for tags in [_our_tags(o_logits)] for i in range(len(r_ids))],
                "tags_per_frame_reference": [len(t.split(" | ")) if t else 0 for t in ref["tags"][k]],
                "token_ids_identical_frames": int(sum(same_ids)),
                "first_differing_frame": next((i for i, s in enumerate(same_ids) if not s), None),
                "captions_identical_frames": int(
                    sum(a == b for a, b in zip(ref["captions"][k], ours["captions"][j], strict=True))
                ),
                "caption_frame0_reference": ref["captions"][k][0],
                "caption_frame0_ours": ours["captions"][j][0],
                "tokens_frame0": len(r_ids[0]) - prompt_len,
            }
            if not all(same_ids):
                i = per[name]["first_differing_frame"]
                per[name]["ids_reference"] = r_ids[i]
                per[name]["ids_ours"] = o_ids[i]
        result["scene"] = per
    return result


def _our_tags(logits: Any) -> list[str]:
    """The tag strings our model's rule selects from tag logits (as generate() forms them)."""
    from omninft.reward_servers.models.tag2text.model import Tag2TextConfig, selected_tags, tag_string

    cfg = Tag2TextConfig.official()
    return [tag_string(t) for t in selected_tags(logits, cfg.threshold, cfg.banned_tags)]


def main() -> None:
    """Run both sides and print the comparison as JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-python", required=True, help="python of the throwaway reference venv")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dimensions", default=",".join(SEMANTIC))
    ap.add_argument("--per-dimension", type=int, default=2, help="videos per dimension (at most 2)")
    ap.add_argument(
        "--action-label", default="riding a bike", help="K400 class whose head bias is raised by 4"
    )
    ap.add_argument(
        "--rss-limit-gib", type=float, default=8.0, help="stop a reference process above this RSS"
    )
    ap.add_argument("--skip-reference", action="store_true", help="reuse WORK/reference from an earlier run")
    ap.add_argument(
        "--skip-ours", action="store_true", help="reuse WORK/ours_summary.json from an earlier run"
    )
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    dims = [d for d in args.dimensions.split(",") if d]
    videos = work / "videos"
    names = write_videos(videos, dims, args.per_dimension)
    if not (work / "vocab.txt").exists():
        write_vocab(work / "vocab.txt")
    ref_path, ours_path = work / "reference_summary.json", work / "ours_summary.json"
    if args.skip_reference and ref_path.exists():
        ref_summary = json.loads(ref_path.read_text())
    else:
        ref_summary = run_reference(args, work, videos, dims)
        ref_path.write_text(json.dumps(ref_summary, indent=1))
    if args.skip_ours and ours_path.exists():
        ours_summary = json.loads(ours_path.read_text())
    else:
        ours_summary = run_ours(args, work, videos, dims)
        ours_path.write_text(json.dumps(ours_summary, indent=1))
    ref: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    for d in dims:
        r = work / "reference" / f"ref_{d}_eval_results.json"
        if r.exists():
            ref.update(json.loads(r.read_text()))
        o = _ours_results(work / "ours" / d, d)
        if o:
            ours.update(o)
    traces = our_traces(args, work, videos, names)
    (work / "ours_traces.json").write_text(json.dumps(traces))
    timing = {}
    for d in dims:
        rs, os_ = ref_summary["dimensions"].get(d, {}), ours_summary.get(d, {})
        if "wall_s" in rs and "wall_s" in os_:
            mine = os_["startup_s"] + os_["wall_s"]
            timing[d] = {
                "reference_evaluate_s": rs["wall_s"],
                "ours_server_start_s": os_["startup_s"],
                "ours_run_s": os_["wall_s"],
                "ratio_incl_our_start": rs["wall_s"] / mine,
                "ratio_run_only": rs["wall_s"] / os_["wall_s"],
                "reference_peak_rss_mib": rs.get("peak_rss_mib"),
                "ours_server_peak_rss_mib": os_.get("server_peak_rss_mib"),
                "reference_evaluate_cpu_s": rs.get("cpu_s"),
                "ours_start_cpu_s": os_.get("startup_cpu_s"),
                "ours_run_cpu_s": os_.get("run_cpu_s"),
                "cpu_ratio_incl_our_start": rs["cpu_s"] / (os_["startup_cpu_s"] + os_["run_cpu_s"])
                if "cpu_s" in rs and "run_cpu_s" in os_
                else None,
            }
    doc = {
        "videos": {d: names.get(d, []) for d in dims},
        "threads": args.threads,
        "reference": ref_summary,
        "ours": ours_summary,
        "timing": timing,
        "values": compare(ref, ours, [d for d in dims if d in ref and d in ours]),
        "traces": compare_traces(work, traces, dims),
        "driver_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    (work / "comparison.json").write_text(json.dumps(doc, indent=1))
    report("vbench_reference_semantic", doc)


if __name__ == "__main__":
    main()
