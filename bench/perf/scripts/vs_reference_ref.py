"""The reference side of `vs_reference`: one JavisBench metric group through the reference's own functions.

Runs in a throwaway venv holding the reference's requirements (never the project's), one group per process so
that each timing includes the interpreter start and the model load as the reference's ``main.py`` pays them:

    /path/to/refvenv/bin/python bench/perf/scripts/vs_reference_ref.py --ref /path/to/JavisDiT \\
        --work W --group clip_score

``--ref`` is a JavisDiT checkout (``eval/javisbench/src`` is imported by path, never copied into the project).
The working directory must be ``W/refcwd``: the reference reads ``./checkpoints/i3d_pretrained_400.pt``,
``./checkpoints/AudioCLIP-Full-Training.pt`` and ``./checkpoints/imagebind_huge.pth`` from there (the driver
links the random full-size weights in). Hub ids (CLIP, CLAP, Audiobox) are redirected to the files under
``W/weights`` at run time, as ``javisbench_parity.py`` does. Writes ``W/ref-<group>.json`` (values, per-sample
values, seconds spent loading vs computing as far as the reference separates them). Imports nothing from omninft.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import javisbench_parity as parity  # type: ignore[import-not-found]  # noqa: E402  # sibling driver's wrappers

# The official command's arguments (spec: `--max_audio_len_s 4.0`, argparse defaults otherwise).
FVD_KWARGS = {"max_frames": 24, "image_size": 224, "video_fps": 24, "audio_sr": 16000, "max_audio_len_s": 4.0}
AV_SCORE_KWARGS = {"window_size_s": 2.0, "window_overlap_s": 1.5}
# Reference sub-packages each group needs for real; every other heavy stack is a placeholder.
STACKS = {
    "AudioCLIP": ("refsrc.AudioCLIP", "refsrc.AudioCLIP.get_embedding"),
    "VideoAlign": (
        "refsrc.VideoAlign",
        "refsrc.VideoAlign.inference",
        "refsrc.VideoAlign.prompt_template",
        "refsrc.VideoAlign.vision_process",
    ),
    "ImageBind": (
        "refsrc.ImageBind",
        "refsrc.ImageBind.imagebind",
        "refsrc.ImageBind.imagebind.data",
        "refsrc.ImageBind.imagebind.models",
        "refsrc.ImageBind.imagebind.models.imagebind_model",
        "pytorchvideo",
        "pytorchvideo.transforms",
        "pytorchvideo.data",
        "pytorchvideo.data.clip_sampling",
    ),
}
NEEDS = {"fvd": {"AudioCLIP"}, "imagebind": {"ImageBind"}, "avh": {"ImageBind"}}


def reference_metrics(src: Path, real: set[str]) -> types.ModuleType:
    """The reference's ``metrics.py`` as package ``refsrc`` with the stacks outside `real` as placeholders."""
    if "ImageBind" in real:  # pytorchvideo at the pinned commit imports the pre-0.17 torchvision name
        ft = importlib.import_module("torchvision.transforms._functional_tensor")
        sys.modules.setdefault("torchvision.transforms.functional_tensor", ft)
    package = types.ModuleType("refsrc")
    package.__path__ = [str(src)]  # type: ignore[attr-defined]
    sys.modules["refsrc"] = package
    for stack, names in STACKS.items():
        if stack not in real:
            for name in names:
                parity._stub(name)
    if importlib.util.find_spec("audiobox_aesthetics") is None:
        parity._stub("audiobox_aesthetics")
        parity._stub("audiobox_aesthetics.infer")
    return importlib.import_module("refsrc.metrics")


