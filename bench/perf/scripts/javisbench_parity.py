"""JavisBench parity: the reference's own functions and `omninft-bench run javisbench` on the same generated set.

Three stages, each a subcommand (run `ours` and `table` in the project venv, `reference` in a throwaway venv):

1. ``python -m omninft.bench.perf.scripts.javisbench_parity ours --out DIR --n 8``
   writes two generated sets (``gen``, ``gt``; bouncing discs with tone bursts, 16 kHz wav beside each mp4),
   builds ``gt-features.pt`` and ``gen-features.pt`` with ``omninft-bench reference build`` (the official
   ``{'video': [N,400], 'audio': [N,1024]}`` cache layout), and runs ``omninft-bench run javisbench`` on ``gen``
   against ``gt-features.pt``. ``--weights`` is handed to both commands (``tiny`` by default: calibrated tiny
   I3D/AudioCLIP, so FVD/KVD/FAD are not degenerate).
2. ``REF=/path/to/JavisDiT /path/to/refvenv/bin/python bench/perf/scripts/javisbench_parity.py reference
   --out DIR``: imports the reference modules from the checkout named by ``$REF`` (``eval/javisbench/src``,
   never copied into the project; get it with ``git clone https://github.com/JavisVerse/JavisDiT``) and computes
   - fvd, kvd, fad exactly as ``calc_fvd_kvd_fad_direct`` does (its ``frechet_distance`` first, then its
     ``polynomial_mmd`` on the same tensors, so the in-place centring happens as in the reference) on the two
     feature caches of stage 1;
   - av_align per sample with the calls of its ``AVAlignDataset.__getitem__`` (size None, no length cut).
   The throwaway venv needs the reference's pinned ``librosa==0.9.2``, ``numpy<2``, torch, opencv,
   matplotlib, scikit-learn and the imports of ``src/utils.py`` (see issue 9 for the whole recipe).
   This file imports nothing from omninft in that stage.
3. ``python -m omninft.bench.perf.scripts.javisbench_parity table --out DIR`` prints the markdown table.

Per-sample scorers at full size (random weights written once in the official layouts, read by both sides):
``weights`` (CLIP ViT-B/32 as an HF folder and as an OpenAI-layout ``ViT-B-32.pt``; CLAP htsat-unfused as an HF
folder), ``aes-weights`` (Audiobox Aesthetics ``checkpoint.pt``), ``sync-weights`` (Synchformer with its offset
head calibrated); then ``reference --groups clipclap|audio_quality|desync`` and ``omninft-bench run javisbench
--embedded-config`` naming those files as ``scorers.<name>.weights``; ``table`` reads every ``ours*/results.json``.
ImageBind keys (ib_tv/ta/av, avh_score, javis_score): stages ``ib-data`` / ``ib-weights`` and ``reference --groups
imagebind,av``, in ``javisbench_parity_ib.py``. VideoAlign keys are not driven here; see bench/perf/RESULTS.md,
"JavisBench parity".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

try:
    from . import javisbench_parity_ib as ib_parity
except ImportError:  # run as a script (the reference venv): the sibling file is on sys.path
    import javisbench_parity_ib as ib_parity  # type: ignore[import-not-found,no-redef]

SET_KEYS = ("fvd", "kvd", "fad")
# The official JavisBench command passes --max_audio_len_s 4.0; main.py hands it to AQ and DeSync (their function
# defaults of 8.0 are never used there).
MAX_AUDIO_LEN_S = 4.0


def _bench(*args: str) -> None:
    """Run one omninft-bench command, failing loudly."""
    cmd = ["omninft-bench", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def stage_ours(out: Path, n: int, weights: str) -> None:
    """Generate both sets, build both feature caches, run the benchmark on `gen`."""
    from omninft.bench.demo_data import write_demo_set

    sets = {}
    for name, seed in (("gen", 1), ("gt", 2)):
        sets[name] = write_demo_set(out / name, n=n, seconds=2.0, height=96, width=128, seed=seed)
    for name, csv_path in sets.items():
        _bench(
            "reference",
            "build",
            "--samples",
            str(out / name),
            "--prompts",
            str(csv_path),
            "--out",
            str(out / f"{name}-features.pt"),
            "--weights",
            weights,
            "--no-progress",
        )
    _bench(
        "run",
        "javisbench",
        "--samples",
        str(out / "gen"),
        "--prompts",
        str(sets["gen"]),
        "--reference-cache",
        str(out / "gt-features.pt"),
        "--metrics",
        "fvd,kvd,fad,av_align",
        "--weights",
        weights,
        "--out",
        str(out / "ours"),
        "--verbose",
        "--no-progress",
        "--fresh",
    )


def _clip_tokenizer_files(folder: Path, bpe_gz: Path) -> None:
    """vocab.json/merges.txt equal to openai-clip's SimpleTokenizer (same BPE file, same vocabulary order)."""
    import gzip

    text = gzip.open(bpe_gz).read().decode("utf-8")
    merges = [tuple(m.split()) for m in text.split("\n")[1 : 49152 - 256 - 2 + 1]]
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (folder / "merges.txt").write_text(text, encoding="utf-8")


