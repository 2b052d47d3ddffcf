"""Shared pieces of the perf scripts: a served scorer in a child process, in-process timing, RSS, output."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omninft.bench.embedded import EmbeddedServer, EmbeddedServerSpec

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def machine() -> dict[str, Any]:
    """Where a figure was measured."""
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


@contextmanager
def served(scorers: dict[str, dict[str, Any]], **server: Any) -> Iterator[EmbeddedServer]:
    """An `omninft-serve` child process hosting `scorers` (camelCase scorer configs) on 127.0.0.1:0."""
    raw = {"scorers": scorers, **server}
    srv = EmbeddedServer(EmbeddedServerSpec(scorers=tuple(scorers)), raw_config=raw)
    with srv:
        yield srv


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident set size (or another /proc status field, e.g. VmHWM = peak RSS) of a process, MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live child processes (Linux /proc), e.g. a server + its pool."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid] + [int(c) for c in _children(pid)]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a child that exited between the listing and the read
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
    return total


def _children(pid: int) -> list[str]:
    """Direct children of a process (from every thread's children file)."""
    out: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += (task / "children").read_text().split()
        except OSError:
            continue
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a child's metricsPort)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One /metrics scrape of 127.0.0.1:port as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


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
    doc = {
        "name": name,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **doc,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    stem = f"{name}-{variant}" if variant else name
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