def _rows(work: Path, n: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """(mp4s, wavs, prompts, audio prompts) of the first n rows of W/gen."""
    with (work / "gen" / "prompts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    mp4s = [str(work / "gen" / f"sample_{i:04d}.mp4") for i in range(len(rows))]
    wavs = [m[: -len(".mp4")] + ".wav" for m in mp4s]
    texts = [r["text"] for r in rows]
    audio_texts = [(r.get("audio_text") or "").strip() or r["text"] for r in rows]
    return mp4s, wavs, texts, audio_texts


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def run_group(group: str, work: Path, src: Path, n: int) -> dict[str, Any]:
    """Values of one group from the reference's own functions (device cpu)."""
    import torch

    mp4s, wavs, texts, audio_texts = _rows(work, n)
    w = work / "weights"
    metrics = reference_metrics(src, NEEDS.get(group, set()))
    out: dict[str, Any] = {}
    if group == "fvd":
        gt = work / "gt"
        gt_mp4s = [str(gt / Path(m).name) for m in mp4s]
        gt_wavs = [str(gt / Path(x).name) for x in wavs]
        fvd, kvd, fad, _ = metrics.calc_fvd_kvd_fad(
            gt_mp4s, mp4s, gt_wavs, wavs, device="cpu", mode="vanilla", **FVD_KWARGS
        )
        out = {"fvd": fvd, "kvd": kvd, "fad": fad}
    elif group == "imagebind":
        tv, ta, av = metrics.calc_imagebind_score(mp4s, wavs, texts, audio_texts, device="cpu")
        out = {"ib_tv": tv.mean().item(), "ib_ta": ta.mean().item(), "ib_av": av.mean().item()}
    elif group == "avh":
        avh, javis = metrics.calc_av_score(mp4s, wavs, texts, device="cpu", **AV_SCORE_KWARGS)
        out = {"avh_score": avh.mean().item(), "javis_score": javis.mean().item()}
    elif group == "desync":
        out = parity.reference_desync(work, src, n)
    elif group == "audio_quality":
        out = parity.reference_audio_quality(work, src, n)
    elif group == "clip_score":
        import clip  # type: ignore[import-not-found]  # openai-clip: the reference venv only

        def _load(name: str, device: str = "cpu", **_: Any) -> tuple[Any, Any]:
            # clip.load's CPU non-JIT path on the stage `weights` state dict (see javisbench_parity).
            model = clip.model.build_model(torch.load(w / "ViT-B-32.pt", map_location="cpu"))
            model = model.to(device).float().eval()
            return model, clip.clip._transform(model.visual.input_resolution)

        metrics.clip.load = _load
        per = [float(x) for x in metrics.calc_clip_score(mp4s, texts, device="cpu")]
        out = {"clip_score": _mean(per), "clip_score_per_sample": per}
    elif group == "clap_score":
        from transformers import AutoProcessor, ClapModel

        class _Clap:
            @staticmethod
            def from_pretrained(_: str, **kw: Any) -> Any:
                return ClapModel.from_pretrained(str(w / "clap"), **kw)

        class _Processor:
            @staticmethod
            def from_pretrained(_: str, **kw: Any) -> Any:
                return AutoProcessor.from_pretrained(str(w / "clap"), **kw)

        setattr(metrics, "ClapModel", _Clap)  # noqa: B010  # a module attribute the reference reads
        setattr(metrics, "AutoProcessor", _Processor)  # noqa: B010
        per = [float(x) for x in metrics.calc_clap_score(wavs, audio_texts, device="cpu")]
        out = {"clap_score": _mean(per), "clap_score_per_sample": per}
    elif group == "av_align":
        per = [float(x) for x in metrics.calc_av_align(mp4s, wavs)]
        out = {"av_align": _mean(per), "av_align_per_sample": per}
    else:
        raise SystemExit(f"unknown group {group!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run one group, write W/ref-<group>.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=Path, required=True, help="JavisDiT checkout (holds eval/javisbench/src)")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--n", type=int, required=True)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    import torch

    t_import = time.perf_counter() - t0
    src = a.ref / "eval" / "javisbench" / "src"
    # As written (calc_clap_score records autograd graphs); desync alone runs under no_grad (reference_desync:
    # the full-size graph does not fit in memory).
    values = run_group(a.group, a.work, src, a.n)
    doc = {
        "group": a.group,
        "n": a.n,
        "values": values,
        "torch_import_s": round(t_import, 3),
        "in_process_s": round(time.perf_counter() - t0, 3),
        "versions": {"torch": torch.__version__, "python": sys.version.split()[0]},
    }
    (a.work / f"ref-{a.group}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
