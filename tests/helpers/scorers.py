"""Small but real scorers for serving tests: fixed torch graphs behind a TorchBackend.

- ``brightness`` (video): mean BT.601 luma of 8 sampled frames; embedding ``frame_luma`` [8].
- ``loudness`` (audio): RMS level in dB of the first second at 16 kHz; silent audio -> InvalidSample.
- ``caption`` (prompt): a tiny randomly initialised text head over UTF-8 byte histograms; empty prompt ->
  InvalidSample. Reports tiny weights, like a real scorer built with ``weights: tiny``.

- ``video_embed`` (video): a fixed random projection of 8 sampled 16x16 frames; embedding named
  ``options['embedding']`` (default ``i3d``) of ``options['dim']`` (default 16) dims; no scores.
- ``audio_embed`` (audio): a fixed random projection of the first second's 64-band log spectrum; embedding
  ``options['embedding']`` (default ``audioclip``); silent audio -> InvalidSample; no scores.

Options (ScorerConfig.options): ``kind`` (which of the above, default = the scorer's name; ``slow`` is a
brightness scorer), ``load_delay_s`` (sleep while building), ``forward_delay_s`` (sleep in every forward),
``explode_above`` (brightness: forward raises when an item's mean luma exceeds it, to test crash isolation),
``die_after`` (the whole server process exits once this many items went through forward: a crash mid-run).

Usable as a server plugin: ``plugins: {brightness: "tests.helpers.scorers:build"}``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.media import DecodedSample, DecodedVideo, resample, to_mono
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    ScorerOutput,
    WeightsInfo,
)

N_FRAMES = 8
SIDE = 16
SAMPLE_RATE = 16000


def _sha256_of(module: torch.nn.Module) -> str:
    """sha256 over a module's parameters and buffers in name order."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


class _LumaNet(torch.nn.Module):
    """frames [B, T, H, W, 3] in [0, 1] -> (per-frame luma [B, T], clip luma [B])."""

    def __init__(self) -> None:
        super().__init__()
        self.coeff: torch.Tensor
        self.register_buffer("coeff", torch.tensor([0.299, 0.587, 0.114]))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted channel sum, averaged over pixels, then over frames."""
        per_frame = (frames * self.coeff).sum(-1).mean(dim=(-1, -2))
        return per_frame, per_frame.mean(-1)


class _RmsNet(torch.nn.Module):
    """pcm [B, N] -> (rms [B], level in dB [B])."""

    def forward(self, pcm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Root mean square and 20 log10 of it."""
        rms = pcm.pow(2).mean(-1).sqrt()
        return rms, 20.0 * torch.log10(rms + 1e-8)


class _CaptionNet(torch.nn.Module):
    """byte histogram [B, 256] -> (text embedding [B, 16], score [B])."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Linear(256, 16)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(16, 256, generator=gen) * 0.5)
            self.proj.bias.copy_(torch.randn(16, generator=gen) * 0.1)

    def forward(self, hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tanh projection and its mean."""
        emb = torch.tanh(self.proj(hist))
        return emb, emb.mean(-1)


