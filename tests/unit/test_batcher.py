"""MicroBatcher in plain asyncio: gates hold the forward call so batch formation is deterministic."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from omninft.reward_servers.scorers.base import InvalidSample
from omninft.reward_servers.serving.batcher import MicroBatcher
from omninft.reward_servers.serving.errors import (
    DeadlineExceededError,
    NotReadyError,
    QueueFullError,
    ScorerFailure,
)
from omninft.reward_servers.serving.metrics import ServerMetrics


class _Info:
    name = "gate"


class GatedScorer:
    """forward doubles numbers; it blocks on `gate` until released and records every batch it saw."""

    def __init__(self, *, gated: bool = False) -> None:
        self.info = _Info()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.entered = threading.Event()
        self.batches: list[list[Any]] = []

    def forward(self, items: Sequence[Any]) -> list[Any]:
        self.batches.append(list(items))
        self.entered.set()
        assert self.gate.wait(10)
        out: list[Any] = []
        for x in items:
            if x == "invalid":
                out.append(InvalidSample("odd item"))
            elif x == "boom" and len(items) > 1:
                raise RuntimeError("batch poisoned")
            elif x == "boom":
                raise RuntimeError("culprit")
            else:
                out.append(x * 2)
        return out


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def _batcher(scorer: Any, executor: ThreadPoolExecutor, **kw: Any) -> MicroBatcher:
    opts = {"max_batch_size": 4, "max_queue_delay_ms": 20.0, "max_queue_size": 16, **kw}
    return MicroBatcher(scorer, executor=executor, **opts)


async def _wait_entered(scorer: GatedScorer) -> None:
    """Wait (without blocking the loop) until forward has started."""
    for _ in range(500):
        if scorer.entered.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("forward never started")


async def test_full_batch_fires_without_waiting_for_the_delay(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer()
    b = _batcher(scorer, executor, max_queue_delay_ms=5000)
    t0 = time.monotonic()
    assert await asyncio.gather(*(b.submit(i) for i in range(4))) == [0, 2, 4, 6]
    assert time.monotonic() - t0 < 2.0
    assert scorer.batches == [[0, 1, 2, 3]]
    await b.aclose()


async def test_partial_batch_waits_for_the_queue_delay(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer()
    b = _batcher(scorer, executor, max_queue_delay_ms=100)
    t0 = time.monotonic()
    assert await asyncio.gather(b.submit(1), b.submit(2)) == [2, 4]
    assert time.monotonic() - t0 >= 0.09
    assert scorer.batches == [[1, 2]]
    await b.aclose()


async def test_items_arriving_during_a_forward_form_the_next_batches(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer(gated=True)
    b = _batcher(scorer, executor, max_queue_delay_ms=0)
    first = asyncio.ensure_future(b.submit(0))
    await _wait_entered(scorer)
    rest = [asyncio.ensure_future(b.submit(i)) for i in range(1, 7)]
    await asyncio.sleep(0.05)
    scorer.gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [2, 4, 6, 8, 10, 12]
    assert [len(x) for x in scorer.batches] == [1, 4, 2]
    await b.aclose()


async def test_full_queue_rejects_at_once(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer(gated=True)
    b = _batcher(scorer, executor, max_queue_size=2, max_queue_delay_ms=0)
    running = asyncio.ensure_future(b.submit(0))
    await _wait_entered(scorer)
    queued = b.submit_many([1, 2])
    t0 = time.monotonic()
    with pytest.raises(QueueFullError, match="queue is full"):
        await b.submit(3)
    with pytest.raises(QueueFullError, match="exceed"):
        b.submit_many([1, 2, 3])
    assert time.monotonic() - t0 < 0.1
    scorer.gate.set()
    assert await running == 0
    assert await asyncio.gather(*queued) == [2, 4]
    await b.aclose()


async def test_reservations_count_against_the_queue_until_submitted_or_released(
    executor: ThreadPoolExecutor,
) -> None:
    b = _batcher(GatedScorer(), executor, max_queue_size=4)
    b.reserve(3)  # a request holding room while its samples decode
    with pytest.raises(QueueFullError, match="3 reserved"):
        b.reserve(2)
    with pytest.raises(QueueFullError):
        b.submit_many([1, 2])  # another request cannot take the held room either
    futures = b.submit_many([1, 2], reserved=3)  # two samples survived preprocessing; the third slot is freed
    b.reserve(2)
    assert await asyncio.gather(*futures) == [2, 4]
    b.release(2)
    assert await asyncio.gather(*b.submit_many([1, 2, 3, 4])) == [2, 4, 6, 8]
    await b.aclose()


async def test_cancelled_items_are_skipped_and_free_their_slot(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer(gated=True)
    b = _batcher(scorer, executor, max_queue_size=1, max_queue_delay_ms=0)
    running = asyncio.ensure_future(b.submit(0))
    await _wait_entered(scorer)
    doomed = asyncio.ensure_future(b.submit(1))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.sleep(0)
    survivor = asyncio.ensure_future(b.submit(2))  # fits only because the cancelled item is pruned
    scorer.gate.set()
    assert await running == 0
    assert await survivor == 4
    assert doomed.cancelled()
    assert 1 not in [x for batch in scorer.batches for x in batch]
    await b.aclose()


async def test_expired_deadline_fails_the_item_without_running_it(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer(gated=True)
    b = _batcher(scorer, executor, max_queue_delay_ms=0)
    running = asyncio.ensure_future(b.submit(0))
    await _wait_entered(scorer)
    late = asyncio.ensure_future(b.submit(5, deadline=time.monotonic() + 0.05))
    ok = asyncio.ensure_future(b.submit(6, deadline=time.monotonic() + 30))
    await asyncio.sleep(0.1)
    scorer.gate.set()
    await running
    with pytest.raises(DeadlineExceededError):
        await late
    assert await ok == 12
    assert 5 not in [x for batch in scorer.batches for x in batch]
    await b.aclose()


async def test_invalid_sample_element_fails_only_that_item(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer()
    b = _batcher(scorer, executor, max_queue_delay_ms=50)
    results = await asyncio.gather(b.submit(1), b.submit("invalid"), b.submit(3), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], InvalidSample)
    assert len(scorer.batches) == 1
    await b.aclose()


async def test_crashing_batch_is_rerun_one_by_one(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer()
    b = _batcher(scorer, executor, max_queue_delay_ms=50)
    results = await asyncio.gather(b.submit(1), b.submit("boom"), b.submit(3), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ScorerFailure)
    assert "'gate' failed on this sample" in str(results[1])
    assert scorer.batches == [[1, "boom", 3], [1], ["boom"], [3]]
    await b.aclose()


class WrongLengthScorer:
    info = _Info()

    def forward(self, items: Sequence[Any]) -> list[Any]:
        return [1]


async def test_wrong_output_count_fails_every_item(executor: ThreadPoolExecutor) -> None:
    b = _batcher(WrongLengthScorer(), executor, max_queue_delay_ms=50)
    results = await asyncio.gather(b.submit(1), b.submit(2), return_exceptions=True)
    for r in results:
        assert isinstance(r, ScorerFailure)
        assert "returned 1 outputs for 2 items" in str(r)
    await b.aclose()


async def test_aclose_drains_queued_items_then_refuses_new_ones(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer(gated=True)
    b = _batcher(scorer, executor, max_queue_delay_ms=1000)
    futures = b.submit_many([1, 2, 3])
    scorer.gate.set()
    await b.aclose()
    assert [f.result() for f in futures] == [2, 4, 6]
    with pytest.raises(NotReadyError):
        await b.submit(4)


async def test_event_loop_stays_free_while_forward_runs(executor: ThreadPoolExecutor) -> None:
    scorer = GatedScorer(gated=True)
    b = _batcher(scorer, executor, max_queue_delay_ms=0)
    pending = asyncio.ensure_future(b.submit(1))
    await _wait_entered(scorer)
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.001)
        ticks += 1
    assert ticks == 5 and not pending.done()
    scorer.gate.set()
    assert await pending == 2
    await b.aclose()


async def test_metrics_record_batches_queue_time_and_outcomes(executor: ThreadPoolExecutor) -> None:
    metrics = ServerMetrics()
    scorer = GatedScorer()
    b = _batcher(scorer, executor, metrics=metrics, max_queue_delay_ms=30)
    await asyncio.gather(b.submit(1), b.submit(2), b.submit("invalid"), return_exceptions=True)
    await b.aclose()

    def value(name: str, **labels: str) -> float:
        v = metrics.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v

    assert value("omninft_batch_size_count", scorer="gate") == 1
    assert value("omninft_batch_size_sum", scorer="gate") == 3
    assert value("omninft_queue_time_seconds_count", scorer="gate") == 3
    assert value("omninft_samples_total", scorer="gate", outcome="ok") == 2
    assert value("omninft_samples_total", scorer="gate", outcome="invalid") == 1
    assert value("omninft_request_success_total", scorer="gate") == 2
    assert value("omninft_queue_duration_us_total", scorer="gate") > 0
    assert value("omninft_queue_depth", scorer="gate") == 0
