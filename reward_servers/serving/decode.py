"""Wire sample -> DecodedSample: validation and media decoding of one request sample (runs in a thread pool)."""

from __future__ import annotations

from dataclasses import dataclass

from omninft.reward_servers.media import (
    DecodedAudio,
    DecodedSample,
    DecodedVideo,
    MediaError,
    MediaLimits,
    decode_audio,
    decode_video,
    frames_from_tensor,
    pcm_from_tensor,
    resolve_file_uri,
)
from omninft.reward_servers.serving.decode_cache import DecodeCache, bytes_key, file_key
from omninft.reward_servers.serving.errors import SampleError
from omninft_client.v1 import reward_pb2


@dataclass(frozen=True)
class DecodePolicy:
    """Request-independent decoding rules taken from the server config."""

    limits: MediaLimits
    allowed_roots: tuple[str, ...]
    max_prompt_chars: int
    # Shared decoded media (None = decode every time).
    cache: DecodeCache | None = None


@dataclass(frozen=True)
class DecodeResult:
    """A decoded sample plus the modalities that failed to decode (modality -> error).

    A bad audio track fails only the scorers that read audio; video-only scorers still score the sample.
    """

    sample: DecodedSample
    failed: dict[str, SampleError]
    # Modalities served from the decode cache (not decoded again by this request).
    reused: frozenset[str] = frozenset()


def decode_sample(
    index: int, sample: reward_pb2.Sample, policy: DecodePolicy, *, need_video: bool, need_audio: bool
) -> DecodeResult:
    """Validate and decode sample `index`; only the modalities some requested scorer reads are decoded.

    Raises SampleError for whole-sample problems (oversized prompts); media errors are kept per modality.
    A missing modality is not an error here (the scorers that need it fail individually).
    """
    for name in ("prompt", "audio_prompt"):
        text = getattr(sample, name)
        if len(text) > policy.max_prompt_chars:
            raise SampleError(
                f"{name} has {len(text)} characters; the server limit is {policy.max_prompt_chars}",
                f"samples[{index}].{name}",
            )
    failed: dict[str, SampleError] = {}
    reused: set[str] = set()
    video = audio = None
    if need_video and sample.HasField("video"):
        try:
            video, hit = _video(index, sample, policy)
            if hit:
                reused.add("video")
        except SampleError as exc:
            failed["video"] = exc
    if need_audio and sample.HasField("audio"):
        try:
            audio, hit = _audio(index, sample, policy)
            if hit:
                reused.add("audio")
        except SampleError as exc:
            failed["audio"] = exc
    decoded = DecodedSample(
        id=sample.id, prompt=sample.prompt, audio_prompt=sample.audio_prompt, video=video, audio=audio
    )
    return DecodeResult(decoded, failed, frozenset(reused))


def _video(index: int, sample: reward_pb2.Sample, policy: DecodePolicy) -> tuple[DecodedVideo, bool]:
    """Decode Sample.video from whichever source it carries; also whether it came from the decode cache."""
    v = sample.video
    source = v.WhichOneof("source")
    field = f"samples[{index}].video.{source or 'source'}"
    lim = policy.limits
    cache = policy.cache
    try:
        if source == "container":
            data = v.container
            if cache is None:
                return decode_video(
                    data, max_frames=lim.max_video_frames, max_pixels=lim.max_video_pixels
                ), False
            return cache.get_or_decode(
                bytes_key("video", data),
                lambda: decode_video(data, max_frames=lim.max_video_frames, max_pixels=lim.max_video_pixels),
            )
        if source == "frames":
            t = v.frames
            return frames_from_tensor(t.dtype, t.shape, t.data, limits=lim, fps=v.fps), False
        if source == "uri":
            path = resolve_file_uri(v.uri, policy.allowed_roots)
            if cache is None:
                return decode_video(
                    path, max_frames=lim.max_video_frames, max_pixels=lim.max_video_pixels
                ), False
            return cache.get_or_decode(
                file_key("video", path),
                lambda: decode_video(path, max_frames=lim.max_video_frames, max_pixels=lim.max_video_pixels),
            )
    except MediaError as exc:
        raise SampleError(f"video: {exc}", field) from None
    raise SampleError("video has no container, frames or uri", field)


def _audio(index: int, sample: reward_pb2.Sample, policy: DecodePolicy) -> tuple[DecodedAudio, bool]:
    """Decode Sample.audio from whichever source it carries; also whether it came from the decode cache."""
    a = sample.audio
    source = a.WhichOneof("source")
    field = f"samples[{index}].audio.{source or 'source'}"
    lim = policy.limits
    cache = policy.cache
    try:
        if source == "container":
            data = a.container
            if cache is None:
                return decode_audio(data, max_seconds=lim.max_audio_seconds), False
            return cache.get_or_decode(
                bytes_key("audio", data), lambda: decode_audio(data, max_seconds=lim.max_audio_seconds)
            )
        if source == "pcm":
            t = a.pcm
            return pcm_from_tensor(t.dtype, t.shape, t.data, limits=lim, sample_rate=a.sample_rate), False
        if source == "uri":
            path = resolve_file_uri(a.uri, policy.allowed_roots)
            if cache is None:
                return decode_audio(path, max_seconds=lim.max_audio_seconds), False
            return cache.get_or_decode(
                file_key("audio", path), lambda: decode_audio(path, max_seconds=lim.max_audio_seconds)
            )
    except MediaError as exc:
        raise SampleError(f"audio: {exc}", field) from None
    raise SampleError("audio has no container, pcm or uri", field)