class TestScorer:
    """Common plumbing: info, backend, delays, forward-call bookkeeping for assertions."""

    __test__ = False  # not a pytest class
    graph = ""
    output_names: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        module: torch.nn.Module,
        *,
        family: str,
        outputs: tuple[str, ...],
        embeddings: tuple[str, ...],
        spec: InputSpec,
        weights: WeightsInfo,
        input_name: str,
        example: np.ndarray,
    ) -> None:
        self.cfg = cfg
        self.forward_delay_s = float(cfg.options.get("forward_delay_s", 0.0))
        self.die_after = cfg.options.get("die_after")
        self.batch_sizes: list[int] = []
        self.items_seen = 0
        self._lock = threading.Lock()
        graphs = {
            self.graph: GraphSpec(
                module=module,
                input_names=(input_name,),
                output_names=self.output_names,
                example_inputs={input_name: example},
            )
        }
        self._input_name = input_name
        self.backend = TorchBackend(graphs, device=cfg.device)
        self.info = ScorerInfo(
            name=name,
            model_family=family,
            version="1",
            outputs=outputs,
            embeddings=embeddings,
            input_spec=spec,
            protocol=cfg.protocol or "test-v1",
            weights=weights,
            backend=self.backend.name,
            device=cfg.device,
            max_batch_size=cfg.max_batch_size,
        )

    def _run(self, items: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Record the call, honour forward_delay_s, run the graph on the stacked batch."""
        with self._lock:
            self.batch_sizes.append(len(items))
            self.items_seen += len(items)
            if self.die_after is not None and self.items_seen > int(self.die_after):
                os._exit(17)  # a hard crash: no drain, no goodbye, like an OOM kill
        if self.forward_delay_s:
            time.sleep(self.forward_delay_s)
        return self.backend.run(self.graph, {self._input_name: np.stack(list(items))})


class BrightnessScorer(TestScorer):
    """Mean luma of a clip (video only)."""

    graph = "luma"
    output_names = ("frame_luma", "brightness")

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        module = _LumaNet()
        self.explode_above = cfg.options.get("explode_above")
        super().__init__(
            name,
            cfg,
            module,
            family="test-luma",
            outputs=("brightness",),
            embeddings=("frame_luma",),
            spec=InputSpec(modalities=("video",), video_frames=N_FRAMES, image_size=SIDE),
            weights=WeightsInfo(weights_id="builtin:bt601-luma", sha256=_sha256_of(module), tiny=False),
            input_name="frames",
            example=np.zeros((1, N_FRAMES, SIDE, SIDE, 3), np.float32),
        )

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Sample 8 frames uniformly and 16x16 pixels (nearest), scale to [0, 1]."""
        assert sample.video is not None
        frames = sample.video.frames
        t_idx = np.linspace(0, frames.shape[0] - 1, N_FRAMES).round().astype(int)
        h_idx = np.linspace(0, frames.shape[1] - 1, SIDE).round().astype(int)
        w_idx = np.linspace(0, frames.shape[2] - 1, SIDE).round().astype(int)
        small = frames[t_idx][:, h_idx][:, :, w_idx]
        return small.astype(np.float32) / 255.0

    def forward(self, items: Sequence[np.ndarray]) -> list[Any]:
        """One batched graph call."""
        if self.explode_above is not None and any(float(x.mean()) > float(self.explode_above) for x in items):
            with self._lock:
                self.batch_sizes.append(len(items))
            raise RuntimeError("luma sensor overflow (test failure injection)")
        out = self._run(items)
        return list(zip(out["brightness"], out["frame_luma"], strict=True))

    def postprocess(self, output: Any) -> ScorerOutput:
        """Score and per-frame embedding."""
        score, per_frame = output
        return ScorerOutput(
            scores={"brightness": float(score)}, embeddings={"frame_luma": per_frame.astype(np.float32)}
        )

    def warmup_sample(self) -> DecodedSample:
        """A mid-grey 8-frame clip."""
        return DecodedSample(
            id="warmup", video=DecodedVideo(np.full((N_FRAMES, SIDE, SIDE, 3), 128, np.uint8), 24.0)
        )


class LoudnessScorer(TestScorer):
    """RMS level of the first second (audio only); silence is an InvalidSample."""

    graph = "rms"
    output_names = ("rms", "loudness_db")

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        module = _RmsNet()
        super().__init__(
            name,
            cfg,
            module,
            family="test-rms",
            outputs=("loudness_db",),
            embeddings=("rms",),
            spec=InputSpec(modalities=("audio",), audio_sample_rate=SAMPLE_RATE, max_audio_seconds=1.0),
            weights=WeightsInfo(weights_id="builtin:rms", sha256=_sha256_of(module), tiny=False),
            input_name="pcm",
            example=np.zeros((1, SAMPLE_RATE), np.float32),
        )

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Mono, 16 kHz, first second (zero-padded)."""
        assert sample.audio is not None
        mono = resample(to_mono(sample.audio.pcm), sample.audio.sample_rate, SAMPLE_RATE)
        if float(np.abs(mono).max(initial=0.0)) < 1e-4:
            raise InvalidSample("audio is silent")
        out = np.zeros(SAMPLE_RATE, np.float32)
        n = min(SAMPLE_RATE, mono.shape[0])
        out[:n] = mono[:n]
        return out

    def forward(self, items: Sequence[np.ndarray]) -> list[Any]:
        """One batched graph call."""
        out = self._run(items)
        return list(zip(out["loudness_db"], out["rms"], strict=True))

    def postprocess(self, output: Any) -> ScorerOutput:
        """Level in dB and RMS as a 1-vector embedding."""
        db, rms = output
        return ScorerOutput(
            scores={"loudness_db": float(db)}, embeddings={"rms": np.asarray([rms], np.float32)}
        )

    def warmup_sample(self) -> DecodedSample:
        """0.1 s of a 440 Hz tone."""
        from omninft.reward_servers.media import DecodedAudio

        t = np.arange(SAMPLE_RATE // 10) / SAMPLE_RATE
        pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        return DecodedSample(id="warmup", audio=DecodedAudio(pcm, SAMPLE_RATE))


class CaptionScorer(TestScorer):
    """A tiny random text head (prompt only); an empty prompt is an InvalidSample."""

    graph = "text"
    output_names = ("text_embedding", "caption_score")

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        module = _CaptionNet(cfg.seed)
        super().__init__(
            name,
            cfg,
            module,
            family="test-caption",
            outputs=("caption_score",),
            embeddings=("text",),
            spec=InputSpec(modalities=("prompt",)),
            weights=WeightsInfo(
                weights_id=f"tiny-random(seed={cfg.seed})", sha256=_sha256_of(module), tiny=True
            ),
            input_name="hist",
            example=np.zeros((1, 256), np.float32),
        )

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Normalised UTF-8 byte histogram."""
        if not sample.prompt.strip():
            raise InvalidSample("empty prompt: this scorer needs text")
        hist = np.bincount(np.frombuffer(sample.prompt.encode(), np.uint8), minlength=256).astype(np.float32)
        return hist / hist.sum()

    def forward(self, items: Sequence[np.ndarray]) -> list[Any]:
        """One batched graph call."""
        out = self._run(items)
        return list(zip(out["caption_score"], out["text_embedding"], strict=True))

    def postprocess(self, output: Any) -> ScorerOutput:
        """Score and text embedding."""
        score, emb = output
        return ScorerOutput(
            scores={"caption_score": float(score)}, embeddings={"text": emb.astype(np.float32)}
        )

    def warmup_sample(self) -> DecodedSample:
        """A short caption."""
        return DecodedSample(id="warmup", prompt="a dog barks")


class _ProjectionNet(torch.nn.Module):
    """features [B, F] -> fixed random projection [B, D] (seeded, so every server agrees)."""

    def __init__(self, n_in: int, dim: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.weight: torch.Tensor
        self.register_buffer("weight", torch.randn(n_in, dim, generator=gen) / n_in**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Linear map."""
        return x @ self.weight


class EmbedScorer(TestScorer):
    """An embedding-only scorer (stands in for I3D / AudioCLIP on the set-level metric path)."""

    graph = "proj"
    output_names = ("embedding",)
    modality = ""
    n_in = 0

    def __init__(self, name: str, cfg: ScorerConfig, default_embedding: str) -> None:
        self.embedding = str(cfg.options.get("embedding", default_embedding))
        dim = int(cfg.options.get("dim", 16))
        module = _ProjectionNet(self.n_in, dim, 1234 + cfg.seed)
        spec = InputSpec(
            modalities=(self.modality,),
            video_frames=N_FRAMES if self.modality == "video" else 0,
            audio_sample_rate=SAMPLE_RATE if self.modality == "audio" else 0,
        )
        super().__init__(
            name,
            cfg,
            module,
            family=f"test-{self.modality}-embed",
            outputs=(),
            embeddings=(self.embedding,),
            spec=spec,
            weights=WeightsInfo(weights_id=f"builtin:proj{dim}", sha256=_sha256_of(module), tiny=False),
            input_name="x",
            example=np.zeros((1, self.n_in), np.float32),
        )

    def forward(self, items: Sequence[np.ndarray]) -> list[Any]:
        """One batched projection."""
        return list(self._run(items)["embedding"])

    def postprocess(self, output: Any) -> ScorerOutput:
        """The embedding only."""
        return ScorerOutput(scores={}, embeddings={self.embedding: np.asarray(output, np.float32)})


class VideoEmbedScorer(EmbedScorer):
    """Projection of 8 uniformly sampled 16x16 RGB frames."""

    modality = "video"
    n_in = N_FRAMES * SIDE * SIDE * 3

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        super().__init__(name, cfg, "i3d")

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Nearest-neighbour 8x16x16 subsample in [0, 1], flattened."""
        return BrightnessScorer.preprocess(self, sample).reshape(-1)  # type: ignore[arg-type]

    def warmup_sample(self) -> DecodedSample:
        """A mid-grey clip."""
        return DecodedSample(
            id="warmup", video=DecodedVideo(np.full((N_FRAMES, SIDE, SIDE, 3), 128, np.uint8), 24.0)
        )


class AudioEmbedScorer(EmbedScorer):
    """Projection of the 64-band log magnitude spectrum of the first second at 16 kHz."""

    modality = "audio"
    n_in = 64

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        super().__init__(name, cfg, "audioclip")

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Mono 16 kHz, first second, band-averaged log |FFT|."""
        pcm = LoudnessScorer.preprocess(self, sample)  # type: ignore[arg-type]
        mag = np.abs(np.fft.rfft(pcm))[: 64 * 125]
        return np.log1p(mag.reshape(64, 125).mean(1)).astype(np.float32)

    def warmup_sample(self) -> DecodedSample:
        """0.1 s of a 440 Hz tone."""
        return LoudnessScorer.warmup_sample(self)  # type: ignore[arg-type]


_KINDS: dict[str, Callable[[str, ScorerConfig], TestScorer]] = {
    "brightness": BrightnessScorer,
    "slow": BrightnessScorer,
    "loudness": LoudnessScorer,
    "caption": CaptionScorer,
    "video_embed": VideoEmbedScorer,
    "audio_embed": AudioEmbedScorer,
}


def build(name: str, cfg: ScorerConfig) -> Any:
    """Registry entry point: build test scorer `name` (its kind from options['kind'] or the name)."""
    kind = str(cfg.options.get("kind", name))
    if kind not in _KINDS:
        raise ValueError(f"unknown test scorer kind {kind!r}; choose one of {sorted(_KINDS)}")
    delay = float(cfg.options.get("load_delay_s", 0.0))
    if delay:
        time.sleep(delay)
    return _KINDS[kind](name, cfg)


def make(kind: str, name: str | None = None, **options: Any) -> Any:
    """Build a test scorer in-process: make("brightness", forward_delay_s=0.2)."""
    max_batch_size = int(options.pop("max_batch_size", 16))
    return build(name or kind, ScorerConfig(max_batch_size=max_batch_size, options={"kind": kind, **options}))
