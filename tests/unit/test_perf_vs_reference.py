"""vs_reference's pure pieces: the groups cover the suite's keys, runs add up, the table reads the state."""

from __future__ import annotations

import json
from pathlib import Path

from omninft.bench.perf.scripts.vs_reference import GROUPS, _agree, add, table

ROUTES = Path(__file__).resolve().parents[2] / "bench" / "suites" / "javisbench" / "routes.json"


def _run(wall: float, cpu: float, rss: int, **extra: object) -> dict[str, object]:
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mib": rss,
        "rc": 0,
        "load_avg_before": [1.0, 1.0, 1.0],
        "load_avg_after": [2.0, 2.0, 2.0],
        **extra,
    }


def test_groups_cover_every_key_but_videoreward_once() -> None:
    """Each official key in exactly one group; the weight files name the scorers the keys route to."""
    routes = json.loads(ROUTES.read_text())["metrics"]
    keys = [k for g in GROUPS.values() for k in g.keys]
    assert len(keys) == len(set(keys))
    assert set(routes) - set(keys) == {"visual_quality", "motion_quality"}
    for g in GROUPS.values():
        assert set(g.weights) <= {routes[k]["scorer"] for k in g.keys}


def test_add_sums_times_and_keeps_the_larger_peak() -> None:
    """Sequential runs: wall and CPU add, peak RSS is the larger, load averages from first and last."""
    s = add(_run(10.0, 4.0, 300), _run(5.5, 2.5, 900))
    assert (s["wall_s"], s["cpu_s"], s["peak_rss_mib"], s["rc"]) == (15.5, 6.5, 900, 0)
    assert s["load_avg_before"] == [1.0] * 3 and s["load_avg_after"] == [2.0] * 3


def test_agree_is_the_largest_relative_difference() -> None:
    """Over the keys both sides have; zero reference values compare absolutely."""
    ref = {"values": {"fvd": 100.0, "kvd": 0.0, "fad": 2.0}}
    ours = {"values": {"fvd": 100.5, "kvd": 1e-3, "extra": 5.0}}
    assert _agree(ref, ours) == "5.0e-03"


def test_table_rows_ratios_and_suite_sum() -> None:
    """Speed-up = reference / ours for wall and CPU; the reference's suite is the sum of its groups."""
    runs = {
        "ref/clip_score/n8": _run(40.0, 60.0, 2000, values={"clip_score": 0.5}),
        "ours/clip_score/n8": _run(20.0, 30.0, 1500, values={"clip_score": 0.5}, forward_share=0.5,
                                   decodes_per_sample={"video": 1.0}),
        "ref/av_align/n8": _run(10.0, 12.0, 500),
        "ours/av_align/n8": _run(20.0, 6.0, 400, forward_share=0.0, decodes_per_sample={"video": 1.0, "audio": 1.0}),
        "ours/suite/n8": _run(25.0, 30.0, 1600, forward_share=0.4, decodes_per_sample={"video": 1.0, "audio": 1.0},
                              groups=["clip_score", "av_align"]),
        "ref/desync/n8": {**_run(1.0, 1.0, 1), "error": "boom"},
    }  # fmt: skip
    text = table({"runs": runs}, 8)
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in text.splitlines()[2:]}
    assert rows["clip_score"][:8] == ["40.0", "60.0", "2000", "20.0", "30.0", "1500", "2.00x", "2.00x"]
    assert rows["clip_score"][8] == "50 %" and rows["clip_score"][10] == "0.0e+00"
    assert rows["av_align"][6:8] == ["0.50x", "2.00x"]
    assert rows["desync"][0] == "failed" and rows["desync"][6] == "n/a"
    suite = rows["**whole suite**: clip_score, av_align (ref = sum of its groups)"]
    assert suite[:2] == ["50.0", "72.0"] and suite[6:8] == ["2.00x", "2.40x"]
    runs["ours/suite/n8"]["groups"] = ["clip_score", "desync"]  # a group the reference failed: no sum
    text = table({"runs": runs}, 8)
    suite_row = next(r for r in text.splitlines() if "whole suite" in r)
    assert [c.strip() for c in suite_row.split("|")[2:4]] == ["—", "—"]
