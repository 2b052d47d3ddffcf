"""Shared pieces of the perf scripts: a served scorer in a child process, in-process timing, RSS, output."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omninft.bench.embedded import EmbeddedServer, EmbeddedServerSpec

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def machine() -> dict[str, Any]:
    """Where a figure was measured."""
    import torch

    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__}


@contextmanager
def served(scorers: dict[str, dict[str, Any]], **server: Any) -> Iterator[EmbeddedServer]:
    """An `omninft-serve` child process hosting `scorers` (camelCase scorer configs) on 127.0.0.1:0."""
    raw = {"scorers": scorers, **server}
    srv = EmbeddedServer(EmbeddedServerSpec(scorers=tuple(scorers)), raw_config=raw)
    with srv:
        yield srv


def rss_mib(pid: int) -> float:
    """Resident set size of a process from /proc (Linux), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def throughput(fn: Callable[[], int], *, seconds: float, warmup_s: float = 1.0) -> float:
    """Calls fn (returning how many samples it processed) repeatedly; samples per second after a warm-up."""
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += fn()
    return n / (time.perf_counter() - t0)


def report(name: str, doc: dict[str, Any], variant: str = "") -> None:
    """Print the figures and keep them under bench/perf/results/<name>[-<variant>].json."""
    doc = {"name": name, "machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **doc}
    RESULTS_DIR.mkdir(exist_ok=True)
    stem = f"{name}-{variant}" if variant else name
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
