"""Markdown report of a benchmark run."""

from __future__ import annotations

import math

from omninft.bench.report.descriptions import DEMO_NOTE, describe
from omninft.bench.results import TINY_WARNING, BenchResult, set_metric_note


def fmt(v: float | None) -> str:
    """A metric value for tables (n/a when missing)."""
    if v is None or not math.isfinite(v):
        return "n/a"
    # Tiny-weight FVD/KVD can be ~1e-10: show significant digits rather than a misleading 0.0000.
    return f"{v:.4g}" if v != 0 and abs(v) < 1e-3 else f"{v:.4f}"


def to_markdown(result: BenchResult) -> str:
    """Results table, skipped metrics, scorers, sample errors and provenance."""
    lines = [f"# {result.suite} results", ""]
    if result.tiny_weights:
        lines += [f"> **{TINY_WARNING}**", ""]
    lines += [
        f"Protocol: `{result.protocol}`",
        "",
        "| metric | value | better | scored | failed | unit | meaning |",
        "|---|---:|:---:|---:|---:|---|---|",
    ]
    for key, value in result.results.items():
        c = result.counts.get(key, {})
        arrow = "↑" if result.higher_is_better.get(key, True) else "↓"
        what, unit = describe(key)
        lines.append(
            f"| {key} | {fmt(value)} | {arrow} | {c.get('scored', 0)} | {c.get('failed', 0)} | {unit} | {what} |"
        )
    if result.tiny_weights:
        lines += ["", f"> **{TINY_WARNING}**", "", f"> {DEMO_NOTE}"]
    if result.set_metrics:
        lines += ["", set_metric_note(result.set_metrics)]
    if result.skipped:
        lines += ["", "## Not computed", ""]
        lines += [f"- `{k}`: {why}" for k, why in result.skipped.items()]
    lines += [
        "",
        "## Scorers",
        "",
        "| scorer | version | weights | sha256 | tiny | backend | protocol |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result.provenance.get("scorers", []):
        lines.append(
            f"| {s['name']} | {s['version']} | {s['weights_id']} | {s['weights_sha256'][:12]} | "
            f"{'yes' if s['tiny_weights'] else 'no'} | {s['backend']} | {s['protocol']} |"
        )
    if result.errors:
        lines += [
            "",
            f"## Sample errors ({len(result.errors)})",
            "",
            "| sample | metric | code | reason |",
            "|---|---|---|---|",
        ]
        for e in result.errors[:200]:
            lines.append(f"| {e.sample} | {e.metric} | {e.code} | {e.message.replace('|', '/')} |")
        if len(result.errors) > 200:
            lines.append(f"| … | | | {len(result.errors) - 200} more in results.json |")
    prov = result.provenance
    lines += [
        "",
        "## Provenance",
        "",
        f"- omninft {prov.get('package_version')} (git {prov.get('git_hash', 'unknown')})",
        f"- servers: {prov.get('servers')}",
        f"- samples: {prov.get('sample_counts')}",
        f"- date: {prov.get('date')}",
    ]
    ref = prov.get("reference")
    if ref:
        lines.append(
            f"- reference features: {ref.get('path')} (sha256 {str(ref.get('sha256'))[:12]}, rows {ref.get('rows')})"
        )
    return "\n".join(lines) + "\n"
