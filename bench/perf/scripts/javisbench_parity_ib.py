"""ImageBind part of the JavisBench parity driver (`javisbench_parity.py`): ib_tv, ib_ta, ib_av, avh_score, javis_score.

Stages (subcommands of the driver):

- ``ib-data`` (project venv): a small generated set in ``DIR/gen`` (e.g. ``--n 2``: clips of 3 s at 6 fps, so
  JavisScore has 3 windows of 12 frames, not only the single-window case of clips of 2 s or less) and
  ``DIR/ib.yaml``, the embedded config naming the weights file and the BPE vocabulary for both ImageBind scorers.
- ``ib-weights`` (reference venv, ``$REF`` set): full-size random ImageBind-Huge written once as
  ``DIR/checkpoints/imagebind_huge.pth``, the state dict of the reference's own ``imagebind_huge()`` (all six
  modalities, the official key layout its ``load_state_dict`` reads strictly) after ``torch.manual_seed(seed)``.
  Our loader reads the same file (vision/text/audio entries, strict; depth/thermal/IMU dropped).
- ``reference --groups imagebind,av`` (reference venv): the reference's own ``calc_imagebind_score`` (ib_*) and
  ``calc_av_score`` (avh_score, javis_score, with the 2.0 s / 1.5 s windows that ``main.py`` passes), run with
  the working directory at ``DIR`` so that its hard-coded ``./checkpoints/imagebind_huge.pth`` is that file.
  Run-time shims only (the reference source is never edited): ``torchvision.transforms.functional_tensor`` is
  aliased to ``_functional_tensor`` (pytorchvideo imports the old name), and three memory shims that leave values
  unchanged (``_light_reference``: checkpoint memory-mapped and assigned, data loaded without worker processes).

Then ``omninft-bench run javisbench --metrics ib_tv,ib_ta,ib_av,avh_score,javis_score --embedded-config
DIR/ib.yaml --out DIR/ours-ib`` and ``table`` (which also prints the per-sample maxima).
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

IB_KEYS = ("ib_tv", "ib_ta", "ib_av")
AV_KEYS = ("avh_score", "javis_score")
ROUTES = {**{k: "imagebind" for k in IB_KEYS}, **{k: "imagebind_avh" for k in AV_KEYS}}
# main.py passes these to calc_av_score (its function defaults are 0.5 s / 0 s)
WINDOW_S = 2.0
OVERLAP_S = 1.5
CHECKPOINT = Path("checkpoints") / "imagebind_huge.pth"


def stage_ib_data(out: Path, n: int, seconds: float, fps: float, seed: int, bpe: Path) -> None:
    """The generated set ``gen`` and the embedded config ``ib.yaml`` of our run."""
    from omninft.bench.demo_data import write_demo_set

    csv_path = write_demo_set(out / "gen", n=n, seconds=seconds, height=96, width=128, fps=fps, seed=seed)
    weights = (out / CHECKPOINT).resolve()
    block = (
        f"    weights: {weights}\n    options:\n      architecture: huge\n      tokenizer: {bpe.resolve()}\n"
    )
    # no warm-up sample: at full size on a shared CPU it outlasts the embedded server's startup timeout
    (out / "ib.yaml").write_text(f"warmup: false\nscorers:\n  imagebind:\n{block}  imagebind_avh:\n{block}")
    print("wrote", csv_path, "and", out / "ib.yaml")


def _imagebind_src(reference: Path) -> Path:
    return reference / "eval" / "javisbench" / "src"


def _alias_functional_tensor() -> None:
    """pytorchvideo at the pinned commit imports torchvision.transforms.functional_tensor (now _functional_tensor)."""
    # reference venv only (torchvision is never imported by the project's own code)
    ft = importlib.import_module("torchvision.transforms._functional_tensor")
    sys.modules.setdefault("torchvision.transforms.functional_tensor", ft)


def stage_ib_weights(out: Path, reference: Path, seed: int) -> None:
    """Random full-size ImageBind-Huge from the reference's own constructor, saved as its checkpoint file."""
    import torch

    _alias_functional_tensor()
    sys.path.insert(0, str(_imagebind_src(reference) / "ImageBind"))
    imagebind_model = importlib.import_module(
        "imagebind.models.imagebind_model"
    )  # the reference's vendored copy

    torch.manual_seed(seed)
    model = imagebind_model.imagebind_huge(pretrained=False).eval()
    path = out / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    n = sum(v.numel() for v in model.state_dict().values())
    print(f"wrote {path}: {n / 1e9:.3f} B values (seed {seed})")


