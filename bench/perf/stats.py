"""Pure latency/throughput statistics for the load generator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class LevelResult:
    """What one concurrency level measured."""

    concurrency: int
    requests: int
    samples: int
    duration_s: float
    throughput_rps: float
    throughput_sps: float
    latency_ms: dict[str, float]
    errors: dict[str, int] = field(default_factory=dict)
    sample_errors: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return asdict(self)


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/max in milliseconds (linear-interpolated percentiles, as numpy's default)."""
    if not latencies_s:
        return {k: float("nan") for k in ("p50", "p90", "p99", "mean", "max")}
    ms = np.asarray(latencies_s, dtype=np.float64) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def summarise_level(
    concurrency: int,
    latencies_s: Sequence[float],
    samples_per_request: int,
    duration_s: float,
    errors: Mapping[str, int],
    sample_errors: int = 0,
) -> LevelResult:
    """Aggregate one level: successful requests only count toward throughput and latency."""
    ok = len(latencies_s)
    dur = max(duration_s, 1e-9)
    return LevelResult(
        concurrency=concurrency,
        requests=ok,
        samples=ok * samples_per_request,
        duration_s=duration_s,
        throughput_rps=ok / dur,
        throughput_sps=ok * samples_per_request / dur,
        latency_ms=latency_summary(latencies_s),
        errors=dict(errors),
        sample_errors=sample_errors,
    )


def format_table(levels: Sequence[LevelResult]) -> str:
    """A fixed-width table like perf_analyzer's summary."""
    head = (
        f"{'conc':>5} {'req/s':>9} {'samples/s':>10} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'errors':>7}"
    )
    lines = [head, "-" * len(head)]
    for lv in levels:
        n_err = sum(lv.errors.values()) + lv.sample_errors
        lines.append(
            f"{lv.concurrency:>5} {lv.throughput_rps:>9.2f} {lv.throughput_sps:>10.2f} {lv.latency_ms['p50']:>9.1f} "
            f"{lv.latency_ms['p90']:>9.1f} {lv.latency_ms['p99']:>9.1f} {n_err:>7}"
        )
    return "\n".join(lines)
