"""Audiobox Aesthetics (JavisBench `calc_audio_quality_score`, "AQ"): CE, CU, PC, PQ and their mean.

Protocols (specs/javisbench.md §6.3, specs/models.md §3):
- "javisbench-v1" (default, the reference's exact input): channel mean at the native rate, no DC removal;
  then what `read_audio_torchaudio(..., mono=True, keepdim=True)` really does. It resamples the (N, 1)
  transposed waveform along its length-1 axis, so for a native rate other than 16 kHz the samples are NOT
  resampled: each is multiplied by a constant gain (the centre taps of torchaudio's sinc kernels, averaged
  over the output phases once AesPredictor takes the channel mean) and the signal is then read as 16 kHz.
  16 kHz input (JavisDiT's) is unaffected. Then cut / zero-pad to int(16000 * max_audio_len_s) samples
  (option `max_audio_len_s`, default 4.0; 0 or None keeps the whole clip, as the audiobox CLI does).
- "javisbench-v1-resampled": the same, but non-16 kHz audio is properly resampled to 16 kHz first, with
  torchaudio's default windowed-sinc resampler (re-implemented), i.e. what `AesPredictor` itself does with a file
  path; this is the OmniNFT reward's input (its `audiobox_aesthetics_score` passes wav paths).
The model input then follows `AesPredictor.forward`: 10 s windows with a 10 s hop, the last zero-padded with a
sample mask and weighted by its valid fraction; the zero padding added by the max_audio_len_s step counts as
audio (the reference pads before the predictor sees it). Per axis: weighted mean of the de-normalised chunk
predictions. audio_quality = mean of the four axes (the JavisBench per-sample value).
Residual differences: the reference runs the model under CUDA, per batch of 8 files, in float32.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.audiobox import torchaudio_axis_gain as axis_gain
from omninft.reward_servers.functional.sync_frontend import sinc_resample
from omninft.reward_servers.functional.waveform import pad_or_trim
from omninft.reward_servers.media import DecodedAudio, DecodedSample, to_mono
from omninft.reward_servers.models import audiobox as ab
from omninft.reward_servers.scorers._checks import sample_pcm
from omninft.reward_servers.scorers._common import backend_for, rows_per_call, run_chunked
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, parse_options

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # 1.1: one 10 s window per graph call on a CPU (last bits)
PROTOCOLS = ("javisbench-v1", "javisbench-v1-resampled")
DEFAULT_PROTOCOL = "javisbench-v1"
DEFAULT_MAX_AUDIO_LEN_S = 4.0
OUTPUTS = ("audio_quality", "ce", "cu", "pc", "pq")
GRAPH = "aes"


def torchaudio_axis_gain(sr_in: int, sr_out: int = ab.SAMPLE_RATE) -> float:
    """The constant gain JavisBench's transposed torchaudio resampling applies (functional.audiobox)."""
    return axis_gain(sr_in, sr_out)


def fit_length(
    wave: np.ndarray, max_audio_len_s: float | None, sample_rate: int = ab.SAMPLE_RATE
) -> np.ndarray:
    """Cut / zero-pad to int(sample_rate * max_audio_len_s) samples; no limit when max_audio_len_s is falsy."""
    if not max_audio_len_s:
        return wave
    return pad_or_trim(wave, int(sample_rate * max_audio_len_s))


def javisbench_waveform(audio: DecodedAudio, protocol: str, max_audio_len_s: float | None) -> np.ndarray:
    """The mono float32 waveform the reference hands to AesPredictor (as 16 kHz samples)."""
    mono = to_mono(np.asarray(audio.pcm))
    if audio.sample_rate != ab.SAMPLE_RATE:
        if protocol == "javisbench-v1":
            mono = (mono * np.float32(torchaudio_axis_gain(audio.sample_rate))).astype(np.float32)
        else:
            mono = sinc_resample(mono, audio.sample_rate, ab.SAMPLE_RATE)
    return fit_length(np.asarray(mono, dtype=np.float32), max_audio_len_s)


@dataclass(frozen=True)
class AudioboxItem:
    """One preprocessed sample: its 10 s chunks (with masks and weights) and the fitted length."""

    chunks: ab.Chunks
    num_samples: int


@dataclass(frozen=True)
class AudioboxRaw:
    """Backend output of one item: normalised predictions (K, 4) of its chunks and the chunk weights (K,)."""

    preds: np.ndarray
    weights: np.ndarray


