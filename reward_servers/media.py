"""Media types shared by the decode stage and the scorers, and decoding of containers, tensors and file URIs.

This is one of the few modules allowed to do I/O (ARCHITECTURE.md §2 rule 5).
"""

from __future__ import annotations

import io
import math
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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
    return np.ascontiguousarray(
        np.asarray(soxr.resample(x.T, sr_in, sr_out, quality="HQ"), dtype=np.float32).T
    )


# ---------------------------------------------------------------------------------------------------------
# Decoding untrusted media. Every size read from a request is bounded before memory is allocated for it.
# ---------------------------------------------------------------------------------------------------------


class MediaError(ValueError):
    """Media that cannot be used (corrupt, truncated, empty, too large, wrong dtype/shape): fails one sample."""


# Largest frame side accepted from a tensor (libavcodec's own limit is lower, so containers never get here).
MAX_FRAME_SIDE = 16384
# Playlist-style demuxers open further files or URLs named inside the data: never follow them.
_REFUSED_FORMATS = frozenset({"hls", "applehttp", "concat", "dash", "tee", "image2", "segment"})
_PCM_DTYPE = np.dtype("<f4")
_FRAMES_DTYPE = np.dtype("u1")


@dataclass(frozen=True)
class MediaLimits:
    """Bounds on decoded media; requests beyond them fail with MediaError instead of allocating."""

    # Frames per clip (T).
    max_video_frames: int = 2048
    # Total decoded pixels per clip, T x H x W; 2**28 pixels is 768 MiB of RGB.
    max_video_pixels: int = 2**28
    # Seconds of audio per clip.
    max_audio_seconds: float = 600.0
    # Audio channels (C); more than 16 is not a real recording.
    max_audio_channels: int = 16
    # Highest accepted sample rate (Hz).
    max_sample_rate: int = 384_000


MediaSource = bytes | str | Path

# Peak |sample| accepted in float PCM: lossy decoders overshoot 1.0 a little, but 64 (+36 dBFS) can only be
# integer-scaled PCM sent as float or garbage; no reference clips it into a meaningful score.
MAX_PCM_AMPLITUDE = 64.0
# Characters of a client-supplied value repeated in an error message.
ECHO_CHARS = 80


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """repr() of a client-supplied value for error messages: ASCII-safe, cut to `limit` chars with a count."""
    text = ascii(os.fsdecode(value) if isinstance(value, bytes | Path) else value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


def _open_source(src: MediaSource) -> BinaryIO:
    """A binary file object for bytes or a local path (FFmpeg never opens paths or URLs itself)."""
    if isinstance(src, bytes | bytearray | memoryview):
        if len(src) == 0:
            raise MediaError("zero-length container")
        return io.BytesIO(src)
    path = Path(src)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise MediaError(f"cannot open {echo(path, 256)}: {exc.strerror or exc.__class__.__name__}") from None
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise MediaError(f"zero-length file {echo(path, 256)}")
    return fh


def _open_container(fh: BinaryIO) -> Any:
    """Open an input container with nested protocol access disabled; refuses playlist formats."""
    import av

    try:
        # Tags are free text in any encoding; decoding never depends on them (issue 13: Latin-1 titles).
        container = av.open(fh, mode="r", options={"protocol_whitelist": "pipe"}, metadata_errors="replace")
    except av.FFmpegError as exc:
        raise MediaError(f"not a readable media container ({_ffmpeg_reason(exc)})") from None
    names = set(container.format.name.split(","))
    if names & _REFUSED_FORMATS:
        container.close()
        raise MediaError(f"container format {container.format.name!r} is not accepted")
    return container


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's message without the errno and the '<none>' file name PyAV appends for file objects."""
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).strip()


