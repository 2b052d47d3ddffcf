"""Start real reward servers on 127.0.0.1:0 in-process and talk to them with the raw generated stubs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omninft.reward_servers.scorers.base import Scorer
from omninft.reward_servers.serving.app import RewardServer, create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client.v1 import reward_pb2, reward_pb2_grpc
from tests.helpers.scorers import make

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 512 * 1024 * 1024)]


@dataclass
class Running:
    """A started server, a channel to it and the stubs."""

    server: RewardServer
    channel: grpc.aio.Channel
    stub: reward_pb2_grpc.RewardServiceStub
    health: health_pb2_grpc.HealthStub

    async def health_status(self, service: str = "omninft.v1.RewardService") -> int:
        """Health status enum of `service`."""
        resp = await self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(resp.status)


def default_scorers(**options: Any) -> dict[str, Scorer]:
    """brightness (video), loudness (audio) and caption (prompt) test scorers."""
    return {k: make(k, **options) for k in ("brightness", "loudness", "caption")}


@contextlib.asynccontextmanager
async def running_server(
    prebuilt: Mapping[str, Scorer] | None = None,
    *,
    wait: bool = True,
    channel: grpc.aio.Channel | None = None,
    **cfg: Any,
) -> AsyncIterator[Running]:
    """A server on 127.0.0.1:0 (metrics on an ephemeral port) with prebuilt or plugin-built scorers."""
    config = ServerConfig(**{"port": 0, "metrics_port": 0, **cfg})
    if prebuilt is None and not config.scorers:
        prebuilt = default_scorers()
    server = create_server(config, prebuilt)
    await server.start()
    ch = channel or grpc.aio.insecure_channel(server.address, options=CHANNEL_OPTIONS)
    try:
        if wait:
            await server.wait_serving(30)
        yield Running(server, ch, reward_pb2_grpc.RewardServiceStub(ch), health_pb2_grpc.HealthStub(ch))
    finally:
        await ch.close()
        await server.stop(2)


def sample(sample_id: str = "s", **kw: Any) -> reward_pb2.Sample:
    """Shorthand for a wire Sample."""
    return reward_pb2.Sample(id=sample_id, **kw)


def frames_video(frames: np.ndarray, fps: float = 24.0) -> reward_pb2.Video:
    """Raw uint8 frames as a wire Video."""
    t = reward_pb2.Tensor(dtype=frames.dtype.name, shape=list(frames.shape), data=frames.tobytes())
    return reward_pb2.Video(frames=t, fps=fps)


def pcm_audio(pcm: np.ndarray, sample_rate: int = 16000) -> reward_pb2.Audio:
    """Raw float32 C x N PCM as a wire Audio."""
    t = reward_pb2.Tensor(dtype=pcm.dtype.name, shape=list(pcm.shape), data=pcm.tobytes())
    return reward_pb2.Audio(pcm=t, sample_rate=sample_rate)
