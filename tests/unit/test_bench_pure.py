"""Pure parts of the bench package: load statistics, prompt CSV parsing, aggregation, category means."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from omninft.bench.perf.loadgen import parse_concurrency
from omninft.bench.perf.stats import format_table, latency_summary, summarise_level
from omninft.bench.report import to_html, to_markdown
from omninft.bench.report.html import bar_chart_svg
from omninft.bench.results import BenchResult, SampleError, category_means, mean_or_nan
from omninft.bench.suites.javisbench.metrics import OFFICIAL_KEYS, SetMetricRoute, resolve_metrics, route_for
from omninft.bench.suites.javisbench.prompts import load_prompts, locate_samples, sample_stem


def test_latency_summary_matches_numpy_percentiles() -> None:
    rng = np.random.default_rng(0)
    lat = rng.exponential(0.05, size=1001)
    got = latency_summary(lat.tolist())
    ref = np.percentile(lat * 1e3, [50, 90, 99])
    assert got["p50"] == pytest.approx(ref[0])
    assert got["p90"] == pytest.approx(ref[1])
    assert got["p99"] == pytest.approx(ref[2])
    assert got["max"] == pytest.approx(lat.max() * 1e3)


def test_summarise_level_counts_only_successes() -> None:
    lv = summarise_level(4, [0.1, 0.2, 0.3, 0.4], 2, 2.0, {"RESOURCE_EXHAUSTED": 3}, sample_errors=1)
    assert lv.requests == 4 and lv.samples == 8
    assert lv.throughput_rps == pytest.approx(2.0) and lv.throughput_sps == pytest.approx(4.0)
    assert "RESOURCE_EXHAUSTED" not in format_table([lv]) and " 4 " in format_table([lv])


def test_empty_level_is_nan_not_zero_latency() -> None:
    assert math.isnan(latency_summary([])["p50"])


@pytest.mark.parametrize(
    ("text", "levels"), [("1,4,16", (1, 4, 16)), ("1:16:x2", (1, 2, 4, 8, 16)), ("2:10:+4", (2, 6, 10))]
)
def test_parse_concurrency(text: str, levels: tuple[int, ...]) -> None:
    assert parse_concurrency(text) == levels


def test_mean_excludes_failures_never_zero() -> None:
    assert mean_or_nan([1.0, None, 3.0]) == pytest.approx(2.0)
    assert math.isnan(mean_or_nan([None, None]))


def test_category_means_official_layout() -> None:
    values = [1.0, 2.0, None, 4.0]
    cats = [((0,), (1,)), ((0, 1), ()), ((1,), (1,)), ((2,), (1,))]
    out = category_means(values, cats, (3, 2))
    assert out["0"] == [pytest.approx(1.5), pytest.approx(2.0), pytest.approx(4.0)]
    assert out["1"] == [None, pytest.approx(2.5)]


def test_prompt_csv_and_layout(tmp_path: Path) -> None:
    csv_path = tmp_path / "p.csv"
    csv_path.write_text(
        "text,audio_text,cat0_ind,cat1_ind,cat2_ind,cat3_ind,cat4_ind\n"
        'a dog barks,,"0,2",1,1,0,2\n'
        "rain on a roof,heavy rain,4,0,0,1,0\n"
    )
    rows = load_prompts(csv_path)
    assert rows[0].audio_text == "a dog barks"  # falls back to text
    assert rows[1].audio_text == "heavy rain"
    assert rows[0].categories[0] == (0, 2)
    (tmp_path / "sample_0000.mp4").write_bytes(b"x")
    (tmp_path / "sample_0000.wav").write_bytes(b"x")
    (tmp_path / "sample_0001.mp4").write_bytes(b"x")  # muxed audio only
    located = locate_samples(tmp_path, load_prompts(csv_path, limit=2) + [rows[1].__class__(2, "t", "t", ())])
    assert located[0].audio is not None and located[0].audio.suffix == ".wav"
    assert located[1].audio is not None and located[1].audio.suffix == ".mp4"
    assert located[2].problem == "missing sample_0002.mp4"
    assert sample_stem(10139) == "sample_10139"


def test_csv_without_text_column_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("prompt\nx\n")
    with pytest.raises(ValueError, match="'text' column"):
        load_prompts(p)


def test_metric_resolution_covers_the_15_official_keys() -> None:
    routes = resolve_metrics(None)
    assert [r.key for r in routes] == list(OFFICIAL_KEYS) and len(routes) == 15
    assert [r.key for r in resolve_metrics(["clap_score", "fvd"])] == ["fvd", "clap_score"]  # official order
    fad = route_for("fad")
    assert isinstance(fad, SetMetricRoute) and fad.scale == 1e4 and fad.embedding_key == "audioclip.audioclip"
    assert route_for("desync").higher_is_better is False
    with pytest.raises(ValueError, match="unknown JavisBench metric"):
        resolve_metrics(["cavp_score"])


def _result() -> BenchResult:
    cats = [((0,), (1,), (2,), (0,), (0,)), ((4,), (0,), (2,), (1,), (2,))]
    return BenchResult(
        suite="javisbench",
        protocol="javisbench-v1",
        results={"fvd": 12.5, "clip_score": 0.3},
        per_sample={"clip_score": [0.2, 0.4]},
        counts={
            "fvd": {"total": 2, "scored": 2, "failed": 0},
            "clip_score": {"total": 2, "scored": 2, "failed": 0},
        },
        errors=[SampleError(1, "sample_0001", "desync", "INVALID_ARGUMENT", "audio is <silent>")],
        provenance={
            "scorers": [
                {
                    "name": "clip",
                    "version": "1",
                    "weights_id": "tiny",
                    "weights_sha256": "0" * 64,
                    "tiny_weights": True,
                    "backend": "torch",
                    "protocol": "javisbench-v1",
                }
            ]
        },
        tiny_weights=True,
        set_metrics=("fvd",),
        categories={
            "fvd": {"0": [None, None, None, None, None]},
            "clip_score": category_means([0.2, 0.4], cats, (5, 3, 5, 3, 3)),
        },
        skipped={"desync": "not available"},
        higher_is_better={"fvd": False, "clip_score": True},
    )


def test_verbose_json_uses_the_official_structure() -> None:
    doc = _result().to_json(verbose=True)
    clip = doc["results"]["clip_score"]
    assert set(clip) == {"overall", "all", "0", "1", "2", "3", "4"} and clip["all"] == [0.2, 0.4]
    assert clip["0"] == [pytest.approx(0.2), None, None, None, pytest.approx(0.4)]
    assert set(doc["results"]["fvd"]) == {"overall", "0"}  # set-level: no per-sample list
    flat = _result().to_json()
    assert flat["results"] == {"fvd": 12.5, "clip_score": 0.3} and flat["skipped"] == {
        "desync": "not available"
    }


def test_html_report_is_self_contained_with_svg_bars() -> None:
    html = to_html(_result())
    assert (
        html.startswith("<!DOCTYPE html>")
        and "<script" not in html
        and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    )
    assert html.count("<svg") == 5  # clip_score: 5 aspects; fvd has no category value, so no plot
    assert "TINY RANDOM WEIGHTS" in html and "audio is &lt;silent&gt;" in html
    md = to_markdown(_result())
    assert "| fvd | 12.5000 | ↓ |" in md and "`desync`: not available" in md


def test_svg_bar_chart_handles_missing_and_negative_values() -> None:
    svg = bar_chart_svg(["a", "b", "c"], [1.0, None, -0.5], title="t")
    assert svg.count("<rect") == 2 and "n/a" in svg and svg.endswith("</svg>")
