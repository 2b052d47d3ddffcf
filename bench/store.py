"""Resumable per-sample results: SQLite (WAL) keyed by sample and scorer identity, embeddings as blobs.

A key is (sample, scorer, scorer version, weights sha256, protocol): a rerun with the same scorers reuses
every stored value and computes only what is missing; a changed checkpoint or protocol computes afresh.
Only deterministic per-sample failures (bad media: INVALID_ARGUMENT) are stored; transient ones are retried.
Set-level values (FVD/KVD/FAD of a sample set) are stored by a digest of everything they are computed from, so a
resumed run does not redo their matrix square roots.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

# Per-sample failures that depend only on the sample, so a rerun would fail the same way.
PERSISTENT_ERROR_CODES = frozenset({"INVALID_ARGUMENT"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
  sample TEXT NOT NULL, scorer TEXT NOT NULL, version TEXT NOT NULL, weights_sha256 TEXT NOT NULL,
  protocol TEXT NOT NULL, kind TEXT NOT NULL, scores TEXT, error_code TEXT, error_message TEXT,
  PRIMARY KEY (sample, scorer, version, weights_sha256, protocol, kind));
CREATE TABLE IF NOT EXISTS embeddings (
  sample TEXT NOT NULL, scorer TEXT NOT NULL, version TEXT NOT NULL, weights_sha256 TEXT NOT NULL,
  protocol TEXT NOT NULL, name TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (sample, scorer, version, weights_sha256, protocol, name));
CREATE TABLE IF NOT EXISTS set_values (digest TEXT PRIMARY KEY, value REAL NOT NULL);
"""


class StoreError(ValueError):
    """The result store file exists but cannot be used (not SQLite, damaged, another layout)."""


def set_aside(path: Path) -> Path | None:
    """Move a store (and its WAL files) to `<name>.damaged-N` so a fresh run can start; returns the new path."""
    if not path.exists():
        return None
    n = 1
    while path.with_name(f"{path.name}.damaged-{n}").exists():
        n += 1
    dest = path.with_name(f"{path.name}.damaged-{n}")
    path.rename(dest)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(dest.with_name(dest.name + suffix))
    return dest


def is_usable(path: Path) -> bool:
    """True when `path` is absent or opens as a result store."""
    if not path.exists():
        return True
    try:
        ResultStore(path).close()
    except StoreError:
        return False
    return True


@dataclass(frozen=True)
class ScorerKey:
    """Identity of the scorer that produced a value."""

    scorer: str
    version: str
    weights_sha256: str
    protocol: str

    @property
    def cols(self) -> tuple[str, str, str, str]:
        """The key columns in table order."""
        return (self.scorer, self.version, self.weights_sha256, self.protocol)


@dataclass(frozen=True)
class Outcome:
    """One stored per-sample outcome: scores or embeddings, or a persistent error."""

    scores: dict[str, float] | None = None
    embeddings: dict[str, np.ndarray] | None = None
    error_code: str = ""
    error_message: str = ""

    @property
    def ok(self) -> bool:
        """True when the value exists (no error)."""
        return not self.error_code


def sample_key(stem: str, prompt: str, audio_prompt: str, files: list[Path | None]) -> str:
    """The row's stem plus a fingerprint of its prompts and media files (name, size, mtime)."""
    h = hashlib.sha256()
    h.update(prompt.encode())
    h.update(b"\0")
    h.update(audio_prompt.encode())
    for f in files:
        if f is None:
            h.update(b"\0none")
            continue
        st = f.stat()
        h.update(f"\0{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{stem}:{h.hexdigest()[:16]}"


class ResultStore:
    """SQLite store of per-sample outcomes; every `put_*` call is one committed transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a result store")
        self._db = sqlite3.connect(str(path), timeout=30.0)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()
            self._check_columns()
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StoreError(
                f"{path} is not a usable result store ({err}); rerun with --fresh to start over "
                "(the damaged file is kept aside)"
            ) from None

    def _check_columns(self) -> None:
        """Tables of another layout (another tool's database) are refused rather than misread."""
        for table, n in (("outcomes", 9), ("embeddings", 9)):
            cols = self._db.execute(f"PRAGMA table_info({table})").fetchall()
            if len(cols) != n:
                raise sqlite3.DatabaseError(f"table {table!r} has {len(cols)} columns, expected {n}")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(self, samples: list[str], key: ScorerKey, kind: str) -> dict[str, Outcome]:
        """Stored outcomes of `kind` ("score" or "embed") for the samples that have one."""
        out: dict[str, Outcome] = {}
        for start in range(0, len(samples), 500):
            part = samples[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT sample, scores, error_code, error_message FROM outcomes WHERE sample IN ({marks}) "
                "AND scorer=? AND version=? AND weights_sha256=? AND protocol=? AND kind=?",
                (*part, *key.cols, kind),
            ).fetchall()
            for sample, scores, code, message in rows:
                if code:
                    out[sample] = Outcome(error_code=code, error_message=message or "")
                elif kind == "score":
                    out[sample] = Outcome(scores=json.loads(scores))
                else:
                    out[sample] = Outcome(embeddings=self._embeddings(sample, key))
        return out

    def _embeddings(self, sample: str, key: ScorerKey) -> dict[str, np.ndarray]:
        rows = self._db.execute(
            "SELECT name, dtype, shape, data FROM embeddings WHERE sample=? AND scorer=? AND version=? "
            "AND weights_sha256=? AND protocol=?",
            (sample, *key.cols),
        ).fetchall()
        return {
            name: np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape)).copy()
            for name, dtype, shape, data in rows
        }

    def put(self, key: ScorerKey, kind: str, items: dict[str, Outcome]) -> None:
        """Store outcomes (replacing older ones for the same key) in one transaction."""
        with self._db:
            for sample, oc in items.items():
                scores = json.dumps(oc.scores) if oc.scores is not None else None
                self._db.execute(
                    "INSERT OR REPLACE INTO outcomes VALUES (?,?,?,?,?,?,?,?,?)",
                    (sample, *key.cols, kind, scores, oc.error_code or None, oc.error_message or None),
                )
                for name, arr in (oc.embeddings or {}).items():
                    a = np.ascontiguousarray(arr)
                    self._db.execute(
                        "INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?,?,?,?,?,?)",
                        (sample, *key.cols, name, a.dtype.str, json.dumps(list(a.shape)), a.tobytes()),
                    )

    def get_set_values(self, digests: list[str]) -> dict[str, float]:
        """Stored set-level values (FVD, KVD, FAD of one sample set) by the digest of their inputs."""
        out: dict[str, float] = {}
        for start in range(0, len(digests), 500):
            part = digests[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT digest, value FROM set_values WHERE digest IN ({marks})", part)
            out.update({d: float(v) for d, v in rows.fetchall()})
        return out

    def put_set_value(self, digest: str, value: float) -> None:
        """Store one finite set-level value (NaN is never stored: SQLite would turn it into NULL)."""
        if not np.isfinite(value):
            return
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO set_values VALUES (?,?)", (digest, float(value)))

    def count(self, kind: str | None = None) -> int:
        """Number of stored outcomes (of one kind, or all)."""
        if kind is None:
            return int(self._db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM outcomes WHERE kind=?", (kind,)).fetchone()[0])
