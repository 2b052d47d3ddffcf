"""Blocking work in daemon threads, so that a server stopped while it loads scorers exits without waiting.

`asyncio.to_thread` and executor pools run in non-daemon threads that the interpreter joins at exit: a
SIGTERM during a multi-minute checkpoint load would drain at once and then sit in that join until the load
finished. A load abandoned this way has nothing to keep (the process is ending), so its thread is left to die
with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_in_daemon_thread(fn: Callable[..., T], *args: Any, name: str) -> T:
    """Await fn(*args) run in a new daemon thread (in a copy of the caller's context); cancelling abandons it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # a cancelled waiter has moved on: drop the outcome
            outcome()

    def target() -> None:
        try:
            result = context.run(fn, *args)
        except BaseException as exc:  # delivered to the awaiting coroutine, which re-raises it
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future
