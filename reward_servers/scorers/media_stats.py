"""`video_stats` and `audio_stats`: cheap input diagnostics (duration, mean luma, RMS level).

They have no neural core, so their cost is the serving path itself: the perf scripts use them to measure
transport and batching overhead, and users use them to catch black, silent or truncated generations before
scoring. Each reads one modality and fills all of its outputs for every sample it accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import (
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
)
from omninft.reward_servers.scorers.spec import NO_WEIGHTS, ScorerSpec

VERSION = "1.0"
# ITU-R BT.601 luma weights.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def rms_dbfs(pcm: np.ndarray) -> float:
    """RMS level of float PCM in dB relative to full scale (a full-scale square wave is 0 dBFS)."""
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if pcm.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))


def mean_luma(video: DecodedVideo) -> float:
    """Mean BT.601 luma over all frames, in [0, 255]."""
    # Per-channel integer sums: exact, and ~10x faster than a float64 mean over the interleaved array.
    sums = np.array([video.frames[..., c].sum(dtype=np.uint64) for c in range(3)], dtype=np.float64)
    n = video.frames[..., 0].size
    return float(sums @ _LUMA / n) if n else 0.0


def _video_stats(sample: DecodedSample) -> dict[str, float]:
    if sample.video is None:
        raise InvalidSample("video_stats needs a video track")
    return {"video_duration_s": sample.video.duration_s, "video_mean_luma": mean_luma(sample.video)}


def _audio_stats(sample: DecodedSample) -> dict[str, float]:
    if sample.audio is None:
        raise InvalidSample("audio_stats needs an audio track")
    return {"audio_duration_s": sample.audio.duration_s, "audio_rms_dbfs": rms_dbfs(sample.audio.pcm)}


class MediaStatsScorer:
    """Per-sample statistics of one modality; no model weights, nothing to batch."""

    def __init__(self, name: str, cfg: ScorerConfig, modality: str) -> None:
        self._stats: Callable[[DecodedSample], dict[str, float]] = (
            _video_stats if modality == "video" else _audio_stats
        )
        outputs = (
            ("video_duration_s", "video_mean_luma")
            if modality == "video"
            else ("audio_duration_s", "audio_rms_dbfs")
        )
        spec = next(s for s in SCORERS if s.modalities == (modality,))
        self.info = spec.info(
            name,
            cfg,
            weights=NO_WEIGHTS,
            backend="numpy",
            device="cpu",
            family="media_stats",
            outputs=outputs,
        )

    def preprocess(self, sample: DecodedSample) -> dict[str, float]:
        """Compute the statistics (the whole cost is here, on the CPU pool)."""
        return self._stats(sample)

    def forward(self, items: Sequence[dict[str, float]]) -> list[dict[str, float]]:
        """Nothing left to compute in batch."""
        return list(items)

    def postprocess(self, output: dict[str, float]) -> ScorerOutput:
        """The statistics as scores."""
        return ScorerOutput(scores={k: float(v) for k, v in output.items()})

    def warmup_sample(self) -> DecodedSample:
        """A 0.5 s grey clip with a quiet tone."""
        frames = np.full((12, 16, 16, 3), 128, dtype=np.uint8)
        t = np.arange(8000, dtype=np.float32) / 16000
        pcm = (0.1 * np.sin(2 * np.pi * 440 * t))[None, :].astype(np.float32)
        return DecodedSample(id="warmup", video=DecodedVideo(frames, 24.0), audio=DecodedAudio(pcm, 16000))


def build_video(name: str, cfg: ScorerConfig) -> MediaStatsScorer:
    """Registry entry point of `video_stats`."""
    return MediaStatsScorer(name, cfg, "video")


def build_audio(name: str, cfg: ScorerConfig) -> MediaStatsScorer:
    """Registry entry point of `audio_stats`."""
    return MediaStatsScorer(name, cfg, "audio")


SCORERS = (
    ScorerSpec(
        name="video_stats",
        build=build_video,
        version=VERSION,
        outputs=("video_duration_s", "video_mean_luma"),
        modalities=("video",),
        summary="video duration and mean BT.601 luma (no model)",
    ),
    ScorerSpec(
        name="audio_stats",
        build=build_audio,
        version=VERSION,
        outputs=("audio_duration_s", "audio_rms_dbfs"),
        modalities=("audio",),
        summary="audio duration and RMS level in dBFS (no model)",
    ),
)
