"""Pure parts of the bench package: load statistics, prompt CSV parsing, aggregation, category means."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from omninft.bench.perf.loadgen import parse_concurrency
from omninft.bench.perf.stats import format_table, latency_summary, summarise_level
from omninft.bench.results import category_means, mean_or_nan
from omninft.bench.suites.javisbench.metrics import resolve_metrics
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


@pytest.mark.parametrize(("text", "levels"), [("1,4,16", (1, 4, 16)), ("1:16:x2", (1, 2, 4, 8, 16)), ("2:10:+4", (2, 6, 10))])
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
    csv_path.write_text('text,audio_text,cat0_ind,cat1_ind,cat2_ind,cat3_ind,cat4_ind\n'
                        'a dog barks,,"0,2",1,1,0,2\n'
                        'rain on a roof,heavy rain,4,0,0,1,0\n')
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


def test_metric_resolution_errors_are_explicit() -> None:
    assert [r.key for r in resolve_metrics(None)] == ["clip_score", "clap_score"]
    with pytest.raises(ValueError, match="not served yet"):
        resolve_metrics(["fvd"])
    with pytest.raises(ValueError, match="unknown JavisBench metric"):
        resolve_metrics(["nope"])
