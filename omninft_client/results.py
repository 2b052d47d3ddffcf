"""What the clients return: per-sample score and embedding results, sample errors, server descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.rpc import status_pb2

from omninft_client.errors import (
    MissingEmbeddingError,
    MissingScoreError,
)


@dataclass(frozen=True)
class SampleError:
    """Why a sample (or one scorer on it) failed: a StatusCode name and the server's message."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_CODE_NAMES: dict[int, str] = {c.value[0]: c.name for c in grpc.StatusCode}


def _status_error(st: status_pb2.Status) -> SampleError:
    return SampleError(code=_CODE_NAMES.get(st.code, f"CODE_{st.code}"), message=st.message)


def _has_error(msg: Any) -> bool:
    # An explicitly set status with code OK carries no error.
    return bool(msg.HasField("error") and msg.error.code != 0)


def _scorer_errors(msg: Any) -> dict[str, SampleError]:
    return {name: _status_error(st) for name, st in msg.scorer_errors.items() if st.code != 0}


def _missing_cause(
    error: SampleError | None,
    scorer_errors: Mapping[str, SampleError],
    owners: Mapping[str, str],
    name: str,
) -> str:
    if error is not None:
        return f"the sample failed: {error}"
    owner = owners.get(name)
    if owner is not None and owner in scorer_errors:
        return f"scorer {owner!r} failed: {scorer_errors[owner]}"
    if scorer_errors:
        listed = "; ".join(f"{k}: {v}" for k, v in sorted(scorer_errors.items()))
        return f"not returned; scorer errors on this sample: {listed}"
    return "not returned by the server (was its scorer requested?)"


@dataclass(frozen=True)
class ScoreResult:
    """Scores of one sample; `error` is set when the whole sample failed, `scorer_errors` per failed scorer."""

    id: str
    scores: dict[str, float]
    error: SampleError | None = None
    scorer_errors: dict[str, SampleError] = field(default_factory=dict)
    # Output name -> scorer name, to say which scorer's failure explains a missing score.
    output_owners: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when neither the sample nor any scorer on it failed."""
        return self.error is None and not self.scorer_errors

    def score(self, name: str) -> float:
        """The named score; raises MissingScoreError (naming the cause) when it was not produced."""
        try:
            return self.scores[name]
        except KeyError:
            cause = _missing_cause(self.error, self.scorer_errors, self.output_owners, name)
            raise MissingScoreError(self.id, name, cause) from None


@dataclass(frozen=True)
class EmbedResult:
    """Embeddings of one sample keyed "<scorer>.<embedding>"; errors as in ScoreResult."""

    id: str
    embeddings: dict[str, np.ndarray]
    error: SampleError | None = None
    scorer_errors: dict[str, SampleError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when neither the sample nor any scorer on it failed."""
        return self.error is None and not self.scorer_errors

    def embedding(self, name: str) -> np.ndarray:
        """The named embedding; raises MissingEmbeddingError (naming the cause) when it was not produced."""
        try:
            return self.embeddings[name]
        except KeyError:
            owners = {name: name.split(".", 1)[0]}
            cause = _missing_cause(self.error, self.scorer_errors, owners, name)
            raise MissingEmbeddingError(self.id, name, cause) from None


@dataclass(frozen=True)
class ScorerInputSpec:
    """What a scorer reads, at its native rates (0 = any / not applicable)."""

    modalities: tuple[str, ...] = ()
    video_fps: float = 0.0
    video_frames: int = 0
    image_size: int = 0
    audio_sample_rate: int = 0
    max_audio_seconds: float = 0.0


@dataclass(frozen=True)
class ScorerDescription:
    """One scorer hosted by a server, as reported by ListScorers (provenance for results)."""

    name: str
    outputs: tuple[str, ...] = ()
    embeddings: tuple[str, ...] = ()
    version: str = ""
    weights_id: str = ""
    weights_sha256: str = ""
    tiny_weights: bool = False
    max_batch_size: int = 0
    input_spec: ScorerInputSpec = field(default_factory=ScorerInputSpec)
    backend: str = ""
    device: str = ""
    protocol: str = ""
    model_family: str = ""


@dataclass(frozen=True)
class ServerDescription:
    """A server's scorers and limits, as reported by ListScorers."""

    scorers: tuple[ScorerDescription, ...] = ()
    package_version: str = ""
    git_hash: str = ""
    max_samples_per_request: int = 0
    max_message_bytes: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the hosted scorers."""
        return tuple(s.name for s in self.scorers)

    def scorer(self, name: str) -> ScorerDescription:
        """The description of one hosted scorer (KeyError listing the hosted ones when absent)."""
        for s in self.scorers:
            if s.name == name:
                return s
        raise KeyError(f"server hosts no scorer {name!r}; it hosts {list(self.names)}")
