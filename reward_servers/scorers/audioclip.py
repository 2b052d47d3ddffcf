"""`audioclip`: AudioCLIP audio embeddings for JavisBench's set-level FAD (Embed only; no per-sample score).

Protocol "javisbench-v1" (specs/javisbench.md §6.1): decoded PCM -> mono (channel mean) -> 16 kHz (resampy
kaiser_best, as the reference's pinned librosa 0.9.2 `load(sr=16000)`; a no-op for 16 kHz files) -> cut or right-zero-pad to `max_audio_len_s` (option, default 4 s = 64,000 samples) -> the
float waveform unchanged (NOT rescaled to int16: ESResNeXt's own int16-range mapping then descales it ~32768x,
as in the reference) -> ESResNeXt-fbsp -> the raw 1024-d `encode_audio` output, before L2 normalisation,
embedding "audioclip". FAD (x 10,000) is computed by the client over a whole set.
Variant "javisbench-v1-soxr": resampled with soxr HQ (librosa >= 0.10's `load` default) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.audioclip_audio import (
    AUDIOCLIP_MAX_AUDIO_LEN_S,
    AUDIOCLIP_SAMPLE_RATE,
    audio_num_samples,
    fit_length,
)
from omninft.reward_servers.functional.kaiser_resample import librosa_load_resample, resampled_too_short
from omninft.reward_servers.media import DecodedAudio, DecodedSample, resample, to_mono
from omninft.reward_servers.models import audioclip as audioclip_model
from omninft.reward_servers.scorers._checks import sample_pcm
from omninft.reward_servers.scorers._common import backend_for, run_chunked
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, scorer_options

logger = logging.getLogger(__name__)

VERSION = "1.0.0"
PROTOCOLS = ("javisbench-v1", "javisbench-v1-soxr")
DEFAULT_PROTOCOL = "javisbench-v1"
EMBEDDING = "audioclip"


def max_audio_len_option(cfg: ScorerConfig, name: str = "audioclip") -> float:
    """options.max_audio_len_s (default 4.0; JavisBench's FAD setting)."""
    seconds = scorer_options(AudioClipOptions, name, cfg).max_audio_len_s
    audio_num_samples(seconds)  # validates
    return seconds


def make_graphs(model: Any, num_samples: int) -> dict[str, GraphSpec]:
    """The one exportable graph "audio": waveform (B, num_samples) -> audio_embeds (B, 1024); batch is dynamic."""
    rng = np.random.default_rng(0)
    example = (rng.standard_normal((2, num_samples)) * 0.1).astype(np.float32)
    return {
        "audio": GraphSpec(
            module=audioclip_model.AudioClipAudioCore(model).eval(),
            input_names=("waveform",),
            output_names=("audio_embeds",),
            example_inputs={"waveform": example},
        )
    }


def _load(cfg: ScorerConfig) -> tuple[Any, WeightsInfo]:
    model, ident = audioclip_model.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
    return model, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the exportable graph for cfg.weights and options.max_audio_len_s."""
    model, info = _load(cfg)
    return make_graphs(model, audio_num_samples(max_audio_len_option(cfg, name))), info


class AudioClipEmbedder:
    """AudioCLIP audio-branch FAD features behind a backend; Embed only."""

    def __init__(self, name: str, cfg: ScorerConfig, *, backend: Backend, weights: WeightsInfo) -> None:
        self.cfg = cfg
        self.backend = backend
        self.max_audio_len_s = max_audio_len_option(cfg, name)
        self.num_samples = audio_num_samples(self.max_audio_len_s)
        self.info = SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="audioclip",
            input_spec=InputSpec(
                modalities=("audio",),
                audio_sample_rate=AUDIOCLIP_SAMPLE_RATE,
                max_audio_seconds=self.max_audio_len_s,
            ),
        )

    def preprocess(self, sample: DecodedSample) -> np.ndarray:
        """Mono 16 kHz waveform cut or zero-padded to max_audio_len_s: (num_samples,) float32."""
        pcm = sample_pcm(sample, "audioclip", verb="embed")
        assert sample.audio is not None  # checked by sample_pcm
        mono, sr = to_mono(pcm), sample.audio.sample_rate
        if self.info.protocol == "javisbench-v1-soxr":
            wave = resample(mono, sr, AUDIOCLIP_SAMPLE_RATE)
        elif resampled_too_short(mono.shape[0], sr, AUDIOCLIP_SAMPLE_RATE):
            raise InvalidSample("audio is too short to resample to 16 kHz")
        else:
            wave = librosa_load_resample(mono, sr, AUDIOCLIP_SAMPLE_RATE)
        if wave.shape[0] == 0:
            raise InvalidSample("audio is shorter than one sample at 16 kHz")
        return fit_length(wave, self.num_samples)

    def forward(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One backend call per max_batch_size waveforms."""
        out = run_chunked(
            self.backend, "audio", {"waveform": np.stack(items)}, "audio_embeds", self.cfg.max_batch_size
        )
        return [out[i] for i in range(len(items))]

    def postprocess(self, output: np.ndarray) -> ScorerOutput:
        """The raw 1024-d audio embedding (not L2-normalised: JavisBench's FAD reads it before normalisation)."""
        return ScorerOutput(embeddings={EMBEDDING: np.asarray(output, dtype=np.float32)})

    def warmup_sample(self) -> DecodedSample:
        """One second of a 440 Hz tone with a little noise, at 44.1 kHz stereo (exercises resampling, padding)."""
        sr = 44_100
        t = np.arange(sr, dtype=np.float64) / sr
        noise = np.random.default_rng(0).standard_normal(sr) * 0.01
        tone = (0.3 * np.sin(2 * np.pi * 440.0 * t) + noise).astype(np.float32)
        return DecodedSample(id="warmup", audio=DecodedAudio(np.stack([tone, tone]), sample_rate=sr))


def build(name: str, cfg: ScorerConfig) -> AudioClipEmbedder:
    """Registry target: load weights (offline), create the backend over the audio graph, return the embedder."""
    model, winfo = _load(cfg)
    backend = backend_for(
        "audioclip", cfg, make_graphs(model, audio_num_samples(max_audio_len_option(cfg, name))), winfo.sha256
    )
    if winfo.tiny:
        logger.warning("scorer %s runs TINY RANDOM AudioCLIP weights (%s)", name, winfo.weights_id)
    return AudioClipEmbedder(name, cfg, backend=backend, weights=winfo)


@dataclass(frozen=True)
class AudioClipOptions(ModelOptions):
    """Options of audioclip."""

    # Seconds of audio embedded per clip.
    max_audio_len_s: float = AUDIOCLIP_MAX_AUDIO_LEN_S


SPEC = ScorerSpec(
    name="audioclip",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=(),
    embeddings=(EMBEDDING,),
    modalities=("audio",),
    options=AudioClipOptions,
    families=("audioclip",),
    bench=(
        BenchMetric(
            "javisbench",
            "fad",
            embedding=EMBEDDING,
            reference="audio",
            kind="frechet",
            scale=1e4,
            higher_is_better=False,
        ),
    ),
    summary="AudioCLIP audio embeddings for FAD",
    batch_rtol=1e-5,
)
SCORERS = (SPEC,)
