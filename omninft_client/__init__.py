"""omninft client: call omninft reward servers from any training or evaluation loop (no torch needed)."""

from __future__ import annotations

from importlib import metadata as _metadata

from omninft_client.aio import AsyncRewardClient
from omninft_client.client import RewardClient
from omninft_client.errors import (
    DeadlineExceededError,
    InternalError,
    InvalidArgumentError,
    MissingEmbeddingError,
    MissingOutputError,
    MissingScoreError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RewardError,
    UnauthenticatedError,
    UnavailableError,
    from_rpc_error,
)
from omninft_client.media import (
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
from omninft_client.results import (
    EmbedResult,
    SampleError,
    ScorerDescription,
    ScoreResult,
    ScorerInputSpec,
    ServerDescription,
)
from omninft_client.retry import RetryPolicy


def _version() -> str:
    try:
        return _metadata.version("omninft")
    except _metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

__all__ = [
    "AsyncRewardClient",
    "AudioSource",
    "DeadlineExceededError",
    "EmbedResult",
    "InternalError",
    "InvalidArgumentError",
    "MissingEmbeddingError",
    "MissingOutputError",
    "MissingScoreError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "RetryPolicy",
    "RewardClient",
    "RewardError",
    "Sample",
    "SampleError",
    "ScoreResult",
    "ScorerDescription",
    "ScorerInputSpec",
    "ServerDescription",
    "UnauthenticatedError",
    "UnavailableError",
    "VideoSource",
    "__version__",
    "audio_bytes",
    "audio_file",
    "audio_pcm",
    "from_rpc_error",
    "video_bytes",
    "video_file",
    "video_frames",
]
