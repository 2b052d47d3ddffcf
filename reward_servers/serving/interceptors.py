"""Cross-cutting server concerns: request ids, latency/outcome metrics, and the last-resort error guard."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc

from omninft.reward_servers.serving.errors import internal_message
from omninft.reward_servers.serving.metrics import ServerMetrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("omninft_request_id", default="")
# Ids longer than this are replaced: they end up in logs and trailers.
_MAX_ID_CHARS = 128


def current_request_id() -> str:
    """The request id of the RPC being handled ('' outside an RPC)."""
    return _request_id.get()


@contextlib.contextmanager
def use_request_id(request_id: str) -> Iterator[None]:
    """Run a block under `request_id` (server-internal work such as warm-up)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def _incoming_id(details: grpc.HandlerCallDetails) -> str:
    """The caller's x-request-id when it is a sane printable token, else a fresh uuid4 hex."""
    for key, value in details.invocation_metadata or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str):
            if 0 < len(value) <= _MAX_ID_CHARS and value.isprintable():
                return value
    return uuid.uuid4().hex


def method_label(full_method: str) -> str:
    """'/omninft.v1.RewardService/Score' -> 'omninft.v1.RewardService/Score'."""
    return full_method.lstrip("/")


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Sets the request id (contextvar + trailing metadata), times unary RPCs, and hides unexpected errors.

    Unexpected exceptions become INTERNAL with the request id; the traceback goes to the server log only.
    """

    def __init__(self, metrics: ServerMetrics | None) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wrap unary-unary handlers; streaming ones (health Watch, reflection) only get the request id."""
        rid = _incoming_id(handler_call_details)
        _request_id.set(rid)
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = method_label(handler_call_details.method)
        metrics = self._metrics

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            _request_id.set(rid)
            context.set_trailing_metadata(((REQUEST_ID_HEADER, rid),))
            start = time.perf_counter()
            code = "OK"
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                code = _code_name(context.code())
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error in %s (request id %s)", method, rid)
                await context.abort(
                    grpc.StatusCode.INTERNAL, internal_message(rid), trailing_metadata=((REQUEST_ID_HEADER, rid),)
                )
            except BaseException:
                remaining = context.time_remaining()
                code = "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
                raise
            finally:
                if metrics is not None:
                    metrics.observe_request(method, code, time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(code: Any) -> str:
    """StatusCode (or None) -> 'NOT_FOUND' style label."""
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
