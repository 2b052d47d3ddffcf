"""One loaded model per server for scorers that read the same weights (imagebind + imagebind_avh, ...).

A server builds its scorers inside `sharing()`; a scorer family loads through `shared_load(key, loader)`, so a
second scorer with the same weights (and device) reuses the first one's model instead of holding another
copy (4.7 GB for ImageBind-Huge, 33 GB for HPSv3 in fp32). Outside `sharing()` every call loads afresh. Sharing
is safe because scorers only run inference and every scorer on a device runs in that device's one thread.

Servers build scorers in parallel threads, so a key loads once even when two threads ask for it at the same
time (the second waits for the first's result). `recording()` lists the keys one build used, so that a server
warms each shared model up once.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class _Entry:
    """One key's load: done once its loader returned or raised."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _Scope:
    """The loads of one sharing() block, shared by every thread that runs in a copy of its context."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[Hashable, _Entry] = {}


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("omninft_shared_loads", default=None)
_RECORD: contextvars.ContextVar[list[Hashable] | None] = contextvars.ContextVar(
    "omninft_shared_keys", default=None
)


@contextmanager
def sharing() -> Iterator[None]:
    """Scorers built inside this block share models loaded with equal keys."""
    token = _SCOPE.set(_Scope())
    try:
        yield
    finally:
        _SCOPE.reset(token)


@contextmanager
def recording() -> Iterator[list[Hashable]]:
    """The keys shared_load is called with inside this block (in this context), in call order."""
    keys: list[Hashable] = []
    token = _RECORD.set(keys)
    try:
        yield keys
    finally:
        _RECORD.reset(token)


def shared_load(key: Hashable, loader: Callable[[], T]) -> T:
    """loader(), or the value an earlier call with an equal key returned inside the same sharing() block."""
    record = _RECORD.get()
    if record is not None and key not in record:
        record.append(key)
    scope = _SCOPE.get()
    if scope is None:
        return loader()
    with scope.lock:
        entry = scope.entries.get(key)
        owner = entry is None
        if entry is None:
            entry = scope.entries[key] = _Entry()
    if owner:
        try:
            entry.value = loader()
        except BaseException as exc:
            entry.error = exc
            with scope.lock:  # a later build may try again
                scope.entries.pop(key, None)
            raise
        finally:
            entry.done.set()
    else:
        entry.done.wait()
        if entry.error is not None:
            raise entry.error
    value: T = entry.value
    return value
