"""Typed client errors: gRPC status codes become exceptions, missing outputs become KeyErrors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.rpc import status_pb2

REQUEST_ID_KEY = "x-request-id"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class RewardError(Exception):
    """A failed reward-service call, carrying its gRPC status code, details and request id."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        details: str,
        *,
        code: grpc.StatusCode | None = None,
        request_id: str | None = None,
        status: status_pb2.Status | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.details = details
        self.request_id = request_id
        # The rich google.rpc.Status (e.g. BadRequest field violations), when the server attached one.
        self.status = status
        super().__init__(details)

    def __str__(self) -> str:
        rid = f" (request_id={self.request_id})" if self.request_id else ""
        return f"{self.code.name}: {self.details}{rid}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments need explicit pickling support (multiprocessing, executors).
        return (_rebuild, (type(self), self.details, self.code, self.request_id))


def _rebuild(
    cls: type[RewardError], details: str, code: grpc.StatusCode, request_id: str | None
) -> RewardError:
    return cls(details, code=code, request_id=request_id)


class InvalidArgumentError(RewardError):
    """The request or a sample was malformed (never retried)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class ResourceExhaustedError(RewardError):
    """The server's queue was full (retried with backoff, then raised)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(RewardError):
    """The server was unreachable, not ready or draining."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(RewardError):
    """The call's deadline passed before the server answered."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class UnauthenticatedError(RewardError):
    """The server refused the call's credentials (token missing or wrong)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(RewardError):
    """The caller is authenticated but not allowed to make this call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotFoundError(RewardError):
    """A referenced resource (e.g. a media URI) does not exist on the server."""

    code = grpc.StatusCode.NOT_FOUND


class InternalError(RewardError):
    """The server failed unexpectedly, or answered something that breaks the protocol."""

    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[RewardError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        ResourceExhaustedError,
        UnavailableError,
        DeadlineExceededError,
        UnauthenticatedError,
        PermissionDeniedError,
        NotFoundError,
        InternalError,
    )
}


def error_for_code(
    code: grpc.StatusCode,
    details: str,
    *,
    request_id: str | None = None,
    status: status_pb2.Status | None = None,
) -> RewardError:
    """Build the typed exception for a status code (RewardError itself for codes without a subclass)."""
    cls = _BY_CODE.get(code, RewardError)
    return cls(details, code=code, request_id=request_id, status=status)


def _metadata_items(metadata: Any) -> Iterable[tuple[str, Any]]:
    if metadata is None:
        return ()
    try:
        return [(str(k), v) for k, v in metadata]
    except (TypeError, ValueError):
        return ()


def from_rpc_error(err: grpc.RpcError, *, request_id: str | None = None) -> RewardError:
    """Turn a grpc (sync or aio) RpcError into a typed RewardError; `request_id` is the fallback id."""
    code_fn = getattr(err, "code", None)
    code = code_fn() if callable(code_fn) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details_fn = getattr(err, "details", None)
    details = details_fn() if callable(details_fn) else None
    trailing_fn = getattr(err, "trailing_metadata", None)
    trailing = trailing_fn() if callable(trailing_fn) else None
    server_rid: str | None = None
    status: status_pb2.Status | None = None
    for key, value in _metadata_items(trailing):
        if key == REQUEST_ID_KEY and server_rid is None:
            server_rid = value.decode() if isinstance(value, bytes) else str(value)
        elif key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:  # a malformed detail blob must not hide the real error
                status = None
    return error_for_code(code, details or code.name, request_id=server_rid or request_id, status=status)


class MissingOutputError(KeyError):
    """A requested output is absent from a result; the message names the error that caused it."""

    def __init__(self, sample_id: str, name: str, cause: str) -> None:
        self.sample_id = sample_id
        self.name = name
        self.cause = cause
        super().__init__(name)

    def __str__(self) -> str:
        return f"sample {self.sample_id!r}: no {self._kind} {self.name!r}: {self.cause}"

    _kind = "output"


class MissingScoreError(MissingOutputError):
    """A score was not produced for a sample; it is never defaulted."""

    _kind = "score"


class MissingEmbeddingError(MissingOutputError):
    """An embedding was not produced for a sample; it is never defaulted."""

    _kind = "embedding"
