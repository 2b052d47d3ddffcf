"""What the VBench Quality scorers share: the per-video Scorer shape, frame checks, and once-per-server models.

VBench scores each video on its own (one RAFT pair, one AMT interpolation, one CLIP frame at a time in the
reference), so these scorers batch nothing across videos: `forward` runs the model work of each item in turn on
the device thread, and a video's numbers never depend on which other videos share its batch (batch_rtol 0).
A video the dimension cannot use fails alone (`InvalidSample`, INVALID_ARGUMENT on the wire, with the reason).

Models read by several scorers load once per server through `_shared.shared_load` (RAFT for dynamic_degree and
the static filter; CLIP ViT-B/32 for background_consistency and, in part 2, appearance_style).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers.base import (
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    ScorerOutput,
    WeightsInfo,
)

logger = logging.getLogger(__name__)

# The reference is VBench at this commit (specs/vbench.md); every scorer's default protocol reproduces it.
PROTOCOL = "vbench-v1"
TORCH_ONLY = ("torch",)


@dataclass(frozen=True)
class VideoItem:
    """One preprocessed video: uint8 frames (T, H, W, 3), its frame rate, and any CPU-side tensors."""

    frames: np.ndarray
    fps: float
    extra: Any = None


def video_frames(sample: DecodedSample, scorer: str, min_frames: int) -> tuple[np.ndarray, float]:
    """The sample's uint8 (T, H, W, 3) frames and fps; InvalidSample when absent, empty or shorter than min_frames."""
    if sample.video is None:
        raise InvalidSample(f"{scorer} needs a video; the sample has none")
    frames = np.asarray(sample.video.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InvalidSample(
            f"{scorer}: expected uint8 frames T x H x W x 3, got {frames.dtype} {frames.shape}"
        )
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise InvalidSample(f"{scorer}: the video has no frames (shape {frames.shape})")
    if frames.shape[0] < min_frames:
        raise InvalidSample(f"{scorer} needs at least {min_frames} frames, the video has {frames.shape[0]}")
    return frames, float(sample.video.fps)


def require_torch_backend(name: str, cfg: ScorerConfig) -> None:
    """These scorers run their models per frame pair in torch; other backends are refused by name."""
    if cfg.backend not in TORCH_ONLY:
        raise ValueError(
            f"{name} runs on the torch backend only (per-pair model calls, as the reference); "
            f"got backend {cfg.backend!r}"
        )


def weights_info(ident: Any) -> WeightsInfo:
    """WeightsInfo of a family loader's WeightsIdentity."""
    return WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def warn_tiny(name: str, family: str, info: WeightsInfo) -> None:
    """Say loudly that tiny/random weights are in use (the numbers mean nothing)."""
    if info.tiny:
        logger.warning("scorer %s runs TINY RANDOM %s weights (%s)", name, family, info.weights_id)


def _device_model(module: Any, device: str) -> Any:
    return module.to(device).eval()


def shared_raft(cfg: ScorerConfig) -> tuple[Any, WeightsInfo]:
    """RAFT-things (or tiny/random) on cfg.device, loaded once per server for every scorer with these weights."""

    def load() -> tuple[Any, WeightsInfo]:
        from omninft.reward_servers.models import raft

        model, ident = raft.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
        return _device_model(model, cfg.device), weights_info(ident)

    return shared_load(("vbench-raft", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None), load)


def shared_amt(cfg: ScorerConfig) -> tuple[Any, WeightsInfo]:
    """AMT-S (or tiny/random) on cfg.device, loaded once per server."""

    def load() -> tuple[Any, WeightsInfo]:
        from omninft.reward_servers.models import amt

        model, ident = amt.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
        return _device_model(model, cfg.device), weights_info(ident)

    return shared_load(("vbench-amt", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None), load)


# Protocols of the scorers whose reference runs OpenAI `clip` (background_consistency, aesthetic_quality): `clip.load`
# keeps the model in fp16 on CUDA and casts it to fp32 on CPU. "vbench-v1" reproduces that (fp16 on a GPU, fp32
# on a CPU); "vbench-v1-fp32" runs fp32 everywhere.
CLIP_PROTOCOLS = (PROTOCOL, "vbench-v1-fp32")


def clip_precision(protocol: str, device: str) -> str:
    """ "fp16" where the reference's OpenAI clip would run fp16 (CUDA under "vbench-v1"), else "fp32"."""
    return "fp16" if protocol == PROTOCOL and device.startswith("cuda") else "fp32"


def load_openai_or_hf_clip(weights: str, seed: int, arch: str, cache_dir: str | None) -> tuple[Any, Any]:
    """A CLIPModel and its identity: OpenAI's `.pt` file (the one VBench's `clip.load` reads) for "official" or a
    `.pt` path, else the clip family's loader (HF id / tiny / random) for ViT-B/32, or OpenAI's file for ViT-L/14."""
    from omninft.reward_servers.models import clip

    if arch == "ViT-B/32" and weights != "official" and not weights.endswith(".pt"):
        model, _tokenizer, ident = clip.load(weights, seed, cache_dir=cache_dir)
        return model, ident
    return clip.load_openai(weights, seed, arch=arch, cache_dir=cache_dir)


def shared_clip_b32_model(cfg: ScorerConfig, precision: str) -> tuple[Any, Any, WeightsInfo]:
    """The whole CLIP ViT-B/32 CLIPModel on cfg.device in `precision`, its HF tokenizer (None for OpenAI's `.pt`
    file, "official" included, which has none) and weights; loaded once per server for background_consistency and
    appearance_style."""

    def load() -> tuple[Any, Any, WeightsInfo]:
        from omninft.reward_servers.models import clip

        tokenizer = None
        if cfg.weights == "official" or cfg.weights.endswith(".pt"):  # the file VBench's clip.load reads
            model, ident = clip.load_openai(
                cfg.weights, cfg.seed, arch="ViT-B/32", cache_dir=cfg.weights_dir or None
            )
        else:
            model, tokenizer, ident = clip.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
        clip.set_precision(model, precision)
        return _device_model(model, cfg.device), tokenizer, weights_info(ident)

    key = ("vbench-clip-b32-model", cfg.weights, cfg.seed, cfg.device, precision, cfg.weights_dir or None)
    return shared_load(key, load)


def shared_clip_b32(cfg: ScorerConfig, precision: str) -> tuple[Any, int, WeightsInfo]:
    """CLIP ViT-B/32's image tower + projection (ClipImageCore), its input size, and weights; loaded once."""

    def load() -> tuple[Any, int, WeightsInfo]:
        from omninft.reward_servers.models import clip

        model, _tokenizer, winfo = shared_clip_b32_model(cfg, precision)
        core = clip.ClipImageCore(model)
        return _device_model(core, cfg.device), int(model.config.vision_config.image_size), winfo

    key = ("vbench-clip-b32", cfg.weights, cfg.seed, cfg.device, precision, cfg.weights_dir or None)
    return shared_load(key, load)


class PerVideoScorer:
    """A VBench dimension computed video by video: `prepare` (CPU, per sample) then `compute` (model, per item).

    `compute(item)` returns the scores (or, for `embed=True`, float64 embeddings) of one video; a ValueError it
    raises fails that video alone with the message.
    """

    def __init__(
        self,
        info: ScorerInfo,
        *,
        min_frames: int,
        compute: Callable[[VideoItem], dict[str, Any]],
        prepare: Callable[[np.ndarray, float], Any] | None = None,
        embed: bool = False,
    ) -> None:
        self.info = info
        self.min_frames = min_frames
        self.compute = compute
        self.prepare = prepare
        self.embed = embed

    def preprocess(self, sample: DecodedSample) -> VideoItem:
        """Check the video (frames, length) and run the CPU-side preparation."""
        frames, fps = video_frames(sample, self.info.name, self.min_frames)
        try:
            extra = self.prepare(frames, fps) if self.prepare is not None else None
        except ValueError as err:
            raise InvalidSample(f"{self.info.name}: {err}") from None
        return VideoItem(frames, fps, extra)

    def forward(self, items: Sequence[VideoItem]) -> list[Any]:
        """Each video on its own, in order (a failing video becomes its own InvalidSample)."""
        out: list[Any] = []
        for item in items:
            try:
                out.append(self.compute(item))
            except ValueError as err:
                out.append(InvalidSample(f"{self.info.name}: {err}"))
        return out

    def postprocess(self, output: dict[str, Any]) -> ScorerOutput:
        """Named scores, or float64 embeddings (the reference's Python floats survive the wire)."""
        if self.embed:
            return ScorerOutput(embeddings={k: np.asarray(v, dtype=np.float64) for k, v in output.items()})
        return ScorerOutput(scores={k: float(v) for k, v in output.items()})

    def warmup_sample(self) -> DecodedSample:
        """Nine 128x144 frames of a disc drifting over a gradient (every dimension can score it)."""
        return warmup_video()


def warmup_video(num_frames: int = 9, height: int = 128, width: int = 144) -> DecodedSample:
    """A small deterministic clip: a bright disc moving right over a colour gradient, 8 fps."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for k in range(num_frames):
        base = np.stack([(x * 4) % 256, (y * 5) % 256, np.full_like(x, 90)], axis=-1).astype(np.float32)
        disc = (x - (20 + 4 * k)) ** 2 + (y - height // 2) ** 2 < 225
        base[disc] = (250.0, 240.0, 30.0)
        frames.append(base.astype(np.uint8))
    return DecodedSample(
        id="warmup", prompt="a yellow disc moving right", video=DecodedVideo(np.stack(frames), fps=8.0)
    )
