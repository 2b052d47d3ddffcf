"""`i3d`: I3D Kinetics-400 logits for JavisBench's set-level FVD and KVD (Embed only; no per-sample score).

Protocol "javisbench-v1" (specs/javisbench.md §6.1): `max_frames` (option, default 24; the 2025 README used 16)
frames at round(linspace(0, T-1, max_frames)) over the whole clip -> ResizeAndPad(224) letterbox -> the
dataset's [0,1]-as-[-1,1] uint8 quirk -> fvd.preprocess (I3D sees about [0, 1]) -> InceptionI3d -> logits
averaged over time: one 400-d float32 vector per clip, embedding "i3d". FVD/KVD are computed by the client
over a whole set (e.g. against JavisBench's cached ground-truth features); a clip alone has no score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.i3d_frames import (
    I3D_IMAGE_SIZE,
    I3D_MAX_FRAMES,
    I3D_MIN_FRAMES,
    i3d_clip_input,
)
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import i3d as i3d_model
from omninft.reward_servers.scorers._common import backend_for, rows_per_call, run_chunked
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, scorer_options

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # 1.1: one clip per graph call on a CPU (last bits)
PROTOCOLS = ("javisbench-v1",)
DEFAULT_PROTOCOL = "javisbench-v1"
EMBEDDING = "i3d"


def max_frames_option(cfg: ScorerConfig, name: str = "i3d") -> int:
    """options.max_frames (default 24), checked against what the network's pooling needs."""
    n = scorer_options(I3DOptions, name, cfg).max_frames
    if n < I3D_MIN_FRAMES:
        raise ValueError(
            f"i3d option max_frames must be >= {I3D_MIN_FRAMES} (I3D's temporal pooling), got {n}"
        )
    return n


def make_graphs(model: Any, max_frames: int) -> dict[str, GraphSpec]:
    """The one exportable graph "video": (B, 3, max_frames, 224, 224) -> logits (B, 400); batch is dynamic."""
    example = np.random.default_rng(0).uniform(-0.01, 1.0, (2, 3, max_frames, I3D_IMAGE_SIZE, I3D_IMAGE_SIZE))
    return {
        "video": GraphSpec(
            module=i3d_model.I3DCore(model).eval(),
            input_names=("video",),
            output_names=("logits",),
            example_inputs={"video": example.astype(np.float32)},
        )
    }


def _load(cfg: ScorerConfig) -> tuple[Any, WeightsInfo]:
    model, ident = i3d_model.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
    return model, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the exportable graph for cfg.weights and options.max_frames."""
    model, info = _load(cfg)
    return make_graphs(model, max_frames_option(cfg, name)), info


class I3DEmbedder:
    """I3D FVD features behind a backend (torch, onnxruntime or tensorrt); Embed only."""

    def __init__(self, name: str, cfg: ScorerConfig, *, backend: Backend, weights: WeightsInfo) -> None:
        self.cfg = cfg
        self.backend = backend
        self.max_frames = max_frames_option(cfg, name)
        self.info = SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="i3d",
            input_spec=InputSpec(
                modalities=("video",), video_frames=self.max_frames, image_size=I3D_IMAGE_SIZE
            ),
        )

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Sample frames, letterbox, apply the JavisBench pixel chain: (3, max_frames, 224, 224) float32."""
        if sample.video is None:
            raise InvalidSample("i3d needs video; the sample has none")
        frames = np.asarray(sample.video.frames)
        if frames.ndim != 4 or frames.shape[0] == 0:
            raise InvalidSample("i3d cannot embed a video with no frames")
        try:
            return i3d_clip_input(frames, self.max_frames, I3D_IMAGE_SIZE)
        except ValueError as e:
            raise InvalidSample(f"i3d: {e}") from e

    def forward(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One backend call per clip on a CPU (as cheap per clip as 8: cpu_rows), per max_batch_size on a GPU."""
        rows = rows_per_call(self.cfg, 0, cpu=1, accelerator=self.cfg.max_batch_size)
        logits = run_chunked(self.backend, "video", {"video": np.stack(items)}, "logits", rows)
        return [logits[i] for i in range(len(items))]

    def postprocess(self, output: np.ndarray) -> ScorerOutput:
        """The 400-d time-averaged logits, unnormalised (the FVD/KVD feature)."""
        return ScorerOutput(embeddings={EMBEDDING: np.asarray(output, dtype=np.float32)})

    def warmup_sample(self) -> DecodedSample:
        """Twelve 48x64 frames of a moving gradient (exercises sampling with repeats and letterboxing)."""
        t = np.arange(12, dtype=np.float32)[:, None, None]
        x = np.arange(64, dtype=np.float32)[None, None, :]
        y = np.arange(48, dtype=np.float32)[None, :, None]
        luma = (np.sin((x + 3 * t) / 9.0) * np.cos(y / 7.0) * 100 + 128).astype(np.uint8)
        frames = np.stack([luma, np.roll(luma, 5, axis=2), 255 - luma], axis=-1)
        return DecodedSample(id="warmup", video=DecodedVideo(np.ascontiguousarray(frames), fps=12.0))


def build(name: str, cfg: ScorerConfig) -> I3DEmbedder:
    """Registry target: load weights (offline), create the backend over the I3D graph, return the embedder."""
    model, winfo = _load(cfg)
    backend = backend_for("i3d", cfg, make_graphs(model, max_frames_option(cfg, name)), winfo.sha256)
    if winfo.tiny:
        logger.warning("scorer %s runs TINY RANDOM I3D weights (%s)", name, winfo.weights_id)
    return I3DEmbedder(name, cfg, backend=backend, weights=winfo)


@dataclass(frozen=True)
class I3DOptions(ModelOptions):
    """Options of i3d."""

    # Frames fed to I3D per clip (longer clips are cut).
    max_frames: int = I3D_MAX_FRAMES


SPEC = ScorerSpec(
    name="i3d",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=(),
    embeddings=(EMBEDDING,),
    modalities=("video",),
    options=I3DOptions,
    families=("i3d",),
    bench=(
        BenchMetric(
            "javisbench",
            "fvd",
            embedding=EMBEDDING,
            reference="video",
            kind="frechet",
            higher_is_better=False,
        ),
        BenchMetric(
            "javisbench", "kvd", embedding=EMBEDDING, reference="video", kind="mmd", higher_is_better=False
        ),
    ),
    summary="I3D Kinetics-400 logits for FVD/KVD",
)
SCORERS = (SPEC,)
