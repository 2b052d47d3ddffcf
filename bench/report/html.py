"""Self-contained HTML report: summary table plus per-category bar plots drawn as inline SVG (no scripts)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from omninft.bench.report.descriptions import DEMO_NOTE, describe
from omninft.bench.report.markdown import fmt
from omninft.bench.results import MIN_SET_SAMPLES, TINY_WARNING, BenchResult, set_metric_note
from omninft.bench.suites.javisbench.categories import ASPECTS

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}
td.n{text-align:right;font-variant-numeric:tabular-nums}.warn{background:#fff3cd;border:2px solid #e0a800;
padding:12px;font-weight:bold}.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
figcaption{font-size:13px;color:#555}.note{font-size:13px;color:#444}th{text-align:left}
"""


def value_range(values: list[float | None]) -> tuple[float, float]:
    """The span a chart of `values` needs, 0 included (so bars start at the zero line)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return min([0.0, *finite]), max([0.0, *finite])


def bar_chart_svg(
    labels: list[str],
    values: list[float | None],
    *,
    title: str,
    width: int = 340,
    scale: tuple[float, float] | None = None,
    notes: list[str | None] | None = None,
) -> str:
    """Horizontal bar chart on `scale` (default: its own values); missing values are drawn as 'n/a' (or their
    short note); zero line drawn."""
    row_h, left, right, top = 18, 130, 60, 22
    height = top + row_h * len(labels) + 8
    lo, hi = scale if scale is not None else value_range(values)
    span = (hi - lo) or 1.0
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (v - lo) / span * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="4" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{x(0):.1f}" y1="{top - 4}" x2="{x(0):.1f}" y2="{height - 4}" stroke="#888"/>',
    ]
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        parts.append(
            f'<text x="{left - 4}" y="{y + 12}" font-size="11" text-anchor="end">{escape(label)}</text>'
        )
        if v is None or not math.isfinite(v):
            note = notes[i] if notes is not None and i < len(notes) and notes[i] else ""
            # The full reason is the tooltip; the short form fits the panel.
            short = f"n/a (n &lt; {MIN_SET_SAMPLES})" if note else "n/a"
            tip = f"<title>{escape(note)}</title>" if note else ""
            parts.append(
                f'<text x="{x(0) + 4:.1f}" y="{y + 12}" font-size="11" fill="#999">{tip}{short}</text>'
            )
            continue
        x0, x1 = sorted((x(0), x(v)))
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 0.5):.1f}" height="{row_h - 5}" '
            f'fill="#4c78a8"><title>{escape(label)}: {v:.4g}</title></rect>'
        )
        parts.append(f'<text x="{x1 + 3:.1f}" y="{y + 12}" font-size="10">{v:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(data: dict[str, Any]) -> str:
    """A key/value table; nested mappings become nested tables, lists comma-joined."""
    rows = []
    for k, v in data.items():
        if isinstance(v, dict):
            cell = _table(v)
        elif isinstance(v, list | tuple):
            cell = escape(", ".join(str(x) for x in v))
        else:
            cell = escape(str(v))
        rows.append(f"<tr><th>{escape(str(k))}</th><td>{cell}</td></tr>")
    return "<table class='kv'>" + "".join(rows) + "</table>"


def to_html(result: BenchResult) -> str:
    """One HTML page: warning, summary table, per-category plots per metric, errors, provenance."""
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{escape(result.suite)} results</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(result.suite)} results</h1>",
    ]
    if result.tiny_weights:
        out.append(f"<p class='warn'>{escape(TINY_WARNING)}</p>")
    out.append(f"<p>Protocol <code>{escape(result.protocol)}</code></p>")
    out.append(
        "<table><tr><th>metric</th><th>value</th><th>better</th><th>scored</th><th>failed</th><th>unit</th>"
        "<th>meaning</th></tr>"
    )
    for key, value in result.results.items():
        c = result.counts.get(key, {})
        arrow = "↑" if result.higher_is_better.get(key, True) else "↓"
        what, unit = describe(key)
        out.append(
            f"<tr><td>{escape(key)}</td><td class='n'>{fmt(value)}</td><td>{arrow}</td>"
            f"<td class='n'>{c.get('scored', 0)}</td><td class='n'>{c.get('failed', 0)}</td>"
            f"<td>{escape(unit)}</td><td>{escape(what)}</td></tr>"
        )
    out.append("</table>")
    if result.tiny_weights:  # repeated next to the numbers: a reader may jump straight to the table
        out.append(f"<p class='warn'>{escape(TINY_WARNING)}</p><p class='note'>{escape(DEMO_NOTE)}</p>")
    if result.set_metrics:
        out.append(f"<p class='note'>{escape(set_metric_note(result.set_metrics))}</p>")
    if result.skipped:
        out.append("<h2>Not computed</h2><ul>")
        out += [f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in result.skipped.items()]
        out.append("</ul>")
    # Only aspects with at least one value get a plot (CSVs without category columns get none).
    plotted = {
        key: {k: v for k, v in per_aspect.items() if any(x is not None for x in v)}
        for key, per_aspect in result.categories.items()
    }
    plotted = {key: per_aspect for key, per_aspect in plotted.items() if per_aspect}
    if plotted:
        out.append(
            "<h2>Per category</h2><p class='note'>The panels of one metric share its scale, so their bars "
            "compare directly (the vertical line is 0); metrics differ in unit, each has its own scale. "
            "n = scored samples in the category. A set metric gets no bar below its minimum sample count "
            f"({MIN_SET_SAMPLES}).</p>"
        )
        for key, per_aspect in plotted.items():
            shared = value_range([v for vals in per_aspect.values() for v in vals])
            out.append(f"<h3>{escape(key)}</h3><div class='plots'>")
            for k, (aspect, names) in enumerate(ASPECTS):
                vals = per_aspect.get(str(k))
                if vals is None:
                    continue
                counts = result.category_counts.get(key, {}).get(str(k), [])
                labels = [
                    f"{n} (n={counts[i]})" if i < len(counts) else n for i, n in enumerate(names[: len(vals)])
                ]
                notes = result.category_notes.get(key, {}).get(str(k))
                svg = bar_chart_svg(labels, list(vals), title=f"{aspect}", scale=shared, notes=notes)
                out.append(
                    f"<figure>{svg}<figcaption>{escape(key)} by {escape(aspect.lower())}</figcaption></figure>"
                )
            out.append("</div>")
    if result.errors:
        out.append(
            f"<h2>Sample errors ({len(result.errors)})</h2><table><tr><th>sample</th><th>metric</th>"
            "<th>code</th><th>reason</th></tr>"
        )
        for e in result.errors[:500]:
            out.append(
                f"<tr><td>{escape(e.sample)}</td><td>{escape(e.metric)}</td><td>{escape(e.code)}</td>"
                f"<td>{escape(e.message)}</td></tr>"
            )
        out.append("</table>")
    out.append(
        "<h2>Scorers</h2><table><tr><th>scorer</th><th>version</th><th>weights</th><th>sha256</th>"
        "<th>tiny</th><th>backend</th><th>protocol</th></tr>"
    )
    for s in result.provenance.get("scorers", []):
        out.append(
            f"<tr><td>{escape(s['name'])}</td><td>{escape(s['version'])}</td><td>{escape(s['weights_id'])}</td>"
            f"<td><code>{escape(s['weights_sha256'][:16])}</code></td><td>{'yes' if s['tiny_weights'] else 'no'}</td>"
            f"<td>{escape(s['backend'])}</td><td>{escape(s['protocol'])}</td></tr>"
        )
    out.append("</table><h2>Provenance</h2>")
    out.append(_table({k: v for k, v in result.provenance.items() if k != "scorers"}))
    out.append("</body></html>\n")
    return "\n".join(out)