def _fp16_exact(model: Any) -> None:
    """Round every float weight to a float16 value: OpenAI's build_model casts to fp16 and clip.load back to fp32."""
    import torch

    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())


def stage_weights(out: Path, bpe_gz: Path, seed: int) -> None:
    """Full-size random CLIP ViT-B/32 and CLAP (htsat-unfused) saved in the official layouts, read by both sides.

    CLIP: ``clip/`` (HF folder for ours; tokenizer files equal to openai-clip's BPE) and ``ViT-B-32.pt`` (the
    same weights as an OpenAI-layout state dict for the reference's ``clip.load``). CLAP: ``clap/`` (HF folder,
    our tiny RoBERTa tokenizer; the reference's ``from_pretrained`` reads the same folder).
    """
    import torch
    from transformers import ClapFeatureExtractor, CLIPConfig, CLIPModel, CLIPTokenizer

    from omninft.reward_servers.models.clap import model as clap_model
    from omninft.reward_servers.models.clip.openai import hf_to_openai

    w = out / "weights"
    clip_dir = w / "clip"
    clip_dir.mkdir(parents=True, exist_ok=True)
    _clip_tokenizer_files(clip_dir, bpe_gz)
    merges = (clip_dir / "merges.txt").read_text(encoding="utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    tok = CLIPTokenizer(vocab=json.loads((clip_dir / "vocab.json").read_text()), merges=pairs)  # type: ignore[arg-type]
    tok.save_pretrained(str(clip_dir))
    config = CLIPConfig()
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        setattr(config.text_config, key, getattr(tok, key))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip = CLIPModel(config).eval()
    _fp16_exact(clip)
    clip.save_pretrained(str(clip_dir))
    (clip_dir / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"shortest_edge": 224},
                "crop_size": {"height": 224, "width": 224},
                "resample": 3,
                "do_center_crop": True,
                "image_processor_type": "CLIPImageProcessor",
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
            }
        )
    )
    sd = {k: v.half() for k, v in hf_to_openai(clip.state_dict()).items()}
    torch.save(sd, w / "ViT-B-32.pt")

    clap, ctok, _ = clap_model._tiny(seed, "random")
    clap_dir = w / "clap"
    clap.save_pretrained(str(clap_dir))  # type: ignore[operator]
    ctok.save_pretrained(str(clap_dir))
    fe_kwargs: dict[str, Any] = {
        k: v for k, v in clap_model.EXPECTED_FEATURE_EXTRACTOR.items() if k != "top_db"
    }
    fe = ClapFeatureExtractor(**fe_kwargs)
    fe.save_pretrained(str(clap_dir))
    pre = json.loads((clap_dir / "preprocessor_config.json").read_text())
    pre["processor_class"] = "ClapProcessor"
    (clap_dir / "preprocessor_config.json").write_text(json.dumps(pre, indent=1))
    print("weights in", w)


