"""Media types shared by the decode stage and the scorers, and decoding of containers, tensors and file URIs.

This is one of the few modules allowed to do I/O (ARCHITECTURE.md §2 rule 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodedVideo:
    """Decoded frames at the stream's native rate: uint8 RGB, shape T x H x W x 3."""

    frames: np.ndarray
    fps: float

    @property
    def duration_s(self) -> float:
        """Clip duration in seconds (frame count / fps)."""
        return self.frames.shape[0] / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded PCM at the stream's native rate: float32 in [-1, 1], shape C x N."""

    pcm: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.pcm.shape[1] / self.sample_rate if self.sample_rate > 0 else 0.0


@dataclass(frozen=True)
class DecodedSample:
    """One request sample after decoding; shared read-only by every scorer of the request."""

    id: str
    prompt: str = ""
    audio_prompt: str = ""
    video: DecodedVideo | None = None
    audio: DecodedAudio | None = None

    @property
    def audio_text(self) -> str:
        """The caption for text-audio scorers: `audio_prompt`, falling back to `prompt` (JavisBench rule)."""
        return self.audio_prompt or self.prompt


def to_mono(pcm: np.ndarray) -> np.ndarray:
    """Average channels (librosa.to_mono semantics): C x N -> N, float32."""
    if pcm.ndim == 1:
        return pcm.astype(np.float32, copy=False)
    return pcm.mean(axis=0, dtype=np.float64).astype(np.float32)


def resample(signal: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis with soxr 'HQ', the default of librosa.load (res_type='soxr_hq').

    JavisBench and OmniNFT load audio with librosa at the scorer's rate, so this reproduces their input.
    """
    import soxr

    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return signal.astype(np.float32, copy=False)
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim == 1:
        return np.asarray(soxr.resample(x, sr_in, sr_out, quality="HQ"), dtype=np.float32)
    # soxr wants frames x channels
    return np.ascontiguousarray(np.asarray(soxr.resample(x.T, sr_in, sr_out, quality="HQ"), dtype=np.float32).T)
