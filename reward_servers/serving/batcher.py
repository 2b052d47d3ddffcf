"""asyncio micro-batcher: queue items per scorer, run one batched forward in the device executor.

Each caller awaits its own future, so every item has its own outcome: a result, InvalidSample (that item
only), ScorerFailure (that item only), or DeadlineExceededError (expired while queued, never run).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from omninft.reward_servers.scorers.base import InvalidSample, Scorer
from omninft.reward_servers.serving.errors import (
    DeadlineExceededError,
    NotReadyError,
    QueueFullError,
    ScorerFailure,
)
from omninft.reward_servers.serving.metrics import ServerMetrics

log = logging.getLogger(__name__)


class _ContractError(Exception):
    """The scorer broke the forward contract (wrong number of outputs): every item of the batch fails."""


@dataclass(eq=False)
class _Pending:
    """One queued item and the future its caller awaits."""

    item: Any
    future: asyncio.Future[Any]
    deadline: float | None
    enqueued: float
    request_id: str
    queue_s: float = 0.0


class MicroBatcher:
    """Forms batches of up to `max_batch_size` items, waiting at most `max_queue_delay_ms` after the oldest."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        max_batch_size: int,
        max_queue_delay_ms: float,
        max_queue_size: int,
        executor: Executor,
        metrics: ServerMetrics | None = None,
        name: str | None = None,
    ) -> None:
        if max_batch_size <= 0 or max_queue_size <= 0 or max_queue_delay_ms < 0:
            raise ValueError("max_batch_size and max_queue_size must be positive, max_queue_delay_ms >= 0")
        self.scorer = scorer
        self.name = name or scorer.info.name
        self.max_batch_size = max_batch_size
        self.max_queue_size = max_queue_size
        self._delay_s = max_queue_delay_ms / 1000.0
        self._executor = executor
        self._metrics = metrics
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._reserved = 0

    @property
    def max_queue_delay_ms(self) -> float:
        """Longest wait for a batch to fill, in milliseconds."""
        return self._delay_s * 1000.0

    @property
    def queue_depth(self) -> int:
        """Items waiting (cancelled ones not yet pruned included)."""
        return len(self._queue)

    async def submit(self, item: Any, *, deadline: float | None = None, request_id: str = "") -> Any:
        """Queue one item and wait for its raw forward output. `deadline` is in time.monotonic() seconds."""
        (future,) = self.submit_many([item], deadline=deadline, request_id=request_id)
        return await future

    def reserve(self, n: int) -> None:
        """Hold room for `n` items before decoding them, so an overloaded server rejects before doing any work.

        Raises QueueFullError at once when the room is not there; pair with submit_many(reserved=n) or release(n).
        """
        self._admit(n, held=0)
        self._reserved += n

    def release(self, n: int) -> None:
        """Give back room held by reserve() that will not be submitted."""
        self._reserved = max(0, self._reserved - n)

    def _admit(self, n: int, *, held: int) -> None:
        """Raise unless `n` more items fit next to the queue and other requests' reservations."""
        if self._closing:
            raise NotReadyError(f"scorer {self.name!r} is shutting down")
        if n > self.max_queue_size:
            raise QueueFullError(
                f"{n} items exceed scorer {self.name!r}'s whole queue ({self.max_queue_size}); send smaller requests"
            )
        others = self._reserved - held
        if len(self._queue) + others + n > self.max_queue_size:
            self._prune()
            if len(self._queue) + others + n > self.max_queue_size:
                raise QueueFullError(
                    f"scorer {self.name!r} queue is full ({len(self._queue)} queued, {others} reserved, of "
                    f"{self.max_queue_size}); retry with backoff or add replicas"
                )

    def submit_many(
        self, items: Sequence[Any], *, deadline: float | None = None, request_id: str = "", reserved: int = 0
    ) -> list[asyncio.Future[Any]]:
        """Queue all `items` or none (QueueFullError); returns one future per item, in order.

        `reserved` is the room this request already holds (reserve()); it is released here either way.
        Cancelling a returned future (e.g. the RPC was cancelled) makes the batcher skip that item.
        """
        try:
            self._admit(len(items), held=reserved)
        finally:
            self.release(reserved)
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futures: list[asyncio.Future[Any]] = []
        for item in items:
            future: asyncio.Future[Any] = loop.create_future()
            self._queue.append(_Pending(item, future, deadline, now, request_id))
            futures.append(future)
        self._report_depth()
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"batcher-{self.name}")
        self._wake.set()
        return futures

    async def aclose(self) -> None:
        """Stop accepting items, run everything already queued, then stop the background task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def cancel_pending(self, reason: str = "server stopped") -> None:
        """Fail every queued item with UNAVAILABLE (hard stop after the drain grace)."""
        while self._queue:
            p = self._queue.popleft()
            if not p.future.done():
                p.future.set_exception(NotReadyError(reason))
        self._report_depth()

    def _prune(self) -> None:
        """Drop items whose callers are gone."""
        self._queue = deque(p for p in self._queue if not p.future.done())
        self._report_depth()

    def _report_depth(self) -> None:
        """Publish the queue depth gauge."""
        if self._metrics is not None:
            self._metrics.set_queue_depth(self.name, len(self._queue))

    async def _run(self) -> None:
        """Background loop: form a batch, run it, repeat until closed and empty."""
        try:
            while True:
                batch = await self._next_batch()
                if batch is None:
                    return
                if batch:
                    await self._execute(batch)
        except Exception:
            # A bug here would otherwise leave every caller waiting forever.
            log.exception("batcher %s crashed", self.name)
            self._closing = True
            self.cancel_pending(f"scorer {self.name!r} batcher crashed")

    async def _next_batch(self) -> list[_Pending] | None:
        """Wait for a full batch or the oldest item's delay; None when closing with nothing queued."""
        while True:
            while self._queue and self._queue[0].future.done():
                self._queue.popleft()
            if self._queue:
                break
            if self._closing:
                self._report_depth()
                return None
            self._wake.clear()
            await self._wake.wait()
        fire_at = self._queue[0].enqueued + self._delay_s
        while len(self._queue) < self.max_batch_size and not self._closing:
            remaining = fire_at - time.monotonic()
            if remaining <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                break
        batch: list[_Pending] = []
        now = time.monotonic()
        while self._queue and len(batch) < self.max_batch_size:
            p = self._queue.popleft()
            if p.future.done():
                continue
            if p.deadline is not None and p.deadline <= now:
                p.future.set_exception(
                    DeadlineExceededError(f"deadline passed while queued for scorer {self.name!r}")
                )
                self._count(p, "deadline")
                continue
            p.queue_s = now - p.enqueued
            batch.append(p)
        self._report_depth()
        return batch

    def _timed_forward(self, items: list[Any]) -> Any:
        """scorer.forward timed inside the device thread: waiting for the thread (shared by every scorer on
        the device) is not forward time."""
        t0 = time.perf_counter()
        try:
            return self.scorer.forward(items)
        finally:
            if self._metrics is not None:
                self._metrics.observe_stage(self.name, "forward", time.perf_counter() - t0)

    async def _forward(self, items: list[Any]) -> list[Any]:
        """One forward call in the device executor, with the output count checked."""
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(self._executor, self._timed_forward, items)
        if not isinstance(outputs, list | tuple) or len(outputs) != len(items):
            got = len(outputs) if isinstance(outputs, list | tuple) else type(outputs).__name__
            raise _ContractError(
                f"scorer {self.name!r} forward returned {got} outputs for {len(items)} items"
            )
        return list(outputs)

    async def _execute(self, batch: list[_Pending]) -> None:
        """Run a batch; on a crash re-run its items one by one so only the culprit fails."""
        if self._metrics is not None:
            self._metrics.observe_batch(self.name, len(batch))
            for p in batch:
                self._metrics.observe_queue(self.name, p.queue_s)
        try:
            outputs = await self._forward([p.item for p in batch])
        except _ContractError as exc:
            log.error("%s (request ids: %s)", exc, _ids(batch))
            for p in batch:
                self._fail(p, ScorerFailure(f"{exc}; this is a scorer bug"), "error")
            return
        except Exception as exc:
            if len(batch) == 1:
                self._crashed(batch[0], exc)
                return
            log.warning(
                "scorer %s: batch of %d failed (%r); re-running items one by one", self.name, len(batch), exc
            )
            for p in batch:
                if p.future.done():
                    continue
                try:
                    (out,) = await self._forward([p.item])
                except Exception as one_exc:
                    self._crashed(p, one_exc)
                else:
                    self._resolve(p, out)
            return
        for p, out in zip(batch, outputs, strict=True):
            self._resolve(p, out)

    def _resolve(self, p: _Pending, out: Any) -> None:
        """Deliver one output (an InvalidSample or other exception element fails that item only)."""
        if isinstance(out, InvalidSample):
            self._fail(p, out, "invalid")
        elif isinstance(out, BaseException):
            self._crashed(p, out)
        else:
            if not p.future.done():
                p.future.set_result(out)
            self._count(p, "ok")

    def _crashed(self, p: _Pending, exc: BaseException) -> None:
        """Log a single item's failure with its traceback and fail it INTERNAL (or INVALID_ARGUMENT)."""
        if isinstance(exc, InvalidSample):
            self._fail(p, exc, "invalid")
            return
        if isinstance(exc, _ContractError):
            log.error("%s (request id %s)", exc, p.request_id)
            self._fail(p, ScorerFailure(f"{exc}; this is a scorer bug"), "error")
            return
        log.error("scorer %s failed on an item of request %s", self.name, p.request_id, exc_info=exc)
        self._fail(p, ScorerFailure(f"scorer {self.name!r} failed on this sample"), "error")

    def _fail(self, p: _Pending, exc: BaseException, outcome: str) -> None:
        """Set an item's exception unless its caller is gone."""
        if not p.future.done():
            p.future.set_exception(exc)
        self._count(p, outcome)

    def _count(self, p: _Pending, outcome: str) -> None:
        """Count an item's outcome in the metrics."""
        if self._metrics is not None:
            self._metrics.count_sample(self.name, outcome, p.queue_s)


def _ids(batch: Sequence[_Pending]) -> str:
    """Distinct request ids of a batch, for log lines."""
    return ", ".join(dict.fromkeys(p.request_id or "-" for p in batch))
