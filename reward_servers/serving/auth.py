"""Bearer-token authentication and TLS credentials for the gRPC server."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc

from omninft.reward_servers.serving.config import TLSConfig

# Kubernetes' native gRPC probes cannot send headers, and reflection carries no data: both stay open.
DEFAULT_EXEMPT_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every RPC except the exempt services."""

    def __init__(self, token: str, exempt_services: Iterable[str] = DEFAULT_EXEMPT_SERVICES) -> None:
        if not token:
            raise ValueError("an empty bearer token would accept everyone")
        self._expected = f"Bearer {token}".encode()
        self._exempt = tuple(f"/{s}/" for s in exempt_services)

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        """Constant-time comparison of the authorization header with the expected value."""
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                got = value.encode() if isinstance(value, str) else bytes(value)
                return hmac.compare_digest(got, self._expected)
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Pass exempt or authorized calls through; answer the rest UNAUTHENTICATED, unknown methods included.

        The rejecting handler has no request deserializer: an unauthenticated body is never parsed.
        """
        method = handler_call_details.method or ""
        if method.startswith(self._exempt) or self._authorized(handler_call_details):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        return _rejecting_handler(handler)


def _rejecting_handler(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` (unary for unknown methods) that aborts UNAUTHENTICATED unparsed."""

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token (authorization metadata)"
        )

    kw = {"response_serializer": handler.response_serializer if handler is not None else None}
    if handler is None or handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(deny, **kw)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(deny, **kw)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(deny, **kw)
    return grpc.stream_stream_rpc_method_handler(deny, **kw)


def server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    """grpc.ssl_server_credentials from PEM files (mutual TLS when a client CA is configured)."""
    key = Path(tls.key_file).read_bytes()
    cert = Path(tls.cert_file).read_bytes()
    client_ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=bool(tls.require_client_auth and client_ca),
    )
