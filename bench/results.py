"""Benchmark results: official metric keys, per-sample errors, provenance; the JSON document."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TINY_WARNING = (
    "TINY RANDOM WEIGHTS: these numbers exercise the pipeline and mean nothing about sample quality"
)

Categories = list[tuple[tuple[int, ...], ...]]


@dataclass
class SampleError:
    """Why one sample has no value for one metric."""

    index: int
    sample: str
    metric: str
    code: str
    message: str


@dataclass
class BenchResult:
    """A suite run: metric values over valid samples, counts, errors and where the numbers came from."""

    suite: str
    protocol: str
    results: dict[str, float]
    per_sample: dict[str, list[float | None]]
    counts: dict[str, dict[str, int]]
    errors: list[SampleError]
    provenance: dict[str, Any]
    tiny_weights: bool
    # Per metric, per aspect ("0".."4"): per-category values (means, or set-level metrics recomputed).
    categories: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    set_metrics: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> why it was not computed
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    # Per set metric, per aspect: why a category has no value (too few samples), None where it has one.
    category_notes: dict[str, dict[str, list[str | None]]] = field(default_factory=dict)
    # Per metric, per aspect: scored samples in each category (the n shown on each bar).
    category_counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def to_json(self, *, verbose: bool = False) -> dict[str, Any]:
        """The results document; with verbose, metrics use the official per-category structure (spec §5.3)."""
        doc: dict[str, Any] = {"suite": self.suite, "protocol": self.protocol}
        if self.tiny_weights:
            doc["warning"] = TINY_WARNING
        if verbose:
            res: dict[str, Any] = {}
            for k, v in self.results.items():
                entry: dict[str, Any] = {"overall": _finite(v)}
                if k not in self.set_metrics:
                    entry["all"] = [_finite(x) for x in self.per_sample.get(k, [])]
                entry.update(self.categories.get(k, {}))
                res[k] = entry
            doc["results"] = res
        else:
            doc["results"] = {k: _finite(v) for k, v in self.results.items()}
        doc["counts"] = self.counts
        if self.skipped:
            doc["skipped"] = self.skipped
        if verbose and self.category_notes:
            doc["category_notes"] = self.category_notes
        doc["errors"] = [asdict(e) for e in self.errors]
        doc["provenance"] = self.provenance
        doc["tiny_weights"] = self.tiny_weights
        return doc


# Fewest samples a set metric is computed on: a covariance (FVD, FAD) and the unbiased MMD (KVD) need 2.
MIN_SET_SAMPLES = 2


def set_metric_na_reason(n: int) -> str:
    """Why a set metric has no value on n samples."""
    return f"n/a: {n} sample(s), a set metric needs at least {MIN_SET_SAMPLES}"


def set_metric_note(keys: Sequence[str]) -> str:
    """The report line explaining per-category set metrics."""
    return (
        f"Set metrics ({', '.join(keys)}) are computed per category only where it holds at least "
        f"{MIN_SET_SAMPLES} scored samples; other categories show n/a (reasons: `category_notes` in "
        "results.json with --verbose)."
    )


def _finite(v: float | None) -> float | None:
    """JSON has no NaN: a metric without any valid sample is written as null."""
    return None if v is None or not math.isfinite(v) else v


def mean_or_nan(values: Sequence[float | None]) -> float:
    """Mean over the values that exist (failed samples are excluded, never counted as 0)."""
    valid = [v for v in values if v is not None and math.isfinite(v)]
    return sum(valid) / len(valid) if valid else float("nan")


def category_indices(categories: Categories, sizes: tuple[int, ...]) -> dict[str, list[list[int]]]:
    """Per aspect k, per category c: the row positions tagged with c (a row may carry several)."""
    out: dict[str, list[list[int]]] = {}
    for k, size in enumerate(sizes):
        out[str(k)] = [
            [i for i, cats in enumerate(categories) if k < len(cats) and c in cats[k]] for c in range(size)
        ]
    return out


def category_means(
    values: list[float | None], categories: Categories, sizes: tuple[int, ...]
) -> dict[str, list[float | None]]:
    """Per aspect k, the mean of the samples tagged with each category index (official --verbose layout)."""
    return category_apply(lambda idx: mean_or_nan([values[i] for i in idx]), categories, sizes)


def category_apply(
    fn: Callable[[list[int]], float], categories: Categories, sizes: tuple[int, ...]
) -> dict[str, list[float | None]]:
    """Per aspect and category, fn(row positions of that category); NaN becomes None (no value)."""
    out: dict[str, list[float | None]] = {}
    for k, per_cat in category_indices(categories, sizes).items():
        vals: list[float | None] = []
        for idx in per_cat:
            v = fn(idx)
            vals.append(None if math.isnan(v) else v)
        out[k] = vals
    return out
