"""LRU cache of text embeddings keyed by prompt (GRPO groups score many samples with one prompt)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np


class TextEmbeddingCache:
    """Thread-safe LRU map prompt -> embedding (float32 vector); maxsize 0 disables caching."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get_many(
        self, prompts: Sequence[str], compute: Callable[[list[str]], np.ndarray]
    ) -> list[np.ndarray]:
        """Embeddings for `prompts` in order; `compute(missing_unique_prompts)` fills the misses (one call)."""
        with self._lock:
            found = {p: self._data[p] for p in set(prompts) if p in self._data}
            for p in found:
                self._data.move_to_end(p)
            self.hits += sum(1 for p in prompts if p in found)
        missing = list(dict.fromkeys(p for p in prompts if p not in found))
        if missing:
            rows = compute(missing)
            if len(rows) != len(missing):
                raise RuntimeError(f"text encoder returned {len(rows)} rows for {len(missing)} prompts")
            fresh = {p: np.asarray(rows[i], dtype=np.float32) for i, p in enumerate(missing)}
            for v in fresh.values():
                v.setflags(write=False)
            found.update(fresh)
            with self._lock:
                self.misses += len(missing)
                if self.maxsize > 0:
                    self._data.update(fresh)
                    while len(self._data) > self.maxsize:
                        self._data.popitem(last=False)
        return [found[p] for p in prompts]

    def clear(self) -> None:
        """Drop every cached embedding."""
        with self._lock:
            self._data.clear()
