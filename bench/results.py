"""Benchmark results: official metric keys, per-sample errors, provenance; JSON and Markdown renderings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

TINY_WARNING = "TINY RANDOM WEIGHTS: these numbers exercise the pipeline and mean nothing about sample quality"


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
    """A suite run: metric means over valid samples, counts, errors and where the numbers came from."""

    suite: str
    protocol: str
    results: dict[str, float]
    per_sample: dict[str, list[float | None]]
    counts: dict[str, dict[str, int]]
    errors: list[SampleError]
    provenance: dict[str, Any]
    tiny_weights: bool
    categories: dict[str, Any] = field(default_factory=dict)

    def to_json(self, *, verbose: bool = False) -> dict[str, Any]:
        """The results document; with verbose, per-sample metrics use the official per-category structure."""
        doc: dict[str, Any] = {"suite": self.suite, "protocol": self.protocol}
        if self.tiny_weights:
            doc["warning"] = TINY_WARNING
        doc["results"] = dict(self.results) if not verbose else {
            k: {"overall": v, "all": self.per_sample.get(k, []), **self.categories.get(k, {})}
            for k, v in self.results.items()
        }
        doc["counts"] = self.counts
        doc["errors"] = [asdict(e) for e in self.errors]
        doc["provenance"] = self.provenance
        doc["tiny_weights"] = self.tiny_weights
        return doc


def mean_or_nan(values: list[float | None]) -> float:
    """Mean over the values that exist (failed samples are excluded, never counted as 0)."""
    valid = [v for v in values if v is not None and math.isfinite(v)]
    return sum(valid) / len(valid) if valid else float("nan")


def category_means(values: list[float | None], categories: list[tuple[tuple[int, ...], ...]], sizes: tuple[int, ...]) -> dict[str, list[float | None]]:
    """Per aspect k, the mean of the samples tagged with each category index (official --verbose layout)."""
    out: dict[str, list[float | None]] = {}
    for k, size in enumerate(sizes):
        means: list[float | None] = []
        for c in range(size):
            picked = [v for v, cats in zip(values, categories, strict=True) if k < len(cats) and c in cats[k]]
            m = mean_or_nan(picked)
            means.append(None if math.isnan(m) else m)
        out[str(k)] = means
    return out


def to_markdown(result: BenchResult) -> str:
    """A short human-readable report."""
    lines = [f"# {result.suite} results", ""]
    if result.tiny_weights:
        lines += [f"> **{TINY_WARNING}**", ""]
    lines += [f"Protocol: `{result.protocol}`", "", "| metric | value | scored | failed |", "|---|---:|---:|---:|"]
    for key, value in result.results.items():
        c = result.counts.get(key, {})
        lines.append(f"| {key} | {value:.4f} | {c.get('scored', 0)} | {c.get('failed', 0)} |")
    lines += ["", "## Scorers", "", "| scorer | version | weights | sha256 | backend | protocol |", "|---|---|---|---|---|---|"]
    for s in result.provenance.get("scorers", []):
        lines.append(
            f"| {s['name']} | {s['version']} | {s['weights_id']} | {s['weights_sha256'][:12]} | {s['backend']} | {s['protocol']} |"
        )
    if result.errors:
        lines += ["", f"## Sample errors ({len(result.errors)})", "", "| sample | metric | code | reason |", "|---|---|---|---|"]
        for e in result.errors[:200]:
            lines.append(f"| {e.sample} | {e.metric} | {e.code} | {e.message.replace('|', '/')} |")
    prov = result.provenance
    lines += ["", "## Provenance", "", f"- omninft {prov.get('package_version')} (git {prov.get('git_hash', 'unknown')})",
              f"- server: {prov.get('server_address')}", f"- date: {prov.get('date')}"]
    return "\n".join(lines) + "\n"
