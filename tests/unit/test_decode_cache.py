"""DecodeCache: LRU by decoded bytes, single flight, read-only values, errors not cached, keys by source."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.media import DecodedAudio, DecodedVideo, MediaError
from omninft.reward_servers.serving.decode_cache import DecodeCache, bytes_key, file_key


def _video(n_bytes: int, value: int = 0) -> DecodedVideo:
    return DecodedVideo(np.full((1, 1, n_bytes // 3, 3), value, dtype=np.uint8), 24.0)


def test_hits_misses_and_lru_eviction_by_decoded_bytes() -> None:
    cache = DecodeCache(max_bytes=3000)
    calls: list[str] = []

    def decoder(key: str) -> DecodedVideo:
        calls.append(key)
        return _video(1200)

    a, reused = cache.get_or_decode("a", lambda: decoder("a"))
    assert not reused
    again, reused = cache.get_or_decode("a", lambda: decoder("a"))
    assert reused and again is a and calls == ["a"]
    cache.get_or_decode("b", lambda: decoder("b"))  # 2400 bytes held
    cache.get_or_decode("a", lambda: decoder("a"))  # a becomes most recent
    cache.get_or_decode("c", lambda: decoder("c"))  # 3600 > 3000: evicts b, the least recently used
    assert cache.size_bytes == 2400 and cache.stats.evictions == 1
    cache.get_or_decode("a", lambda: decoder("a"))
    cache.get_or_decode("b", lambda: decoder("b"))
    assert calls == ["a", "b", "c", "b"]
    assert (cache.stats.hits, cache.stats.misses) == (3, 4)


def test_values_are_read_only_and_oversized_values_are_not_kept() -> None:
    cache = DecodeCache(max_bytes=1000)
    v, _ = cache.get_or_decode("small", lambda: _video(300))
    with pytest.raises(ValueError):
        v.frames[0, 0, 0, 0] = 1
    big, _ = cache.get_or_decode("big", lambda: _video(3000))
    assert big.frames.nbytes == 3000 and cache.size_bytes == 300
    audio, _ = cache.get_or_decode("pcm", lambda: DecodedAudio(np.zeros((1, 10), np.float32), 16000))
    assert not audio.pcm.flags.writeable


def test_errors_are_raised_to_every_waiter_and_not_cached() -> None:
    cache = DecodeCache(max_bytes=10_000)
    attempts = []

    def failing() -> DecodedVideo:
        attempts.append(1)
        raise MediaError("corrupt")

    for _ in range(2):
        with pytest.raises(MediaError):
            cache.get_or_decode("k", failing)
    assert len(attempts) == 2 and cache.size_bytes == 0


def test_concurrent_requests_share_one_decode() -> None:
    cache = DecodeCache(max_bytes=10_000)
    started = threading.Event()
    calls = []

    def slow() -> DecodedVideo:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return _video(300, value=7)

    results: list[tuple[DecodedVideo, bool]] = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_decode("k", slow)))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: results.append(cache.get_or_decode("k", slow)))
    second.start()
    first.join()
    second.join()
    assert len(calls) == 1 and cache.stats.waits == 1
    assert results[0][0] is results[1][0] and sorted(r[1] for r in results) == [False, True]


def test_disabled_cache_always_decodes() -> None:
    cache = DecodeCache(max_bytes=0)
    calls = []
    for _ in range(2):
        cache.get_or_decode("k", lambda: calls.append(1) or _video(3))
    assert len(calls) == 2 and not cache.enabled


def test_keys_follow_the_source(tmp_path: Path) -> None:
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x" * 10)
    k1 = file_key("video", f)
    assert file_key("video", f) == k1 and file_key("audio", f) != k1
    os.utime(f, ns=(1, 1))
    assert file_key("video", f) != k1  # rewritten: decoded again
    assert bytes_key("video", b"abc") == bytes_key("video", b"abc") != bytes_key("video", b"abd")
