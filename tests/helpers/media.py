"""Tiny media generated in tests with numpy, PyAV and soundfile (no fixtures on disk)."""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

import av
import numpy as np
import soundfile as sf


def gradient_frames(t: int = 16, h: int = 32, w: int = 48, *, level: int | None = None) -> np.ndarray:
    """uint8 T x H x W x 3 frames; brightness rises over time unless `level` fixes it."""
    frames = np.empty((t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        value = level if level is not None else int(200 * i / max(t - 1, 1)) + 20
        frames[i] = value
        frames[i, :, : w // 2, 0] = 255 - value
    return frames


def sine(
    seconds: float = 0.5,
    sample_rate: int = 16000,
    *,
    freq: float = 440.0,
    amp: float = 0.5,
    channels: int = 1,
) -> np.ndarray:
    """float32 C x N sine wave."""
    n = int(seconds * sample_rate)
    x = (amp * np.sin(2 * np.pi * freq * np.arange(n) / sample_rate)).astype(np.float32)
    return np.repeat(x[None, :], channels, axis=0)


def encode_video(
    frames: np.ndarray,
    fps: int = 24,
    *,
    codec: str = "mpeg4",
    fmt: str = "mp4",
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    faststart: bool = False,
) -> bytes:
    """Encode RGB frames (and optional mono/stereo PCM as AAC) into a container's bytes."""
    options = {"movflags": "faststart"} if faststart else {}
    # faststart rewrites the file in a second pass, which needs a seekable real file.
    fd, path = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(fd)
    try:
        with av.open(path, "w", format=fmt, options=options) as c:
            vs: Any = c.add_stream(codec, rate=fps)
            vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            as_: Any = None
            if audio is not None:
                as_ = c.add_stream("aac", rate=sample_rate)
                as_.layout = "mono" if audio.shape[0] == 1 else "stereo"
            for f in frames:
                for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
            if as_ is not None and audio is not None:
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(audio, dtype=np.float32), format="fltp", layout=as_.layout.name
                )
                af.sample_rate = sample_rate
                for p in as_.encode(af):
                    c.mux(p)
                for p in as_.encode():
                    c.mux(p)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.remove(path)


def encode_audio(
    pcm: np.ndarray, sample_rate: int = 16000, fmt: str = "WAV", subtype: str | None = None
) -> bytes:
    """Encode float32 C x N PCM with soundfile (WAV, FLAC, OGG)."""
    buf = io.BytesIO()
    sf.write(buf, pcm.T, sample_rate, format=fmt, subtype=subtype)
    return buf.getvalue()