def stage_sync_weights(out: Path, seed: int) -> None:
    """Full-size random Synchformer with the offset head calibrated (raw random weights give one class for every
    clip), saved as a plain state dict in the MMAudio release layout (``synchformer_state_dict.pth``)."""
    import torch

    from omninft.reward_servers.models.synchformer.calibrate import calibrate_random
    from omninft.reward_servers.models.synchformer.config import SynchformerConfig
    from omninft.reward_servers.models.synchformer.model import build

    model = calibrate_random(build(SynchformerConfig.official(), seed=seed))
    (out / "weights").mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "weights" / "synchformer_state_dict.pth")
    print("wrote", out / "weights" / "synchformer_state_dict.pth")


def _load_file(name: str, path: Path) -> types.ModuleType:
    """Import one reference source file by path (its package __init__ would pull in every model)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _prompts(csv_path: Path) -> list[tuple[str, str]]:
    """(text, audio_text or text) per row, in row order."""
    import csv

    with csv_path.open(newline="") as f:
        return [(r["text"], (r.get("audio_text") or "").strip() or r["text"]) for r in csv.DictReader(f)]


def reference_clip_clap(out: Path, src: Path) -> dict[str, Any]:
    """clip_score and clap_score per sample with the calls of the reference's calc_clip_score / calc_clap_score.

    Its data path is VideoFrameDataset / AudioDataset (``utils.read_video`` 48 linspace frames via cv2,
    ``utils.read_audio`` librosa at 48 kHz, no length cut), batch size 1; the models come from the stage
    ``weights`` files: ``clip.load``'s CPU non-JIT path builds from ``ViT-B-32.pt`` and ``from_pretrained`` the ``clap`` folder in
    place of the hub ids (the only change).
    """
    import clip  # type: ignore[import-not-found]  # openai-clip: the reference venv only
    import cv2
    import torch
    from PIL import Image
    from transformers import AutoProcessor, ClapModel

    utils_mod = sys.modules.get("ref_utils") or _load_file("ref_utils", src / "utils.py")
    w = out / "weights"
    prompts = _prompts(out / "gen" / "prompts.csv")
    mp4s = sorted((out / "gen").glob("sample_*.mp4"))
    # clip.load's non-JIT path on CPU, given a plain state dict (openai-clip cannot read one from a file: after
    # its failed torch.jit.load the handle sits at the end of the file).
    model = clip.model.build_model(torch.load(w / "ViT-B-32.pt", map_location="cpu")).to("cpu").float().eval()
    preprocess = clip.clip._transform(model.visual.input_resolution)

    def _frame_transform(frame: Any) -> Any:
        return preprocess(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))

    clip_scores = []
    for mp4, (text, _) in zip(mp4s, prompts, strict=False):
        frames = utils_mod.read_video(str(mp4), 48, mode="linspace", frame_transform=_frame_transform)[None]
        with torch.no_grad():
            tokens = clip.tokenize([text], truncate=True)
            tf = model.encode_text(tokens)
            imf = model.encode_image(frames[0])
            imf /= imf.norm(dim=-1, keepdim=True)
            tf /= tf.norm(dim=-1, keepdim=True)
            clip_scores.append((imf @ tf.T).mean().item())
    clap = ClapModel.from_pretrained(str(w / "clap")).eval()
    processor = AutoProcessor.from_pretrained(str(w / "clap"))
    cos = torch.nn.CosineSimilarity(dim=1, eps=1e-6)
    clap_scores = []
    for mp4, (_, audio_text) in zip(mp4s, prompts, strict=False):
        audio = torch.from_numpy(utils_mod.read_audio(str(mp4.with_suffix(".wav")), 48000, None, True))[None]
        with torch.no_grad():
            inputs = processor(
                text=audio_text,
                audios=audio[0].squeeze(),
                return_tensors="pt",
                padding=True,
                sampling_rate=48000,
            )
            o = clap(**inputs)
            clap_scores.append(cos(o.text_embeds, o.audio_embeds).mean().item())
    return {
        "clip_score": sum(clip_scores) / len(clip_scores),
        "clip_score_per_sample": clip_scores,
        "clap_score": sum(clap_scores) / len(clap_scores),
        "clap_score_per_sample": clap_scores,
    }


def _stub(name: str) -> None:
    """An importable placeholder for a reference dependency the compared keys never call (any attribute is a
    class that fails when used)."""
    module = types.ModuleType(name)
    module.__path__ = []  # type: ignore[attr-defined]

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return type(attr, (), {"__init__": lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError(name))})

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module


def _reference_metrics(src: Path) -> types.ModuleType:
    """The reference's ``metrics.py`` as package ``refsrc``, with the model stacks of the keys not compared in a
    run (ImageBind/pytorchvideo, AudioCLIP, VideoAlign, audiobox_aesthetics) replaced by placeholders."""
    package = types.ModuleType("refsrc")
    package.__path__ = [str(src)]  # type: ignore[attr-defined]
    sys.modules["refsrc"] = package
    have_audiobox = importlib.util.find_spec("audiobox_aesthetics") is not None
    for name in (
        "refsrc.AudioCLIP",
        "refsrc.AudioCLIP.get_embedding",
        "refsrc.VideoAlign",
        "refsrc.VideoAlign.inference",
        "refsrc.VideoAlign.prompt_template",
        "refsrc.VideoAlign.vision_process",
        "refsrc.ImageBind",
        "refsrc.ImageBind.imagebind",
        "refsrc.ImageBind.imagebind.data",
        "refsrc.ImageBind.imagebind.models",
        "refsrc.ImageBind.imagebind.models.imagebind_model",
        "audiobox_aesthetics",
        "audiobox_aesthetics.infer",
        "pytorchvideo",
        "pytorchvideo.transforms",
        "pytorchvideo.data",
        "pytorchvideo.data.clip_sampling",
    ):
        if not (have_audiobox and name.startswith("audiobox_aesthetics")):
            _stub(name)
    import importlib as _il

    return _il.import_module("refsrc.metrics")


def reference_desync(out: Path, src: Path, limit: int) -> dict[str, Any]:
    """desync per sample from the reference's own ``calc_desync_score`` (4 s as the official command, batch 8), given the
    stage ``sync-weights`` checkpoint as its ``syncformer_ckpt_path``, on the first `limit` clips.

    It is called under ``torch.no_grad()``: the reference function itself records autograd graphs (no no_grad of
    its own), which at full size on CPU runs out of memory; grad mode does not change forward values.
    """
    import torch

    metrics = _reference_metrics(src)
    mp4s = sorted((out / "gen").glob("sample_*.mp4"))[:limit]
    with torch.no_grad():
        scores = metrics.calc_desync_score(
            [str(m) for m in mp4s],
            [str(m.with_suffix(".wav")) for m in mp4s],
            max_length_s=MAX_AUDIO_LEN_S,
            device="cpu",
            syncformer_ckpt_path=str(out / "weights" / "synchformer_state_dict.pth"),
        )
    per = [float(x) for x in scores]
    return {"desync": sum(per) / len(per), "desync_per_sample": per}


def stage_aes_weights(out: Path, seed: int) -> None:
    """Full-size random Audiobox Aesthetics saved as the upstream ``checkpoint.pt`` (``state_dict`` with ``model.``
    prefixes, ``model_cfg``, ``target_transform``), which both sides read."""
    import torch

    from omninft.reward_servers.models.audiobox import config as cfgmod
    from omninft.reward_servers.models.audiobox.keys import local_to_official
    from omninft.reward_servers.models.audiobox.model import build

    cfg = cfgmod.official()
    model = build(cfg, seed)
    ckpt_cfg = cfgmod.to_checkpoint_config(cfg)
    sd = {"model." + k: v for k, v in local_to_official(model.state_dict()).items()}
    (out / "weights").mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": sd, "model_cfg": ckpt_cfg, "target_transform": ckpt_cfg["target_transform"]},
        out / "weights" / "audiobox_checkpoint.pt",
    )
    print("wrote", out / "weights" / "audiobox_checkpoint.pt")


def reference_audio_quality(out: Path, src: Path, limit: int | None = None) -> dict[str, Any]:
    """audio_quality per sample from the reference's own ``calc_audio_quality_score`` (4 s as the official
    command, batch 8, torchaudio reader), its ``initialize_predictor()`` given the stage ``aes-weights``
    checkpoint instead of the HF hub id; the first `limit` samples (default all)."""
    metrics = _reference_metrics(src)
    from audiobox_aesthetics.infer import initialize_predictor  # type: ignore[import-not-found]  # reference venv

    ckpt = str(out / "weights" / "audiobox_checkpoint.pt")
    metrics.initialize_audio_aes_predictor = lambda: initialize_predictor(ckpt)  # type: ignore[attr-defined]
    wavs = [str(m) for m in sorted((out / "gen").glob("sample_*.wav"))][:limit]
    per = [
        float(x)
        for x in metrics.calc_audio_quality_score(wavs, [""] * len(wavs), MAX_AUDIO_LEN_S, device="cpu")
    ]
    return {"audio_quality": sum(per) / len(per), "audio_quality_per_sample": per}


def stage_reference(out: Path, reference: Path, groups: list[str], limit: int) -> None:
    """Reference values for the chosen groups, merged into reference.json: "set" (fvd/kvd/fad/av_align), "clipclap"."""
    import torch

    src = reference / "eval" / "javisbench" / "src"
    path = out / "reference.json"
    values: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if "clipclap" in groups:
        values.update(reference_clip_clap(out, src))
    if "desync" in groups:
        values.update(reference_desync(out, src, limit))
    if "audio_quality" in groups:
        values.update(reference_audio_quality(out, src))
    values.update(ib_parity.reference_values(out, reference, groups, limit, _stub))
    if "set" not in groups:
        path.write_text(json.dumps(values, indent=1) + "\n")
        print(json.dumps(values, indent=1))
        return
    fvd_mod = _load_file("ref_fvd", src / "fvd" / "fvd.py")
    utils_mod = _load_file("ref_utils", src / "utils.py")
    av_mod = _load_file("ref_av_align", src / "av_align.py")
    fake = torch.load(out / "gen-features.pt")
    real = torch.load(out / "gt-features.pt")
    fv, rv = fake["video"].clone().float(), real["video"].clone().float()
    fa, ra = fake["audio"].clone().float(), real["audio"].clone().float()
    # the order of calc_fvd_kvd_fad_direct: FVD (centres fv/rv in place), then KVD on the same tensors, then FAD
    values["fvd"] = fvd_mod.frechet_distance(fv, rv).item()
    values["kvd"] = float(utils_mod.polynomial_mmd(fv.cpu().numpy(), rv.cpu().numpy()))
    values["fad"] = fvd_mod.frechet_distance(fa, ra).item() * 10000
    scores = []
    for mp4 in sorted((out / "gen").glob("sample_*.mp4")):
        audio_peaks = av_mod.detect_audio_peaks(str(mp4.with_suffix(".wav")), max_length_s=None)
        frames, fps = av_mod.extract_frames(str(mp4), None, max_length_s=None)
        _, video_peaks = av_mod.detect_video_peaks(frames, fps, use_tqdm=False)
        scores.append(float(av_mod.calc_intersection_over_union(audio_peaks, video_peaks, fps)))
    values["av_align"] = sum(scores) / len(scores)
    values["av_align_per_sample"] = scores
    values["versions"] = {"torch": torch.__version__, "librosa": sys.modules["librosa"].__version__}
    (out / "reference.json").write_text(json.dumps(values, indent=1) + "\n")
    print(json.dumps(values, indent=1))


def stage_table(out: Path) -> str:
    """Markdown rows: key, reference, ours, abs diff, rel diff, protocol, weights (ours from ``ours*/results.json``)."""
    ref = json.loads((out / "reference.json").read_text())
    rows = [
        "| key | reference | ours | abs diff | rel diff | protocol | weights |",
        "|---|---|---|---|---|---|---|",
    ]
    for res in sorted(out.glob("ours*/results.json")):
        doc = json.loads(res.read_text())
        scorers = {s["name"]: s for s in doc["provenance"]["scorers"]}
        routes = {
            "fvd": "i3d",
            "kvd": "i3d",
            "fad": "audioclip",
            "av_align": "av_align",
            "clip_score": "clip",
            "clap_score": "clap",
            "desync": "desync",
            "audio_quality": "audiobox_aesthetics",
            **ib_parity.ROUTES,
        }
        for key, entry in doc["results"].items():
            if key not in ref or key not in routes:
                continue
            ours = float(entry["overall"] if isinstance(entry, dict) else entry)
            theirs = float(ref[key])
            diff = abs(ours - theirs)
            rel = diff / abs(theirs) if theirs else float("inf") if diff else 0.0
            sc = scorers.get(routes[key], {})
            proto = doc.get("protocol", "") if key in SET_KEYS else sc.get("protocol", "")
            rows.append(
                f"| {key} | {theirs:.9g} | {ours:.9g} | {diff:.3g} | {rel:.3g} | {proto} | "
                f"{sc.get('weights_id', '')} |"
            )
    text = "\n".join(rows)
    print(text)
    ib_parity.per_sample_table(out)
    return text


def main(argv: list[str] | None = None) -> int:
    """Dispatch the three stages."""
    args = sys.argv[1:] if argv is None else argv
    extra = _load_file("javisbench_parity_logits", Path(__file__).with_name("javisbench_parity_logits.py"))
    if args and args[0] in extra.STAGES:  # logits-level stages (desync, VideoAlign) live in that module
        return int(extra.main(args))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "stage",
        choices=(
            "ours",
            "weights",
            "sync-weights",
            "aes-weights",
            "ib-data",
            "ib-weights",
            "ib-inputs",
            "reference",
            "table",
        ),
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--weights", default="tiny")
    p.add_argument(
        "--groups",
        default="set",
        help="reference stage: comma list of set, clipclap, desync, audio_quality, imagebind, av, ib-inputs",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=2,
        help="reference stage: clips for desync, imagebind, av (full size is slow)",
    )
    p.add_argument("--seconds", type=float, default=3.0, help="ib-data stage: clip length")
    p.add_argument("--fps", type=float, default=6.0, help="ib-data stage: frame rate")
    p.add_argument("--seed", type=int, default=0, help="weights stage: random-init seed")
    p.add_argument("--bpe", type=Path, help="weights stage: openai-clip's bpe_simple_vocab_16e6.txt.gz")
    p.add_argument(
        "--reference",
        type=Path,
        default=Path(os.environ.get("REF", "")),
        help="JavisDiT checkout (default $REF)",
    )
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.stage == "ours":
        stage_ours(a.out, a.n, a.weights)
    elif a.stage == "reference":
        stage_reference(a.out, a.reference, a.groups.split(","), a.limit)
    elif a.stage == "aes-weights":
        stage_aes_weights(a.out, a.seed)
    elif a.stage == "sync-weights":
        stage_sync_weights(a.out, a.seed)
    elif a.stage == "weights":
        stage_weights(a.out, a.bpe, a.seed)
    elif a.stage == "ib-data":
        ib_parity.stage_ib_data(a.out, a.n, a.seconds, a.fps, a.seed, a.bpe)
    elif a.stage == "ib-weights":
        ib_parity.stage_ib_weights(a.out, a.reference, a.seed)
    elif a.stage == "ib-inputs":
        ib_parity.compare_inputs(a.out, a.bpe)
    else:
        stage_table(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
