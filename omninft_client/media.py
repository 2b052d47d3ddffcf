"""Numpy-only media descriptions sent to reward servers: container bytes, decoded tensors or file:// URIs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

SourceKind = Literal["container", "frames", "uri"]
AudioKind = Literal["container", "pcm", "uri"]

_INT16_SCALE = 1.0 / 32768.0


@dataclass(frozen=True, eq=False)
class VideoSource:
    """One video: a container's bytes, uint8 T x H x W x 3 RGB frames at `fps`, or a file:// URI."""

    kind: SourceKind
    data: bytes | None = None
    frames: np.ndarray | None = None
    uri: str | None = None
    fps: float = 0.0


@dataclass(frozen=True, eq=False)
class AudioSource:
    """One audio track: a container's bytes, float32 C x N PCM at `sample_rate`, or a file:// URI."""

    kind: AudioKind
    data: bytes | None = None
    pcm: np.ndarray | None = None
    uri: str | None = None
    sample_rate: int = 0


@dataclass(frozen=True, eq=False)
class Sample:
    """One generated sample to score: an id echoed in results, prompts and optional video/audio."""

    id: str
    prompt: str = ""
    audio_prompt: str = ""
    video: VideoSource | None = None
    audio: AudioSource | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise TypeError(f"Sample.id must be a str, got {type(self.id).__name__}")
        if not isinstance(self.prompt, str) or not isinstance(self.audio_prompt, str):
            raise TypeError("Sample.prompt and Sample.audio_prompt must be str")
        if self.video is not None and not isinstance(self.video, VideoSource):
            raise TypeError("Sample.video must be a VideoSource (see video_frames/video_bytes/video_file)")
        if self.audio is not None and not isinstance(self.audio, AudioSource):
            raise TypeError("Sample.audio must be an AudioSource (see audio_pcm/audio_bytes/audio_file)")


def _as_bytes(data: bytes | bytearray | memoryview, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, got {type(data).__name__}")
    out = bytes(data)
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def _file_uri(path: str | os.PathLike[str]) -> str:
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise FileNotFoundError(f"no such media file: {p}")
    return p.as_uri()


def video_frames(frames: np.ndarray, fps: float) -> VideoSource:
    """Describe decoded video: uint8 RGB frames of shape T x H x W x 3 played at `fps`."""
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape T x H x W x 3, got {frames.shape}")
    if min(frames.shape) == 0:
        raise ValueError(f"frames must not be empty, got shape {frames.shape}")
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive finite number, got {fps}")
    return VideoSource(kind="frames", frames=np.ascontiguousarray(frames), fps=fps)


def video_bytes(data: bytes) -> VideoSource:
    """Describe a video container (mp4, mkv, webm, ...) given as bytes; the server decodes it."""
    return VideoSource(kind="container", data=_as_bytes(data, "video data"))


def video_file(path: str | os.PathLike[str], *, as_uri: bool = False) -> VideoSource:
    """Read a video file's bytes, or (as_uri) reference it as a file:// URI the server reads itself."""
    if as_uri:
        return VideoSource(kind="uri", uri=_file_uri(path))
    return video_bytes(Path(path).expanduser().read_bytes())


def audio_pcm(pcm: np.ndarray, sample_rate: int) -> AudioSource:
    """Describe decoded audio: 1-D (mono) or C x N PCM; int16 is scaled to [-1, 1), floats become float32."""
    if not isinstance(pcm, np.ndarray):
        raise TypeError(f"pcm must be a numpy array, got {type(pcm).__name__}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise TypeError(f"sample_rate must be an int, got {type(sample_rate).__name__}")
    if int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if pcm.ndim == 1:
        pcm = pcm[None, :]
    if pcm.ndim != 2:
        raise ValueError(f"pcm must be 1-D or C x N, got shape {pcm.shape}")
    if min(pcm.shape) == 0:
        raise ValueError(f"pcm must not be empty, got shape {pcm.shape}")
    if pcm.dtype == np.int16:
        out = pcm.astype(np.float32) * np.float32(_INT16_SCALE)
    elif np.issubdtype(pcm.dtype, np.floating):
        # Values beyond float32's range become Inf here and are refused just below.
        with np.errstate(over="ignore"):
            out = pcm.astype(np.float32, copy=False)
    else:
        raise ValueError(f"pcm must be int16 or floating point, got {pcm.dtype}")
    if not np.isfinite(out).all():
        raise ValueError("pcm contains NaN or Inf")
    return AudioSource(kind="pcm", pcm=np.ascontiguousarray(out), sample_rate=int(sample_rate))


def audio_bytes(data: bytes) -> AudioSource:
    """Describe an audio (or audio-video) container given as bytes; the first audio stream is used."""
    return AudioSource(kind="container", data=_as_bytes(data, "audio data"))


def audio_file(path: str | os.PathLike[str], *, as_uri: bool = False) -> AudioSource:
    """Read an audio file's bytes, or (as_uri) reference it as a file:// URI the server reads itself."""
    if as_uri:
        return AudioSource(kind="uri", uri=_file_uri(path))
    return audio_bytes(Path(path).expanduser().read_bytes())
