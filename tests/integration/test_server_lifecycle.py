"""Health (NOT_SERVING until loaded + warmed up), reflection, graceful drain, load failures."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from omninft.reward_servers.scorers.base import ScorerConfig
from omninft_client.v1 import reward_pb2
from tests.helpers.media import gradient_frames
from tests.helpers.scorers import make
from tests.helpers.server import frames_video, running_server, sample

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PLUGIN = "tests.helpers.scorers:build"


async def test_not_serving_until_scorers_are_loaded_and_warmed_up() -> None:
    cfg = {
        "plugins": {"slow": PLUGIN},
        "scorers": {"slow": ScorerConfig(options={"load_delay_s": 1.0})},
    }
    async with running_server(wait=False, **cfg) as r:
        assert await r.health_status("") == NOT_SERVING
        assert await r.health_status() == NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(
                reward_pb2.ScoreRequest(samples=[sample(video=frames_video(gradient_frames()))]), timeout=5
            )
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "loading" in (err.value.details() or "")
        await r.server.wait_serving(10)
        assert await r.health_status("") == SERVING
        assert await r.health_status() == SERVING
        # Warm-up ran one sample through the full path before SERVING.
        assert r.server.scorers["slow"].items_seen == 1
        resp = await r.stub.Score(
            reward_pb2.ScoreRequest(samples=[sample(video=frames_video(gradient_frames()))]), timeout=10
        )
        assert "brightness" in resp.results[0].scores


async def test_failed_load_stays_not_serving() -> None:
    cfg = {
        "plugins": {"broken": PLUGIN},
        "scorers": {"broken": ScorerConfig(options={"kind": "no-such-kind"})},
    }
    async with running_server(wait=False, **cfg) as r:
        with pytest.raises(RuntimeError, match="no-such-kind"):
            await r.server.wait_serving(10)
        assert await r.health_status() == NOT_SERVING


async def test_reflection_lists_services() -> None:
    async with running_server() as r:
        db = ProtoReflectionDescriptorDatabase(grpc.insecure_channel(r.server.address))
        services = await asyncio.to_thread(db.get_services)
        assert "omninft.v1.RewardService" in services
        assert "grpc.health.v1.Health" in services


async def test_drain_finishes_in_flight_calls_and_refuses_new_ones() -> None:
    scorers = {"brightness": make("brightness", forward_delay_s=0.6)}
    async with running_server(scorers) as r:
        req = reward_pb2.ScoreRequest(samples=[sample(video=frames_video(gradient_frames()))])
        in_flight = asyncio.ensure_future(r.stub.Score(req, timeout=10))
        while r.server.servicer is None or r.server.servicer.inflight == 0:
            await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(r.server.stop(5))
        await asyncio.sleep(0.05)
        assert await r.health_status() == NOT_SERVING
        assert await r.health_status("") == NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(req, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        resp = await in_flight
        assert "brightness" in resp.results[0].scores
        await stopping


async def test_a_request_longer_than_the_connection_age_still_completes() -> None:
    # GOAWAY after 0.5 s; the 2 s forward must still finish within the (default) grace period.
    slow = {"brightness": make("brightness", forward_delay_s=2.0)}
    async with running_server(slow, max_connection_age_s=0.5, scorers={"brightness": ScorerConfig()}) as r:
        req = reward_pb2.ScoreRequest(
            samples=[sample(video=frames_video(gradient_frames(8, 16, 16)))], scorers=["brightness"]
        )
        resp = await r.stub.Score(req, timeout=30)
        assert "brightness" in resp.results[0].scores