def make_graphs(model: ab.AudioboxAesthetics) -> dict[str, GraphSpec]:
    """The single exportable core: (wav, mask) (B, 160000) float32 -> normalised predictions (B, 4)."""
    rng = np.random.default_rng(0)
    wav = (rng.standard_normal((2, ab.CHUNK_SAMPLES)) * 0.1).astype(np.float32)
    mask = np.ones_like(wav)
    mask[1, ab.CHUNK_SAMPLES * 2 // 5 :] = 0.0  # a 4 s clip, the JavisBench case
    wav[1] *= mask[1]
    return {
        GRAPH: GraphSpec(
            module=model.eval(),
            input_names=("wav", "mask"),
            output_names=("preds",),
            example_inputs={"wav": wav, "mask": mask},
        )
    }


def _load(cfg: ScorerConfig) -> tuple[ab.AudioboxAesthetics, WeightsInfo]:
    model, ident = ab.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
    return model, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the exportable core for cfg.weights and the identity of those weights."""
    del name
    model, info = _load(cfg)
    return make_graphs(model), info


def max_audio_len_option(options: Mapping[str, Any], name: str = "audiobox_aesthetics") -> float | None:
    """options["max_audio_len_s"] as a positive float, or None for no limit (0 / None / "none")."""
    value = parse_options(AudioboxOptions, options, f"scorers.{name}.options").max_audio_len_s
    return value or None


class AudioboxScorer:
    """Audiobox Aesthetics behind a backend: all chunks of a batch go through one batched core call."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        backend: Backend,
        weights: WeightsInfo,
        target_transform: Mapping[str, Mapping[str, float]],
    ) -> None:
        self.cfg = cfg
        self.backend = backend
        self.target_transform = {a: dict(target_transform[a]) for a in ab.AXES}
        self.max_audio_len_s = max_audio_len_option(cfg.options, name)
        self.info = SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="audiobox_aesthetics",
            input_spec=InputSpec(
                modalities=SPEC.modalities,
                audio_sample_rate=ab.SAMPLE_RATE,
                max_audio_seconds=float(self.max_audio_len_s or 0.0),
            ),
        )
        self.protocol = self.info.protocol

    def preprocess(self, sample: DecodedSample) -> AudioboxItem:
        """Mono, 16 kHz per the protocol, fitted to max_audio_len_s, cut into masked 10 s chunks."""
        sample_pcm(sample, "audiobox_aesthetics")
        assert sample.audio is not None  # checked by sample_pcm
        wave = javisbench_waveform(sample.audio, self.protocol, self.max_audio_len_s)
        if wave.shape[0] == 0:
            raise InvalidSample("audio is shorter than one sample at 16 kHz")
        return AudioboxItem(ab.make_chunks(wave), int(wave.shape[0]))

    def forward(self, items: Sequence[AudioboxItem]) -> list[AudioboxRaw]:
        """Normalised chunk predictions, (K_i, 4) per item, from one batched pass over every chunk."""
        wavs = np.concatenate([it.chunks.wavs for it in items])
        masks = np.concatenate([it.chunks.masks for it in items])
        # one window per call on a CPU: it costs 0.92x its share of an 8-window call (cpu_rows, full size)
        rows = rows_per_call(self.cfg, 0, cpu=1, accelerator=self.cfg.max_batch_size)
        preds = run_chunked(self.backend, GRAPH, {"wav": wavs, "mask": masks}, "preds", rows)
        bounds = np.cumsum([0] + [it.chunks.wavs.shape[0] for it in items])
        return [
            AudioboxRaw(preds[bounds[i] : bounds[i + 1]], it.chunks.weights) for i, it in enumerate(items)
        ]

    def postprocess(self, output: AudioboxRaw) -> ScorerOutput:
        """De-normalise, weight-average the chunks per axis, and add their mean as audio_quality."""
        axes = ab.aggregate(output.preds, output.weights, self.target_transform)
        scores = {a.lower(): v for a, v in axes.items()}
        scores["audio_quality"] = float(np.mean([axes[a] for a in ab.AXES]))
        return ScorerOutput(scores=scores)

    def warmup_sample(self) -> DecodedSample:
        """One second of a 440 Hz tone with a little noise at 16 kHz."""
        sr = ab.SAMPLE_RATE
        t = np.arange(sr, dtype=np.float64) / sr
        noise = np.random.default_rng(0).standard_normal(sr) * 0.01
        tone = (0.3 * np.sin(2 * np.pi * 440.0 * t) + noise).astype(np.float32)
        return DecodedSample(
            id="warmup", prompt="a steady beep", audio=DecodedAudio(tone[None], sample_rate=sr)
        )


def build(name: str, cfg: ScorerConfig) -> AudioboxScorer:
    """Registry target: load weights (offline), create the backend over the core, return the scorer."""
    model, winfo = _load(cfg)
    target_transform = model.config.target_transform
    backend = backend_for("audiobox", cfg, make_graphs(model), winfo.sha256)
    if winfo.tiny:
        logger.warning("scorer %s runs TINY RANDOM Audiobox Aesthetics weights (%s)", name, winfo.weights_id)
    return AudioboxScorer(name, cfg, backend=backend, weights=winfo, target_transform=target_transform)


@dataclass(frozen=True)
class AudioboxOptions(ModelOptions):
    """Options of audiobox_aesthetics."""

    # Seconds of audio scored; None or 0 = the whole clip.
    max_audio_len_s: float | None = DEFAULT_MAX_AUDIO_LEN_S

    def __post_init__(self) -> None:
        v = self.max_audio_len_s
        if v is not None and (v < 0 or not math.isfinite(v)):
            raise ValueError(f"max_audio_len_s must be a non-negative number, got {v!r}")


SPEC = ScorerSpec(
    name="audiobox_aesthetics",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=OUTPUTS,
    modalities=("audio",),
    options=AudioboxOptions,
    families=("audiobox",),
    bench=(BenchMetric("javisbench", "audio_quality", output="audio_quality"),),
    summary="Audiobox Aesthetics (CE, CU, PC, PQ; JavisBench audio quality)",
    batch_rtol=1e-5,
)
SCORERS = (SPEC,)
