"""The Scorer contract: per-sample preprocess, one batched forward, per-sample postprocess.

Scorers never see protobuf; the serving layer owns the wire types and calls scorers only through this
protocol and the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from omninft.reward_servers.media import DecodedSample


class InvalidSample(ValueError):
    """A sample this scorer cannot score (silent, too short, missing modality, ...): fails that sample only."""


@dataclass(frozen=True)
class InputSpec:
    """What a scorer reads, at its native rates (advertised by ListScorers)."""

    modalities: tuple[str, ...]  # each sample must have these: "video", "audio", "prompt", "audio_prompt"
    video_fps: float = 0.0
    video_frames: int = 0
    image_size: int = 0
    audio_sample_rate: int = 0
    max_audio_seconds: float = 0.0

    def reads(self, modality: str) -> bool:
        """Whether the scorer reads `modality`."""
        return modality in self.modalities


@dataclass(frozen=True)
class WeightsInfo:
    """Identity of the weights a scorer runs with; every result carries it."""

    weights_id: str
    sha256: str
    tiny: bool


@dataclass(frozen=True)
class ScorerInfo:
    """Static description of a loaded scorer."""

    name: str
    model_family: str
    version: str
    outputs: tuple[str, ...]
    embeddings: tuple[str, ...]
    input_spec: InputSpec
    protocol: str
    weights: WeightsInfo
    backend: str
    device: str
    max_batch_size: int


@dataclass
class ScorerConfig:
    """How to build one scorer. YAML keys are the camelCase forms of these names (maxBatchSize, ...)."""

    # tiny | random (random init: meaningless scores) | official (the pinned checkpoint) | a local path.
    weights: str = "tiny"
    # Inference backend: torch | onnxruntime | tensorrt.
    backend: str = "torch"
    # cpu, cuda or cuda:N.
    device: str = "cpu"
    # Most items in one forward call.
    max_batch_size: int = 16
    # Longest wait for a batch to fill, in milliseconds.
    max_queue_delay_ms: float = 5.0
    # Items a scorer's queue holds before new requests get RESOURCE_EXHAUSTED.
    max_queue_size: int = 256
    # Named metric protocol (quirks of an official implementation); empty = the scorer's default.
    protocol: str = ""
    # Where exported ONNX graphs / TensorRT plans are cached; empty = the default cache.
    onnx_dir: str = ""
    # Seed of tiny/random weights.
    seed: int = 0
    # Weights cache directory (HF snapshots, downloaded URLs); empty = $OMNINFT_WEIGHTS_DIR or the standard caches.
    weights_dir: str = ""
    # Scorer-specific options, checked against the scorer's Options dataclass when the config loads.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScorerOutput:
    """Per-sample result of a scorer: named scores and named embeddings (float32 vectors)."""

    scores: dict[str, float] = field(default_factory=dict)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """A reward or metric model behind the batched server."""

    info: ScorerInfo

    def preprocess(self, sample: DecodedSample) -> Any:
        """CPU work for one sample (resampling, frame sampling, tokenising); may raise InvalidSample."""
        ...

    def forward(self, items: Sequence[Any]) -> list[Any]:
        """One batched backend call over preprocessed items; returns one raw output per item, in order.

        An element may be an InvalidSample instance to fail that item alone.
        """
        ...

    def postprocess(self, output: Any) -> ScorerOutput:
        """Turn one raw output into named scores and embeddings."""
        ...

    def warmup_sample(self) -> DecodedSample:
        """A small valid sample used for the warm-up batch before the server reports SERVING."""
        ...
