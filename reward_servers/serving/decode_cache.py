"""Decoded media shared across requests: a sample sent in several RPCs (Score, then Embed) is decoded once.

Keys identify the compressed source: a file:// URI by its resolved path, size and modification time; inline
container bytes by their BLAKE2b digest (hashing is ~20x cheaper than decoding). Raw frame/PCM tensors are never
cached (there is nothing to decode). Concurrent requests for the same key wait for the one decode in flight
(single flight). Entries are evicted least-recently-used beyond `max_bytes` of decoded arrays; decoded arrays
are made read-only, so no scorer can change what another request sees. Decode errors are not cached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from omninft.reward_servers.media import DecodedAudio, DecodedVideo

T = TypeVar("T", DecodedVideo, DecodedAudio)


def file_key(modality: str, path: Path) -> Hashable:
    """Key of a decoded file: a rewritten file (new size or mtime) is decoded again."""
    st = path.stat()
    return ("file", modality, str(path), st.st_size, st.st_mtime_ns)


def bytes_key(modality: str, data: bytes) -> Hashable:
    """Key of decoded inline container bytes."""
    return ("bytes", modality, len(data), hashlib.blake2b(data, digest_size=20).digest())


def _nbytes(value: DecodedVideo | DecodedAudio) -> int:
    arr = value.frames if isinstance(value, DecodedVideo) else value.pcm
    return int(np.asarray(arr).nbytes)


def _freeze(value: T) -> T:
    arr = value.frames if isinstance(value, DecodedVideo) else value.pcm
    if isinstance(arr, np.ndarray):
        arr.setflags(write=False)
    return value


@dataclass
class DecodeCacheStats:
    """Counters for metrics and tests."""

    hits: int = 0
    misses: int = 0
    waits: int = 0
    evictions: int = 0


class DecodeCache:
    """LRU of decoded media bounded by decoded bytes, with single-flight decoding; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.stats = DecodeCacheStats()
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[DecodedVideo | DecodedAudio, int]] = OrderedDict()
        self._inflight: dict[Hashable, Future[DecodedVideo | DecodedAudio]] = {}
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        """False when configured with 0 bytes: every call decodes."""
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        """Decoded bytes currently held."""
        return self._bytes

    def get_or_decode(self, key: Hashable, decode: Callable[[], T]) -> tuple[T, bool]:
        """(value, reused): the cached value for `key`, the result of a decode in flight for it, or decode() now."""
        if not self.enabled:
            return decode(), False
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return hit[0], True  # type: ignore[return-value]
            pending = self._inflight.get(key)
            if pending is None:
                mine: Future[DecodedVideo | DecodedAudio] = Future()
                self._inflight[key] = mine
                self.stats.misses += 1
            else:
                self.stats.waits += 1
        if pending is not None:
            return pending.result(), True  # type: ignore[return-value]
        try:
            value = _freeze(decode())
        except BaseException as exc:
            with self._lock:
                del self._inflight[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._inflight[key]
            self._store(key, value)
        mine.set_result(value)
        return value, False

    def _store(self, key: Hashable, value: DecodedVideo | DecodedAudio) -> None:
        """Insert and evict least-recently-used entries beyond max_bytes (lock held)."""
        size = _nbytes(value)
        if size > self.max_bytes:
            return  # larger than the whole cache: serve it, keep nothing
        self._entries[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, old) = self._entries.popitem(last=False)
            self._bytes -= old
            self.stats.evictions += 1
