"""Serving-layer exceptions and their gRPC status codes; builders for per-sample google.rpc.Status."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2


class ServingError(Exception):
    """An error with a gRPC status code; its message is safe to show to clients."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class BadRequestError(ServingError):
    """The request as a whole is malformed (no samples, too many, unknown scorer)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class SampleError(ServingError):
    """One sample is unusable before any scorer saw it (undecodable media, prompt too long, bad URI)."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class QueueFullError(ServingError):
    """A scorer's queue cannot take the request's items; the client should back off or try another replica."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceededError(ServingError):
    """The caller's deadline passed while its item was still queued; the item was not run."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotReadyError(ServingError):
    """Scorers are still loading, or the server is draining."""

    code = grpc.StatusCode.UNAVAILABLE


class ScorerFailure(ServingError):
    """A scorer crashed on one sample (logged server-side with its traceback); fails only that sample."""

    code = grpc.StatusCode.INTERNAL


def internal_message(request_id: str) -> str:
    """Client-facing text for unexpected errors: no traceback, just the id to find the server log entry."""
    return f"internal server error; see the server log for request id {request_id}"


def _rpc_code(code: grpc.StatusCode) -> int:
    """grpc.StatusCode -> google.rpc.Code integer."""
    value: int = code.value[0]
    return value


def make_status(
    code: grpc.StatusCode, message: str, *, field_violations: Sequence[tuple[str, str]] = ()
) -> status_pb2.Status:
    """A google.rpc.Status; INVALID_ARGUMENT carries the offending fields as BadRequest details."""
    status = status_pb2.Status(code=_rpc_code(code), message=message)
    if field_violations:
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in field_violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return status


def invalid_sample_status(message: str, field: str) -> status_pb2.Status:
    """Per-sample INVALID_ARGUMENT naming the field (e.g. samples[2].video.container)."""
    return make_status(grpc.StatusCode.INVALID_ARGUMENT, message, field_violations=[(field, message)])
