"""Reports explain every number: meaning and unit, n per bar, the weights warning near the table (issue 17 item 11)."""

from __future__ import annotations

from omninft.bench.report import to_html, to_markdown
from omninft.bench.report.descriptions import METRIC_INFO
from omninft.bench.results import BenchResult
from omninft.bench.suites.javisbench.metrics import OFFICIAL_KEYS


def _result() -> BenchResult:
    return BenchResult(
        suite="javisbench",
        protocol="javisbench-v1",
        results={"fad": 0.0, "desync": 1.65},
        per_sample={"desync": [1.6, 1.7]},
        counts={
            "fad": {"total": 2, "scored": 2, "failed": 0},
            "desync": {"total": 2, "scored": 2, "failed": 0},
        },
        errors=[],
        provenance={"servers": {"embedded": ["audioclip", "desync"]}, "sample_counts": {"rows": 2}},
        tiny_weights=True,
        set_metrics=("fad",),
        categories={
            "fad": {"0": [None, None, None, None, None]},
            "desync": {"0": [1.6, 1.7, None, None, None]},
        },
        category_counts={"fad": {"0": [1, 1, 0, 0, 0]}, "desync": {"0": [1, 1, 0, 0, 0]}},
        higher_is_better={"fad": False, "desync": False},
    )


def test_every_official_key_has_a_meaning_and_a_unit() -> None:
    for key in OFFICIAL_KEYS:
        what, unit = METRIC_INFO[key]
        assert what and unit
    assert METRIC_INFO["desync"][1] == "seconds" and METRIC_INFO["fad"][1] == "×1e4"


def test_html_explains_units_counts_and_provenance() -> None:
    html = to_html(_result())
    assert "seconds" in html and "×1e4" in html
    assert "Natural (n=1)" in html and "own scale" in html
    assert html.count("TINY RANDOM WEIGHTS") >= 2 and "What these demo numbers mean" in html
    assert "<table class='kv'><tr><th>servers</th><td><table class='kv'><tr><th>embedded</th>" in html
    assert "{'" not in html  # no Python dict reprs
    assert "at least 2" in html


def test_markdown_has_units_and_the_demo_note() -> None:
    md = to_markdown(_result())
    assert "| desync | 1.6500 | ↓ | 2 | 0 | seconds |" in md
    assert "What these demo numbers mean" in md and "at least 2" in md