def _reference_metrics(src: Path, stub: Callable[[str], None]) -> types.ModuleType:
    """The reference's ``metrics.py`` as package ``refsrc`` with its real ImageBind and pytorchvideo; the stacks of
    keys not compared here (AudioCLIP, VideoAlign, audiobox_aesthetics when absent) are placeholders."""
    import importlib
    import importlib.util

    _alias_functional_tensor()
    package = types.ModuleType("refsrc")
    package.__path__ = [str(src)]  # type: ignore[attr-defined]
    sys.modules["refsrc"] = package
    names = [
        "refsrc.AudioCLIP",
        "refsrc.AudioCLIP.get_embedding",
        "refsrc.VideoAlign",
        "refsrc.VideoAlign.inference",
        "refsrc.VideoAlign.prompt_template",
        "refsrc.VideoAlign.vision_process",
    ]
    if importlib.util.find_spec("audiobox_aesthetics") is None:
        names += ["audiobox_aesthetics", "audiobox_aesthetics.infer"]
    for name in names:
        stub(name)
    return importlib.import_module("refsrc.metrics")


@contextlib.contextmanager
def _light_reference(metrics: types.ModuleType) -> Iterator[None]:
    """Memory shims for the reference run on a shared CPU machine (values unchanged).

    ``torch.load`` gets ``mmap=True`` and ImageBind's ``load_state_dict`` ``assign=True``, so the 4.5 GB checkpoint
    is not held twice (the random-init parameters are replaced by the file's tensors instead of copied into);
    ``create_dataloader`` gets ``num_workers=0`` (its default of 8 forked workers each decode and transform in their
    own memory; the transforms are the same in the main process).
    """
    import functools

    import torch

    model_cls = metrics.imagebind_model.ImageBindModel
    saved = (torch.load, model_cls.load_state_dict, metrics.create_dataloader)

    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("mmap", True)
        return saved[0](*args, **kwargs)

    def load_state_dict(self: Any, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        return saved[1](self, state_dict, strict=strict, assign=True)

    torch.load = load  # type: ignore[assignment]
    model_cls.load_state_dict = load_state_dict
    metrics.create_dataloader = functools.partial(saved[2], num_workers=0)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.load = saved[0]  # type: ignore[assignment]
        model_cls.load_state_dict = saved[1]
        metrics.create_dataloader = saved[2]  # type: ignore[attr-defined]


def _rows(out: Path, limit: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """(mp4 paths, wav paths, prompts, audio prompts) of the first `limit` samples of ``gen``."""
    with (out / "gen" / "prompts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    mp4s = sorted((out / "gen").glob("sample_*.mp4"))[:limit]
    texts = [r["text"] for r in rows]
    audio_texts = [(r.get("audio_text") or "").strip() or r["text"] for r in rows]
    return [str(m) for m in mp4s], [str(m.with_suffix(".wav")) for m in mp4s], texts, audio_texts


def reference_values(
    out: Path, reference: Path, groups: list[str], limit: int, stub: Callable[[str], None]
) -> dict[str, Any]:
    """Reference values of the groups ``imagebind`` (ib_tv/ta/av) and ``av`` (avh_score, javis_score)."""
    if "ib-inputs" in groups:
        reference_inputs(out, reference, limit, stub)
    if not {"imagebind", "av"} & set(groups):
        return {}
    import torch

    src = _imagebind_src(reference)
    if not (out / CHECKPOINT).is_file():
        raise SystemExit(f"{out / CHECKPOINT} missing: run the ib-weights stage first")
    videos, audios, texts, audio_texts = _rows(out.resolve(), limit)
    metrics = _reference_metrics(src, stub)
    values: dict[str, Any] = {}
    cwd = Path.cwd()
    os.chdir(out)  # imagebind_huge(pretrained=True) reads ./checkpoints/imagebind_huge.pth
    try:
        with _light_reference(metrics):
            if "imagebind" in groups:
                tv, ta, av = metrics.calc_imagebind_score(videos, audios, texts, audio_texts, device="cpu")
                for key, t in zip(IB_KEYS, (tv, ta, av), strict=True):
                    values[key] = t.mean().item()
                    values[f"{key}_per_sample"] = [float(x) for x in t]
            if "av" in groups:
                avh, javis = metrics.calc_av_score(
                    videos, audios, texts, device="cpu", window_size_s=WINDOW_S, window_overlap_s=OVERLAP_S
                )
                for key, t in zip(AV_KEYS, (avh, javis), strict=True):
                    values[key] = t.mean().item()
                    values[f"{key}_per_sample"] = [float(x) for x in t]
    finally:
        os.chdir(cwd)
    values["imagebind_versions"] = {
        "torch": torch.__version__,
        "pytorchvideo": sys.modules["pytorchvideo"].__version__,
        "n_clips": len(videos),
    }
    return values


def per_sample_table(out: Path) -> str:
    """Markdown rows: key, n clips, per-sample max abs and max rel difference (ours from ``ours*/results.json``)."""
    ref = json.loads((out / "reference.json").read_text())
    rows = ["| key | n clips | per-sample max abs diff | per-sample max rel diff |", "|---|---|---|---|"]
    for res in sorted(out.glob("ours*/results.json")):
        results = json.loads(res.read_text())["results"]
        for key in (*IB_KEYS, *AV_KEYS):
            theirs = ref.get(f"{key}_per_sample")
            entry = results.get(key)
            if theirs is None or not isinstance(entry, dict):
                continue
            ours = [float(x) for x in entry["all"]][: len(theirs)]
            diffs = [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
            rels = [
                d / abs(b) if b else float("inf") if d else 0.0 for d, b in zip(diffs, theirs, strict=True)
            ]
            rows.append(f"| {key} | {len(diffs)} | {max(diffs):.3g} | {max(rels):.3g} |")
    text = "\n".join(rows)
    print(text)
    return text


# ------------------------------------------------------------------------- input-level check (no model run)


def reference_inputs(out: Path, reference: Path, limit: int, stub: Callable[[str], None]) -> None:
    """``reference --groups ib-inputs``: the tensors the reference's ImageBindDataset and AVScoreDataset hand to the
    model (text ids, 15 video clips, 3 fbank clips; AVH frames, whole-audio and window fbank clips, window frame
    indices), saved as ``DIR/ref-inputs.pt``. Cheap: no model is built."""
    import torch

    videos, audios, texts, audio_texts = _rows(out.resolve(), limit)
    metrics = _reference_metrics(_imagebind_src(reference), stub)
    ds_mod = sys.modules["refsrc.dataset"]
    ib_ds = ds_mod.ImageBindDataset(videos, audios, texts, audio_texts)
    av_ds = ds_mod.AVScoreDataset(videos, audios, texts, 16000, WINDOW_S, OVERLAP_S)
    mt = metrics.ModalityType
    saved = []
    for i in range(len(videos)):
        ib_in = ib_ds[i]
        avh_in, javis_in, idx = av_ds[i]
        saved.append(
            {
                "text": ib_in[mt.TEXT],
                "video": ib_in[mt.VISION],
                "audio": ib_in[mt.AUDIO],
                "avh_frames": avh_in[mt.VISION],
                "avh_audio": avh_in[mt.AUDIO][0],
                "javis_audio": javis_in[mt.AUDIO],
                "javis_frames": idx,
            }
        )
    torch.save(saved, out / "ref-inputs.pt")
    print("wrote", out / "ref-inputs.pt")


def compare_inputs(out: Path, bpe: Path) -> str:
    """``ib-inputs`` (project venv): our scorers' preprocess on the same files (PyAV/soundfile decode as the
    server), against ``ref-inputs.pt``; prints max abs difference per tensor and sample."""
    import numpy as np
    import torch

    from omninft.reward_servers.functional.image import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, to_normalized_chw
    from omninft.reward_servers.media import DecodedSample, decode_audio, decode_video
    from omninft.reward_servers.models.imagebind import load_tokenizer
    from omninft.reward_servers.scorers import imagebind as sc

    ref = torch.load(out / "ref-inputs.pt", weights_only=False)
    videos, audios, texts, audio_texts = _rows(out.resolve(), len(ref))
    tok = load_tokenizer(str(bpe))
    ib_scorer = sc.ImageBindScorer.__new__(sc.ImageBindScorer)  # preprocess needs no backend
    avh = sc.ImageBindAvhScorer.__new__(sc.ImageBindAvhScorer)
    opts = sc.ImageBindOptions()
    avh.window_s, avh.overlap_s, avh.topk_fraction, avh.pass_order = (
        opts.window_s,
        opts.overlap_s,
        opts.topk_min,
        opts.pillow_pass_order,
    )
    rows = ["| sample | tensor | shape | max abs diff |", "|---|---|---|---|"]
    for i, r in enumerate(ref):
        sample = DecodedSample(
            id=str(i),
            prompt=texts[i],
            audio_prompt=audio_texts[i],
            video=decode_video(videos[i], max_frames=100_000, max_pixels=1 << 30),
            audio=decode_audio(audios[i], max_seconds=3600.0),
        )
        it = ib_scorer.preprocess(sample)
        av = avh.preprocess(sample)
        ours = {
            "text": tok([it.text, it.audio_text]),
            "video": it.video,
            "audio": it.audio,
            "avh_frames": to_normalized_chw(av.frames, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
            "avh_audio": av.audio,
            "javis_audio": av.window_audio,
            "javis_frames": av.window_frames,
        }
        for key, theirs in r.items():
            a, b = np.asarray(ours[key]), theirs.numpy()
            if a.shape != b.shape:
                rows.append(f"| {i} | {key} | ours {a.shape} vs {tuple(b.shape)} | shape differs |")
                continue
            d = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
            rows.append(f"| {i} | {key} | {tuple(b.shape)} | {d:.3g} |")
    text = "\n".join(rows)
    print(text)
    return text
