"""Give the heap back after bursts: glibc keeps freed memory in per-thread arenas unless asked to return it.

Under overload the server parses and drops hundreds of request bodies a second from several threads; glibc
spreads them over up to 8 x cores arenas and keeps the freed pages, so RSS stays near its peak long after the
load (issue 13). Fewer arenas and a malloc_trim once the server goes idle bring it back down. Both are
no-ops where glibc is not the allocator.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8
# Arenas for the whole process: the event loop, the decode pool and one forward thread per device rarely
# allocate at the same instant, so more arenas buy little speed and keep a lot of freed memory.
DEFAULT_ARENAS = 4
_libc: ctypes.CDLL | None = None
_probed = False


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (malloc_trim/mallopt exist), else None."""
    global _libc, _probed
    if not _probed:
        _probed = True
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt"):
                    _libc = lib
            except OSError:
                _libc = None
    return _libc


def limit_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas (call before worker threads start); True if applied."""
    lib = _glibc()
    return bool(lib is not None and lib.mallopt(_M_ARENA_MAX, int(arenas)) == 1)


def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc malloc_trim(0)); True if any memory was released."""
    lib = _glibc()
    return bool(lib is not None and lib.malloc_trim(0))


class IdleTrimmer:
    """Calls trim_heap in a worker thread once the server has been idle `idle_s` after some activity.

    `calls` is a counter of calls started so far, `inflight` the calls running now.
    """

    def __init__(
        self,
        calls: Callable[[], int],
        inflight: Callable[[], int],
        *,
        idle_s: float = 1.0,
        poll_s: float = 0.5,
    ) -> None:
        self._calls = calls
        self._inflight = inflight
        self._idle_s = idle_s
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self.trims = 0

    def start(self) -> None:
        """Start polling on the running event loop (no-op without glibc)."""
        if _glibc() is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="omninft-trim")

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        dirty = False
        idle_since: float | None = None
        seen = self._calls()
        while True:
            await asyncio.sleep(self._poll_s)
            calls = self._calls()
            if calls != seen or self._inflight() > 0:
                seen = calls
                dirty, idle_since = True, None
                continue
            if not dirty:
                continue
            now = time.monotonic()
            idle_since = idle_since if idle_since is not None else now
            if now - idle_since >= self._idle_s:
                t0 = time.perf_counter()
                released = await asyncio.to_thread(trim_heap)
                dirty, idle_since = False, None
                self.trims += 1
                log.debug(
                    "malloc_trim after a burst: released=%s in %.1f ms",
                    released,
                    (time.perf_counter() - t0) * 1000,
                )
