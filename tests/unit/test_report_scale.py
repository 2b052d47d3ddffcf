"""HTML report panels: one scale per metric across its aspect panels; n/a bars of set metrics say why."""

from __future__ import annotations

import re

from omninft.bench.report import to_html
from omninft.bench.report.html import bar_chart_svg
from omninft.bench.results import BenchResult, set_metric_na_reason


def _widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]


def test_panels_of_one_metric_share_a_scale() -> None:
    result = BenchResult(
        suite="javisbench",
        protocol="javisbench-v1",
        results={"desync": 1.0},
        per_sample={"desync": [1.0]},
        counts={"desync": {"total": 1, "scored": 1, "failed": 0}},
        errors=[],
        provenance={},
        tiny_weights=False,
        categories={"desync": {"0": [1.0, 2.0, None, None, None], "1": [10.0, 20.0, None]}},
        category_counts={"desync": {"0": [1, 1, 0, 0, 0], "1": [1, 1, 0]}},
        higher_is_better={"desync": False},
    )
    svgs = re.findall(r"<svg.*?</svg>", to_html(result))
    assert len(svgs) == 2
    first, second = _widths(svgs[0]), _widths(svgs[1])
    # On one scale 2.0 is a tenth of 20.0 (each panel scaled alone would draw both full width).
    assert abs(first[1] * 10 - second[1]) < 1.0 and abs(first[0] * 2 - first[1]) < 0.2
    assert "share its scale" in to_html(result)


def test_set_metric_na_bars_give_the_reason() -> None:
    reason = set_metric_na_reason(1)
    svg = bar_chart_svg(["a (n=1)", "b (n=3)"], [None, 0.5], title="t", notes=[reason, None])
    assert "n/a (n &lt; 2)" in svg and f"<title>{reason}</title>" in svg and svg.count("<rect") == 1
    plain = bar_chart_svg(["a"], [None], title="t")
    assert ">n/a<" in plain
