"""After a burst the server hands freed heap back to the OS (issue 13: RSS stayed near its overload peak)."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from omninft.reward_servers.serving import memory
from omninft_client.v1 import reward_pb2
from tests.helpers.media import gradient_frames
from tests.helpers.server import frames_video, running_server, sample

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def test_trim_heap_returns_freed_small_allocations() -> None:
    def churn() -> None:
        # Many small blocks from a non-main thread land in its own arena; freeing them leaves the pages mapped.
        blocks = [bytearray(2048) for _ in range(60_000)]
        del blocks[::2]
        keep.append(blocks[-1])

    keep: list[bytearray] = []
    t = threading.Thread(target=churn)
    t.start()
    t.join()
    before = _rss_kib()
    assert memory.trim_heap() is True
    assert _rss_kib() < before


async def test_server_trims_once_idle_after_a_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "trim_heap", lambda: calls.append(1) or True)
    req = reward_pb2.ScoreRequest(
        samples=[sample(video=frames_video(gradient_frames(4, 16, 16)))], scorers=["brightness"]
    )
    async with running_server() as r:
        await asyncio.sleep(1.5)
        assert calls == []  # no traffic, nothing to give back
        await asyncio.gather(*(r.stub.Score(req, timeout=10) for _ in range(8)))
        for _ in range(40):
            if calls:
                break
            await asyncio.sleep(0.1)
        assert len(calls) == 1
        await asyncio.sleep(1.5)
        assert len(calls) == 1  # idle and clean: no repeated trims
