"""Decoding untrusted media: containers, raw tensors, file URIs (tiny generated media)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.media import (
    MediaError,
    MediaLimits,
    decode_audio,
    decode_video,
    frames_from_tensor,
    pcm_from_tensor,
    resolve_file_uri,
)
from tests.helpers.media import encode_audio, encode_video, gradient_frames, sine

FRAMES = gradient_frames(16, 32, 48)
LIMITS = MediaLimits()


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode_video(FRAMES, fps=24, audio=sine(0.5))


def test_decode_video_rgb_frames_and_rate(clip: bytes) -> None:
    v = decode_video(clip, max_frames=100, max_pixels=10**7)
    assert v.frames.shape == (16, 32, 48, 3) and v.frames.dtype == np.uint8
    assert v.fps == 24.0
    # Lossy codec: per-frame means track the source.
    np.testing.assert_allclose(v.frames.mean(axis=(1, 2, 3)), FRAMES.mean(axis=(1, 2, 3)), atol=4)


@pytest.mark.parametrize(
    ("codec", "fmt"), [("libx264", "mp4"), ("libvpx-vp9", "webm"), ("mpeg4", "matroska")]
)
def test_decode_video_other_codecs(codec: str, fmt: str) -> None:
    v = decode_video(encode_video(FRAMES[:4], fps=12, codec=codec, fmt=fmt), max_frames=100, max_pixels=10**7)
    assert v.frames.shape == (4, 32, 48, 3) and v.fps == 12.0


def test_decode_video_from_path(tmp_path: Path, clip: bytes) -> None:
    p = tmp_path / "clip.mp4"
    p.write_bytes(clip)
    assert decode_video(p, max_frames=100, max_pixels=10**7).frames.shape[0] == 16


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "zero-length"),
        (b"\x00" * 64, "not a readable media container"),
        (b"ffconcat version 1.0\nfile /etc/passwd\n", "not"),
        (b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "not"),
    ],
    ids=["empty", "garbage", "concat-playlist", "hls-playlist"],
)
def test_decode_video_rejects_bad_containers(data: bytes, fragment: str) -> None:
    with pytest.raises(MediaError, match=fragment):
        decode_video(data, max_frames=100, max_pixels=10**7)


def test_decode_video_truncated_mp4_with_index_first() -> None:
    data = encode_video(FRAMES, faststart=True)
    for cut in (0.6, 0.9):
        with pytest.raises(MediaError, match="truncated|no decodable frames"):
            decode_video(data[: int(len(data) * cut)], max_frames=100, max_pixels=10**7)


def test_decode_video_truncated_mp4_with_index_last(clip: bytes) -> None:
    with pytest.raises(MediaError):
        decode_video(clip[: len(clip) // 2], max_frames=100, max_pixels=10**7)


def test_decode_video_truncated_webm_is_detected_from_duration() -> None:
    data = encode_video(FRAMES, codec="libvpx-vp9", fmt="webm")
    with pytest.raises(MediaError, match="truncated"):
        decode_video(data[: int(len(data) * 0.6)], max_frames=100, max_pixels=10**7)


def test_decode_video_limits(clip: bytes) -> None:
    with pytest.raises(MediaError, match="more than 8 frames"):
        decode_video(clip, max_frames=8, max_pixels=10**7)
    with pytest.raises(MediaError, match="decoded pixels"):
        decode_video(clip, max_frames=100, max_pixels=32 * 48 * 3)


def test_decode_video_without_video_stream() -> None:
    with pytest.raises(MediaError, match="no video stream"):
        decode_video(encode_audio(sine()), max_frames=100, max_pixels=10**7)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_decode_audio_soundfile_formats(fmt: str) -> None:
    pcm = sine(0.5, 16000, channels=2)
    a = decode_audio(encode_audio(pcm, 16000, fmt=fmt), max_seconds=10)
    assert a.sample_rate == 16000 and a.pcm.dtype == np.float32 and a.pcm.shape == (2, 8000)
    tol = 1e-3 if fmt != "OGG" else 0.1
    np.testing.assert_allclose(a.pcm, pcm, atol=tol)


def test_decode_audio_track_of_an_mp4(clip: bytes) -> None:
    a = decode_audio(clip, max_seconds=10)
    assert a.sample_rate == 16000 and a.pcm.shape[0] == 1
    # AAC adds priming/padding samples around the 0.5 s tone.
    assert 8000 <= a.pcm.shape[1] <= 8000 + 2048
    assert 0.4 < np.abs(a.pcm).max() < 0.6


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (encode_audio(np.zeros((1, 0), np.float32)), "no samples"),
        (encode_audio(sine(2.0)), "server limit"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "not a readable media container"),
    ],
    ids=["zero-length", "too-long", "garbage"],
)
def test_decode_audio_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(MediaError, match=fragment):
        decode_audio(data, max_seconds=1.0)


def test_decode_audio_truncated_wav_and_flac() -> None:
    wav = encode_audio(sine(0.5))
    with pytest.raises(MediaError, match="truncated WAV"):
        decode_audio(wav[: len(wav) // 2], max_seconds=10)
    flac = encode_audio(sine(0.5), fmt="FLAC")
    with pytest.raises(MediaError, match="corrupt FLAC|truncated FLAC"):
        decode_audio(flac[: len(flac) // 2], max_seconds=10)


def test_decode_audio_nan_in_float_wav() -> None:
    x = sine(0.1)
    x[0, 3] = np.nan
    with pytest.raises(MediaError, match="NaN or Inf"):
        decode_audio(encode_audio(x, subtype="FLOAT"), max_seconds=10)


def test_decode_audio_video_only_container() -> None:
    with pytest.raises(MediaError, match="no audio stream"):
        decode_audio(encode_video(FRAMES[:2]), max_seconds=10)


def test_frames_from_tensor_is_a_zero_copy_view() -> None:
    data = FRAMES.tobytes()
    v = frames_from_tensor("uint8", list(FRAMES.shape), data, limits=LIMITS, fps=24.0)
    np.testing.assert_array_equal(v.frames, FRAMES)
    assert not v.frames.flags.writeable  # a view on the request bytes, not a copy


@pytest.mark.parametrize(
    ("dtype", "shape", "nbytes", "fps", "fragment"),
    [
        ("float32", [1, 2, 2, 3], 48, 24.0, "dtype uint8"),
        ("uint8", [2, 2, 3], 12, 24.0, "rank 4"),
        ("uint8", [1, 2, 2, 4], 16, 24.0, "3 channels"),
        ("uint8", [1, 2, 2, 3], 11, 24.0, "11 bytes were sent"),
        ("uint8", [0, 2, 2, 3], 0, 24.0, "empty"),
        ("uint8", [1, -2, 2, 3], 0, 24.0, "negative"),
        ("uint8", [10**9, 10**9, 10**9, 3], 3, 24.0, "server limit"),
        ("uint8", [1, 10**5, 1, 3], 3 * 10**5, 24.0, "per side"),
        ("uint8", [1, 2, 2, 3], 12, 0.0, "fps"),
        ("uint8", [1, 2, 2, 3], 12, float("nan"), "fps"),
    ],
)
def test_frames_from_tensor_rejects(
    dtype: str, shape: list[int], nbytes: int, fps: float, fragment: str
) -> None:
    with pytest.raises(MediaError, match=fragment):
        frames_from_tensor(dtype, shape, b"\x00" * nbytes, limits=LIMITS, fps=fps)


def test_pcm_from_tensor_round_trip() -> None:
    pcm = sine(0.25, 16000, channels=2)
    a = pcm_from_tensor(
        "float32", list(pcm.shape), pcm.astype("<f4").tobytes(), limits=LIMITS, sample_rate=16000
    )
    np.testing.assert_array_equal(a.pcm, pcm)
    assert a.sample_rate == 16000


@pytest.mark.parametrize(
    ("dtype", "shape", "nbytes", "sr", "fragment"),
    [
        ("int16", [1, 4], 8, 16000, "float32"),
        ("float32", [4], 16, 16000, "rank 2"),
        ("float32", [17, 1], 68, 16000, "channels"),
        ("float32", [1, 4], 15, 16000, "15 bytes were sent"),
        ("float32", [1, 0], 0, 16000, "empty"),
        ("float32", [1, 4], 16, 0, "sample_rate"),
        ("float32", [1, 10**12], 4, 16000, "server limit"),
    ],
)
def test_pcm_from_tensor_rejects(dtype: str, shape: list[int], nbytes: int, sr: int, fragment: str) -> None:
    with pytest.raises(MediaError, match=fragment):
        pcm_from_tensor(dtype, shape, b"\x00" * nbytes, limits=LIMITS, sample_rate=sr)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pcm_from_tensor_non_finite(bad: float) -> None:
    x = sine(0.01)
    x[0, 1] = bad
    with pytest.raises(MediaError, match="NaN or Inf"):
        pcm_from_tensor("float32", list(x.shape), x.tobytes(), limits=LIMITS, sample_rate=16000)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    (allowed / "sub" / "a b.mp4").write_bytes(b"x")
    (outside / "secret.mp4").write_bytes(b"x")
    (allowed / "escape.mp4").symlink_to(outside / "secret.mp4")
    (allowed / "inner.mp4").symlink_to(allowed / "sub" / "a b.mp4")
    return allowed, outside


def test_resolve_file_uri_accepts_files_under_a_root(roots: tuple[Path, Path]) -> None:
    allowed, _ = roots
    target = allowed / "sub" / "a b.mp4"
    assert resolve_file_uri(target.as_uri(), [allowed]) == target.resolve()
    assert (
        resolve_file_uri(f"file://localhost{target}".replace(" ", "%20"), [str(allowed)]) == target.resolve()
    )
    # A symlink that stays inside the root is fine.
    assert resolve_file_uri((allowed / "inner.mp4").as_uri(), [allowed]) == target.resolve()


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("{outside}/secret.mp4", "outside the server's allowed roots"),
        ("{allowed}/escape.mp4", "outside the server's allowed roots"),
        ("{allowed}/../outside/secret.mp4", "'..'"),
        ("{allowed}/sub/%2E%2E/../outside/secret.mp4", "'..'"),
        ("{allowed}/sub/..", "'..'"),
        ("{allowed}/missing.mp4", "does not exist"),
        ("{allowed}/sub", "not a regular file"),
        ("http://127.0.0.1/x.mp4", "only file://"),
        ("s3://bucket/x.mp4", "only file://"),
        ("/etc/passwd", "only file://"),
        ("file://otherhost/etc/passwd", "host"),
        ("{allowed}/sub/a%00b.mp4", "NUL"),
    ],
)
def test_resolve_file_uri_refuses(roots: tuple[Path, Path], uri: str, fragment: str) -> None:
    allowed, outside = roots
    if "{" in uri:
        uri = "file://" + uri.format(allowed=allowed, outside=outside)
    with pytest.raises(MediaError, match=fragment):
        resolve_file_uri(uri, [allowed])


def test_resolve_file_uri_refuses_everything_without_roots(roots: tuple[Path, Path]) -> None:
    allowed, _ = roots
    with pytest.raises(MediaError, match="no allowed roots"):
        resolve_file_uri((allowed / "sub" / "a b.mp4").as_uri(), [])
