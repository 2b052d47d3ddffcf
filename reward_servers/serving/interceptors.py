"""Cross-cutting server concerns: request ids, latency/outcome metrics, request parsing and the last-resort guard.

Interceptor order (outermost first): RequestContextInterceptor, BearerTokenInterceptor (when a token is set),
ParseRequestInterceptor. Handlers reach gRPC without a request deserializer, so the body stays raw bytes until
authentication has passed, and an unparsable body is INVALID_ARGUMENT instead of an UNKNOWN with a traceback.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc

from omninft.reward_servers.serving.errors import internal_message
from omninft.reward_servers.serving.metrics import ServerMetrics

# A grpc.aio handler: (request, grpc.aio.ServicerContext) -> awaitable (unary) or async iterator (streaming).
# grpc.aio stores these in grpc.RpcMethodHandler, whose stubs describe synchronous handlers only.
AioHandler = Callable[..., Any]

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


def message_type_name(deserializer: Callable[[bytes], Any] | None) -> str:
    """'omninft.v1.ScoreRequest' for a generated Message.FromString, else a generic label."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", "")
    return name if isinstance(name, str) and name else "request message"


class ParseRequestInterceptor(grpc.aio.ServerInterceptor):
    """Innermost: parses unary request bytes itself so a malformed body is INVALID_ARGUMENT, logged in one line.

    Streaming-request handlers (reflection) are left to gRPC.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Replace the request deserializer of unary-request handlers with a checked parse in the handler."""
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer
        type_name = message_type_name(parse)
        method = method_label(handler_call_details.method or "")

        async def parsed(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                return parse(raw)
            except Exception as exc:  # DecodeError, RecursionError on nesting, anything the parser raises
                rid = current_request_id()
                log.warning(
                    "%s: request id %s: %d bytes are not a valid %s (%s)",
                    method,
                    rid,
                    len(raw),
                    type_name,
                    type(exc).__name__,
                )
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"request is not a valid {type_name}; request id {rid}",
                    trailing_metadata=((REQUEST_ID_HEADER, rid),),
                )

        if handler.unary_unary is not None:
            inner_uu: AioHandler = handler.unary_unary  # grpc.aio keeps coroutines in the sync-typed slot

            async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                request = await parsed(raw, context)
                return await inner_uu(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, response_serializer=handler.response_serializer
            )
        inner_us: AioHandler | None = handler.unary_stream
        if inner_us is None:
            return handler
        if inspect.isasyncgenfunction(inner_us):

            async def stream_gen(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                request = await parsed(raw, context)
                async for item in inner_us(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                stream_gen, response_serializer=handler.response_serializer
            )

        async def stream_writer(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            # Handlers that write with context.write (health Watch) are coroutines, not generators.
            request = await parsed(raw, context)
            return await inner_us(request, context)

        return grpc.unary_stream_rpc_method_handler(
            stream_writer, response_serializer=handler.response_serializer
        )


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Sets the request id (contextvar + trailing metadata), times unary RPCs, and hides unexpected errors.

    Unexpected exceptions become INTERNAL with the request id; the traceback goes to the server log only.
    """

    def __init__(self, metrics: ServerMetrics | None) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Wrap unary-unary handlers; streaming ones (health Watch, reflection) only get the request id."""
        rid = _incoming_id(handler_call_details)
        _request_id.set(rid)
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner: AioHandler = handler.unary_unary
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
                    grpc.StatusCode.INTERNAL,
                    internal_message(rid),
                    trailing_metadata=((REQUEST_ID_HEADER, rid),),
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
