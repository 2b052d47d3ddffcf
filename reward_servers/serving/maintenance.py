"""Health (NOT_SERVING until scorers are loaded and warmed up) and server reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tritonclient.grpc import service_pb2

from omninft_client.v1 import reward_pb2

# Names come from the descriptors, never typed by hand.
REWARD_SERVICE = reward_pb2.DESCRIPTOR.services_by_name["RewardService"].full_name
INFERENCE_SERVICE = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# "" is the whole server (liveness probe); REWARD_SERVICE (or the KServe front's name) is readiness.
HEALTH_NAMES = ("", REWARD_SERVICE, INFERENCE_SERVICE)


class Maintenance:
    """The server's health servicer plus reflection registration."""

    def __init__(self) -> None:
        self.health = health.aio.HealthServicer()

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register health and reflection on `server`."""
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (REWARD_SERVICE, INFERENCE_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME), server
        )

    def add_health_only(self, server: grpc.aio.Server) -> None:
        """Register only the health service on `server` (the plaintext probe port)."""
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)

    async def set_serving(self, serving: bool) -> None:
        """Flip every health name to SERVING or NOT_SERVING (ignored once draining)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in HEALTH_NAMES:
            await self.health.set(name, status)

    async def enter_graceful_shutdown(self) -> None:
        """NOT_SERVING for good: load balancers and probes stop sending traffic."""
        await self.health.enter_graceful_shutdown()
