"""Numpy-only media helpers of the client: validation and normalisation before anything is sent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft_client import (
    AudioSource,
    Sample,
    VideoSource,
    audio_bytes,
    audio_file,
    audio_pcm,
    video_bytes,
    video_file,
    video_frames,
)


def test_video_frames_valid() -> None:
    frames = np.zeros((3, 8, 6, 3), np.uint8)
    v = video_frames(frames, 24)
    assert isinstance(v, VideoSource) and v.kind == "frames" and v.fps == 24.0
    assert v.frames is not None and v.frames.shape == (3, 8, 6, 3) and v.data is None and v.uri is None


def test_video_frames_made_contiguous() -> None:
    frames = np.zeros((3, 8, 6, 3), np.uint8)[:, ::2]
    v = video_frames(frames, 8.0)
    assert v.frames is not None and v.frames.flags.c_contiguous


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((3, 8, 6, 3), np.float32),
        np.zeros((8, 6, 3), np.uint8),
        np.zeros((3, 8, 6, 4), np.uint8),
        np.zeros((0, 8, 6, 3), np.uint8),
    ],
    ids=["float", "3d", "rgba", "empty"],
)
def test_video_frames_rejects_bad_arrays(frames: np.ndarray) -> None:
    with pytest.raises(ValueError):
        video_frames(frames, 24.0)


@pytest.mark.parametrize("fps", [0, -1.0, float("nan"), float("inf")])
def test_video_frames_rejects_bad_fps(fps: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        video_frames(np.zeros((1, 2, 2, 3), np.uint8), fps)


def test_video_frames_rejects_non_arrays() -> None:
    with pytest.raises(TypeError):
        video_frames([[[[0, 0, 0]]]], 24.0)  # type: ignore[arg-type]


def test_bytes_sources() -> None:
    v = video_bytes(bytearray(b"abc"))
    assert v.kind == "container" and v.data == b"abc"
    a = audio_bytes(memoryview(b"RIFF"))
    assert isinstance(a, AudioSource) and a.kind == "container" and a.data == b"RIFF"
    with pytest.raises(ValueError, match="empty"):
        video_bytes(b"")
    with pytest.raises(TypeError):
        audio_bytes("not bytes")  # type: ignore[arg-type]


def test_file_sources(tmp_path: Path) -> None:
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"\x00\x01container")
    assert video_file(f).data == b"\x00\x01container"
    assert audio_file(str(f)).data == b"\x00\x01container"
    uri = video_file(f, as_uri=True)
    assert uri.kind == "uri" and uri.uri == f.resolve().as_uri() and uri.uri.startswith("file:///")
    assert audio_file(f, as_uri=True).uri == uri.uri
    with pytest.raises(FileNotFoundError):
        video_file(tmp_path / "missing.mp4", as_uri=True)
    with pytest.raises(FileNotFoundError):
        audio_file(tmp_path / "missing.wav")


def test_audio_pcm_mono_becomes_1xN_float32() -> None:
    a = audio_pcm(np.linspace(-1, 1, 11), 16000)
    assert a.kind == "pcm" and a.sample_rate == 16000
    assert a.pcm is not None and a.pcm.shape == (1, 11) and a.pcm.dtype == np.float32


def test_audio_pcm_int16_scaled() -> None:
    a = audio_pcm(np.array([[-32768, 0, 16384, 32767]], np.int16), 8000)
    assert a.pcm is not None and a.pcm.dtype == np.float32
    np.testing.assert_allclose(a.pcm, [[-1.0, 0.0, 0.5, 32767 / 32768]])


def test_audio_pcm_multichannel_kept() -> None:
    pcm = np.zeros((2, 100), np.float32)
    a = audio_pcm(pcm, 48000)
    assert a.pcm is not None and a.pcm.shape == (2, 100)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_audio_pcm_rejects_non_finite(bad: float) -> None:
    pcm = np.zeros(10, np.float32)
    pcm[3] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        audio_pcm(pcm, 16000)


def test_audio_pcm_rejects_float64_overflowing_float32() -> None:
    with pytest.raises(ValueError, match="NaN or Inf"):
        audio_pcm(np.array([1e300]), 16000)


@pytest.mark.parametrize(
    "pcm",
    [np.zeros(4, np.int32), np.zeros((1, 2, 3), np.float32), np.zeros((1, 0), np.float32)],
    ids=["int32", "3d", "empty"],
)
def test_audio_pcm_rejects_bad_arrays(pcm: np.ndarray) -> None:
    with pytest.raises(ValueError):
        audio_pcm(pcm, 16000)


def test_audio_pcm_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        audio_pcm(np.zeros(4, np.float32), 0)
    with pytest.raises(TypeError):
        audio_pcm(np.zeros(4, np.float32), 16000.0)  # type: ignore[arg-type]


def test_sample_checks_types() -> None:
    s = Sample("id", prompt="a dog barks", video=video_bytes(b"x"), audio=audio_bytes(b"y"))
    assert s.audio_prompt == "" and s.video is not None
    with pytest.raises(TypeError):
        Sample(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Sample("id", video=b"raw bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Sample("id", audio=video_bytes(b"x"))  # type: ignore[arg-type]
