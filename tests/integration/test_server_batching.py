"""Batching under concurrency, bounded queues, deadlines and cancellation, crash isolation."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from omninft.reward_servers.scorers.base import ScorerConfig
from omninft_client.v1 import reward_pb2
from tests.helpers.media import gradient_frames
from tests.helpers.scorers import make
from tests.helpers.server import Running, frames_video, running_server, sample

FRAMES = gradient_frames(8, 16, 16)


def one(sample_id: str = "s", level: int | None = None) -> reward_pb2.ScoreRequest:
    frames = FRAMES if level is None else gradient_frames(8, 16, 16, level=level)
    return reward_pb2.ScoreRequest(samples=[sample(sample_id, video=frames_video(frames))])


async def _until_running(r: Running, batches_before: int) -> None:
    """Wait until the brightness scorer has started another forward call."""
    scorer = r.server.scorers["brightness"]
    for _ in range(500):
        if len(scorer.batch_sizes) > batches_before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("forward never started")


async def test_concurrent_requests_are_batched() -> None:
    scorer = make("brightness", forward_delay_s=0.05, max_batch_size=8)
    cfg = {"scorers": {"brightness": ScorerConfig(max_batch_size=8, max_queue_delay_ms=20)}}
    async with running_server({"brightness": scorer}, **cfg) as r:
        before = len(scorer.batch_sizes)
        resps = await asyncio.gather(*(r.stub.Score(one(str(i)), timeout=30) for i in range(16)))
        assert all("brightness" in x.results[0].scores for x in resps)
        sizes = scorer.batch_sizes[before:]
        assert sum(sizes) == 16 and max(sizes) > 1, sizes
        reg = r.server.metrics.registry
        count = reg.get_sample_value("omninft_batch_size_count", {"scorer": "brightness"})
        total = reg.get_sample_value("omninft_batch_size_sum", {"scorer": "brightness"})
        assert count is not None and total is not None and total / count > 1.0


async def test_full_queue_is_resource_exhausted_at_once() -> None:
    scorer = make("brightness", forward_delay_s=0.3, max_batch_size=1)
    cfg = {
        "max_samples_per_request": 1,
        "scorers": {"brightness": ScorerConfig(max_batch_size=1, max_queue_delay_ms=0, max_queue_size=1)},
    }
    async with running_server({"brightness": scorer}, **cfg) as r:
        before = len(scorer.batch_sizes)
        running = asyncio.ensure_future(r.stub.Score(one("running"), timeout=10))
        await _until_running(r, before)
        queued = asyncio.ensure_future(r.stub.Score(one("queued"), timeout=10))
        while r.server.batchers["brightness"].queue_depth == 0:
            await asyncio.sleep(0.005)
        t0 = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(one("rejected"), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in (err.value.details() or "")
        assert time.monotonic() - t0 < 0.3
        assert "brightness" in (await running).results[0].scores
        assert "brightness" in (await queued).results[0].scores


async def test_queued_request_past_its_deadline_is_not_run() -> None:
    scorer = make("brightness", forward_delay_s=0.3, max_batch_size=1)
    cfg = {"scorers": {"brightness": ScorerConfig(max_batch_size=1, max_queue_delay_ms=0)}}
    async with running_server({"brightness": scorer}, **cfg) as r:
        before = len(scorer.batch_sizes)
        items_before = scorer.items_seen
        running = asyncio.ensure_future(r.stub.Score(one("running"), timeout=10))
        await _until_running(r, before)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(one("late"), timeout=0.15)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await running
        await asyncio.sleep(0.1)
        assert scorer.items_seen == items_before + 1
        assert r.server.batchers["brightness"].queue_depth == 0


async def test_cancelled_request_is_skipped() -> None:
    scorer = make("brightness", forward_delay_s=0.3, max_batch_size=1)
    cfg = {"scorers": {"brightness": ScorerConfig(max_batch_size=1, max_queue_delay_ms=0)}}
    async with running_server({"brightness": scorer}, **cfg) as r:
        before = len(scorer.batch_sizes)
        items_before = scorer.items_seen
        running = asyncio.ensure_future(r.stub.Score(one("running"), timeout=10))
        await _until_running(r, before)
        call = r.stub.Score(one("cancelled"), timeout=10)
        while r.server.batchers["brightness"].queue_depth == 0:
            await asyncio.sleep(0.005)
        call.cancel()
        await running
        await asyncio.sleep(0.1)
        assert scorer.items_seen == items_before + 1


async def test_a_crashing_sample_fails_alone_with_internal_and_request_id() -> None:
    scorer = make("brightness", explode_above=0.8, max_batch_size=8)
    cfg = {"scorers": {"brightness": ScorerConfig(max_batch_size=8, max_queue_delay_ms=10)}}
    async with running_server({"brightness": scorer}, **cfg) as r:
        req = reward_pb2.ScoreRequest(
            samples=[
                sample("a", video=frames_video(gradient_frames(8, 16, 16, level=50))),
                sample("white", video=frames_video(gradient_frames(8, 16, 16, level=255))),
                sample("b", video=frames_video(gradient_frames(8, 16, 16, level=100))),
            ]
        )
        call = r.stub.Score(req, metadata=(("x-request-id", "crash-1"),), timeout=30)
        resp = await call
        a, white, b = resp.results
        assert "brightness" in a.scores and "brightness" in b.scores
        status = white.scorer_errors["brightness"]
        assert status.code == grpc.StatusCode.INTERNAL.value[0]
        assert "request id crash-1" in status.message
        assert "Traceback" not in status.message and "overflow" not in status.message
        # The poisoned batch of 3 was re-run item by item.
        assert scorer.batch_sizes[-4:] == [3, 1, 1, 1]
        # And the server still serves.
        again = await r.stub.Score(one(), timeout=10)
        assert "brightness" in again.results[0].scores


async def test_oversized_message_is_resource_exhausted() -> None:
    # gRPC itself rejects a message above grpc.max_receive_message_length with RESOURCE_EXHAUSTED
    # ("Received message larger than max"); the handler never runs.
    async with running_server(max_message_bytes=1024 * 1024) as r:
        big = gradient_frames(64, 64, 128)  # 1.5 MiB of frames
        req = reward_pb2.ScoreRequest(samples=[sample(video=frames_video(big))])
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(req, timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (err.value.details() or "")
        assert await r.health_status() == 1