def decode_video(data: MediaSource, *, max_frames: int, max_pixels: int) -> DecodedVideo:
    """Decode the first video stream of a container to uint8 RGB frames at its average frame rate."""
    import av

    with _open_source(data) as fh:
        container = _open_container(fh)
        with container:
            if not container.streams.video:
                raise MediaError("container has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise MediaError(f"video stream #{stream.index} has no usable decoder")
            # Frame/slice threads: same frames, about 1.5x faster on 2 cores.
            stream.thread_type = "AUTO"
            fps = _stream_fps(stream)
            frames: list[np.ndarray] = []
            pixels = 0
            try:
                for packet in container.demux(stream):
                    # FFmpeg marks a packet cut short by the end of the data as corrupt.
                    if packet.size and packet.is_corrupt:
                        raise MediaError(f"truncated or corrupt video data after {len(frames)} frames")
                    for frame in packet.decode():
                        pixels += frame.width * frame.height
                        if len(frames) >= max_frames:
                            raise MediaError(f"video has more than {max_frames} frames (server limit)")
                        if pixels > max_pixels:
                            raise MediaError(
                                f"video exceeds {max_pixels} decoded pixels, T x H x W (server limit)"
                            )
                        frames.append(frame.to_ndarray(format="rgb24"))
            except av.FFmpegError as exc:
                raise MediaError(
                    f"corrupt video stream after {len(frames)} frames ({_ffmpeg_reason(exc)})"
                ) from None
            if not frames:
                raise MediaError("video stream has no decodable frames")
            declared = int(stream.frames or 0)
            if declared > len(frames):
                raise MediaError(f"truncated video: decoded {len(frames)} of {declared} frames")
            if declared == 0 and len(container.streams) == 1 and container.duration:
                # Formats without a frame count (mkv, webm): compare with the container's duration instead.
                expected_s = container.duration / 1_000_000
                decoded_s = len(frames) / fps
                if decoded_s + 1.5 / fps + 1e-3 < expected_s:
                    raise MediaError(f"truncated video: decoded {decoded_s:.3f} s of {expected_s:.3f} s")
    if len({f.shape for f in frames}) > 1:
        raise MediaError("video frame size changes mid-stream; re-encode at one resolution")
    return DecodedVideo(frames=np.stack(frames), fps=fps)


def _stream_fps(stream: Any) -> float:
    """The stream's average frame rate (falling back to FFmpeg's guess); MediaError when unknown."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0 and math.isfinite(float(rate)):
            return float(rate)
    raise MediaError("video stream has no frame rate")


def decode_audio(data: MediaSource, *, max_seconds: float) -> DecodedAudio:
    """Decode audio to float32 C x N at its native rate: soundfile for wav/flac/ogg, PyAV for the rest.

    Samples are not clipped: lossy decoders may overshoot [-1, 1] slightly, as with librosa.load.
    """
    with _open_source(data) as fh:
        audio = _decode_audio_soundfile(fh, max_seconds)
        if audio is None:
            fh.seek(0)
            audio = _decode_audio_av(fh, max_seconds)
    if audio.pcm.shape[1] == 0:
        raise MediaError("audio stream has no samples")
    check_pcm_values(audio.pcm)
    return audio


def check_pcm_values(pcm: np.ndarray) -> None:
    """Refuse NaN/Inf samples and peaks beyond MAX_PCM_AMPLITUDE (float PCM is nominally in [-1, 1])."""
    if not np.isfinite(pcm).all():
        raise MediaError("audio contains NaN or Inf samples")
    peak = float(np.abs(pcm).max()) if pcm.size else 0.0
    if peak > MAX_PCM_AMPLITUDE:
        raise MediaError(
            f"audio peak amplitude {peak:.3g} is outside [-{MAX_PCM_AMPLITUDE:g}, {MAX_PCM_AMPLITUDE:g}]; float PCM "
            "must be scaled to [-1, 1] (integer samples divided by 32768)"
        )


def _decode_audio_soundfile(fh: BinaryIO, max_seconds: float) -> DecodedAudio | None:
    """Fast path through libsndfile; None when libsndfile does not recognise the format."""
    import soundfile as sf

    try:
        f = sf.SoundFile(fh)
    except sf.LibsndfileError:
        return None
    with f:
        seconds = f.frames / f.samplerate if f.samplerate else 0.0
        _check_audio_header(f.channels, f.samplerate, seconds, max_seconds)
        if f.format == "WAV" and _wav_data_missing(fh):
            raise MediaError("truncated WAV: the data chunk is shorter than its header says")
        try:
            pcm = f.read(dtype="float32", always_2d=True)
        except (RuntimeError, ValueError) as exc:
            raise MediaError(f"corrupt {f.format} audio ({exc})") from None
        if pcm.shape[0] < f.frames:
            raise MediaError(f"truncated {f.format} audio: read {pcm.shape[0]} of {f.frames} frames")
        sample_rate = int(f.samplerate)
    return DecodedAudio(pcm=np.ascontiguousarray(pcm.T), sample_rate=sample_rate)


def _wav_data_missing(fh: BinaryIO) -> bool:
    """True when a RIFF/WAVE data chunk declares more bytes than the file holds (libsndfile reads less silently)."""
    pos = fh.tell()
    try:
        fh.seek(0, io.SEEK_END)
        size = fh.tell()
        fh.seek(0)
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk = fh.read(8)
            length = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                # 0 and 0xFFFFFFFF mean "unknown length" (streamed writers), which is not truncation.
                return 0 < length < 0xFFFFFFFF and offset + 8 + length > size
            offset += 8 + length + (length & 1)
        return False
    finally:
        fh.seek(pos)


def _check_audio_header(channels: int, sample_rate: int, seconds: float, max_seconds: float) -> None:
    """Bounds on channels, rate and duration, checked before any sample is decoded."""
    if channels <= 0 or channels > MediaLimits.max_audio_channels:
        raise MediaError(f"audio has {channels} channels; 1 to {MediaLimits.max_audio_channels} are accepted")
    if sample_rate <= 0 or sample_rate > MediaLimits.max_sample_rate:
        raise MediaError(f"audio sample rate {sample_rate} Hz is outside 1..{MediaLimits.max_sample_rate}")
    if seconds > max_seconds:
        raise MediaError(f"audio is {seconds:.1f} s long; the server limit is {max_seconds:g} s")


def _decode_audio_av(fh: BinaryIO, max_seconds: float) -> DecodedAudio:
    """Decode the first audio stream of any FFmpeg container (mp4, mkv, mp3, aac, ...)."""
    import av

    container = _open_container(fh)
    with container:
        if not container.streams.audio:
            raise MediaError("container has no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            # FFmpeg knows the stream but has no decoder for its codec (e.g. a wav with format tag 0x0100).
            codec = getattr(getattr(stream, "codec", None), "name", None) or "unknown"
            raise MediaError(f"audio stream #{stream.index} has no usable decoder (codec {echo(codec)})")
        rate = int(stream.codec_context.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        _check_audio_header(channels, rate, 0.0, max_seconds)
        # Planar float keeps one row per channel whatever the codec's native sample format is.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
        chunks: list[np.ndarray] = []
        total = 0
        limit = int(max_seconds * rate)
        try:
            for packet in container.demux(stream):
                if packet.size and packet.is_corrupt:
                    raise MediaError(f"truncated or corrupt audio data after {total / rate:.3f} s")
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        total += out.samples
                        if total > limit:
                            raise MediaError(f"audio is longer than the server limit of {max_seconds:g} s")
                        chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.FFmpegError as exc:
            raise MediaError(f"corrupt audio stream ({_ffmpeg_reason(exc)})") from None
    if not chunks:
        raise MediaError("audio stream has no samples")
    pcm = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return DecodedAudio(pcm=np.ascontiguousarray(pcm), sample_rate=rate)


def _checked_shape(shape: Sequence[int], itemsize: int, nbytes: int, what: str) -> tuple[int, ...]:
    """Shape as ints after checking every dim is positive and shape x itemsize == nbytes (no allocation)."""
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise MediaError(f"{what} shape {list(dims)} has a negative dimension")
    if any(d == 0 for d in dims):
        raise MediaError(f"{what} is empty: shape {list(dims)}")
    expected = math.prod(dims) * itemsize
    if expected != nbytes:
        raise MediaError(
            f"{what} shape {list(dims)} x {itemsize} byte(s) = {expected} bytes, but {nbytes} bytes were sent"
        )
    return dims


def frames_from_tensor(
    dtype: str, shape: Sequence[int], data: bytes, *, limits: MediaLimits, fps: float
) -> DecodedVideo:
    """View raw uint8 T x H x W x 3 frame bytes as a DecodedVideo without copying, after bounds checks."""
    if dtype != "uint8":
        raise MediaError(f"video frames must have dtype uint8, got {echo(dtype)}")
    if len(shape) != 4:
        raise MediaError(f"video frames must have rank 4 (T x H x W x 3), got shape {list(shape)}")
    t, h, w, c = (int(d) for d in shape)
    if c != 3:
        raise MediaError(f"video frames must have 3 channels (RGB) in the last axis, got shape {list(shape)}")
    if t > limits.max_video_frames:
        raise MediaError(f"video has {t} frames; the server limit is {limits.max_video_frames}")
    if h > MAX_FRAME_SIDE or w > MAX_FRAME_SIDE:
        raise MediaError(f"frame size {h}x{w} exceeds {MAX_FRAME_SIDE} pixels per side")
    if t * h * w > limits.max_video_pixels:
        raise MediaError(
            f"video has {t * h * w} pixels (T x H x W); the server limit is {limits.max_video_pixels}"
        )
    if not (math.isfinite(fps) and 0 < fps <= 1000):
        raise MediaError(f"video fps must be in (0, 1000] with raw frames, got {fps}")
    dims = _checked_shape(shape, 1, len(data), "video frames")
    return DecodedVideo(frames=np.frombuffer(data, dtype=_FRAMES_DTYPE).reshape(dims), fps=float(fps))


def pcm_from_tensor(
    dtype: str, shape: Sequence[int], data: bytes, *, limits: MediaLimits, sample_rate: int
) -> DecodedAudio:
    """View raw float32 C x N PCM bytes (little-endian) as DecodedAudio without copying, after checks."""
    if dtype != "float32":
        raise MediaError(f"audio pcm must have dtype float32, got {echo(dtype)}")
    if len(shape) != 2:
        raise MediaError(f"audio pcm must have rank 2 (C x N), got shape {list(shape)}")
    c, n = (int(d) for d in shape)
    if c > limits.max_audio_channels:
        raise MediaError(
            f"audio pcm has {c} channels (C x N expected); the server limit is {limits.max_audio_channels}"
        )
    if not 0 < sample_rate <= limits.max_sample_rate:
        raise MediaError(
            f"audio sample_rate must be in 1..{limits.max_sample_rate} with raw pcm, got {sample_rate}"
        )
    if n > limits.max_audio_seconds * sample_rate:
        raise MediaError(
            f"audio is {n / sample_rate:.1f} s long; the server limit is {limits.max_audio_seconds:g} s"
        )
    dims = _checked_shape(shape, _PCM_DTYPE.itemsize, len(data), "audio pcm")
    pcm = np.frombuffer(data, dtype=_PCM_DTYPE).reshape(dims)
    check_pcm_values(pcm)
    return DecodedAudio(pcm=pcm, sample_rate=int(sample_rate))


def resolve_file_uri(uri: str, allowed_roots: Sequence[str | Path]) -> Path:
    """Map a file:// URI to an existing regular file whose real path lies under one of `allowed_roots`."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError as exc:  # e.g. an unbalanced '[' in the host ("Invalid IPv6 URL")
        raise MediaError(f"not a valid URI ({exc})") from None
    if parts.scheme.lower() != "file":
        raise MediaError(f"only file:// URIs are accepted, got scheme {echo(parts.scheme or '(none)')}")
    if parts.netloc not in ("", "localhost"):
        raise MediaError(f"file URI host must be empty or localhost, got {echo(parts.netloc)}")
    if parts.query or parts.fragment:
        raise MediaError("file URI must not have a query or fragment")
    if not allowed_roots:
        raise MediaError("this server accepts no file:// URIs (no allowed roots configured)")
    # Percent-escapes name bytes, not UTF-8 text: a POSIX file name may be any bytes (os.fsdecode keeps them
    # as surrogate escapes, so the path opens; messages show them with echo()).
    raw = os.fsdecode(urllib.parse.unquote_to_bytes(parts.path.encode("utf-8", "surrogateescape")))
    if "\x00" in raw:
        raise MediaError("file URI contains a NUL byte")
    # Checked on the decoded path, so %2e%2e counts too; a '..' is refused even when it would stay inside.
    if ".." in raw.split("/"):
        raise MediaError("file URI must not contain '..' segments")
    if not raw.startswith("/"):
        raise MediaError("file URI must hold an absolute path")
    try:
        real = Path(raw).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise MediaError(f"file {echo(raw, 256)} does not exist") from None
    except (OSError, RuntimeError) as exc:
        raise MediaError(f"cannot resolve {echo(raw, 256)}: {exc.__class__.__name__}") from None
    for root in allowed_roots:
        try:
            real_root = Path(root).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real.is_relative_to(real_root):
            if not real.is_file():
                raise MediaError(f"{echo(raw, 256)} is not a regular file")
            return real
    raise MediaError(f"{echo(raw, 256)} is outside the server's allowed roots")
