"""One loaded model per server for scorers that read the same weights (imagebind + imagebind_avh, ...).

A server builds its scorers inside `sharing()`; a scorer family loads through `shared_load(key, loader)`, so a
second scorer with the same weights (and device) reuses the first one's model instead of holding another
copy (4.7 GB for ImageBind-Huge, 33 GB for HPSv3 in fp32). Outside `sharing()` every call loads afresh. Sharing
is safe because scorers only run inference and every scorer on a device runs in that device's one thread.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_SCOPE: contextvars.ContextVar[dict[Hashable, Any] | None] = contextvars.ContextVar(
    "omninft_shared_loads", default=None
)


@contextmanager
def sharing() -> Iterator[None]:
    """Scorers built inside this block share models loaded with equal keys."""
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def shared_load(key: Hashable, loader: Callable[[], T]) -> T:
    """loader(), or the value an earlier call with an equal key returned inside the same sharing() block."""
    scope = _SCOPE.get()
    if scope is None:
        return loader()
    if key not in scope:
        scope[key] = loader()
    value: T = scope[key]
    return value
