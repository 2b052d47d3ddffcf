"""The VBench Semantic perf scripts' pure pieces: what they run, the conditions they send, their arithmetic."""

from __future__ import annotations

import os

import pytest

from omninft.bench.perf.scripts.vbench_semantic_cpu import CONDITIONS, MODELS, _dimension
from omninft.bench.perf.scripts.vbench_suite import _proc_cpu_s
from omninft.bench.suites.vbench.dimensions import DIMENSIONS, SEMANTIC


def test_families_cover_the_nine_semantic_dimensions_once() -> None:
    """Every Semantic dimension's scorer is in exactly one model family and has a condition to send."""
    listed = [n for names in MODELS.values() for n in names]
    semantic = sorted(d.scorer for d in DIMENSIONS.values() if d.group == SEMANTIC)
    assert sorted(listed) == semantic and len(semantic) == 9
    assert set(CONDITIONS) == set(listed)


def test_grit_conditions_parse_as_the_scorers_parse_them() -> None:
    """The fixed GRiT conditions are accepted by the scorers' own parsers (a rejected one would time nothing)."""
    from omninft.reward_servers.scorers import vbench_grit as g

    assert g.parse_object(CONDITIONS["vbench_object_class"]) == "person"
    assert g.parse_object_pair(CONDITIONS["vbench_multiple_objects"]) == ("bird", "cat")
    assert g.parse_spatial(CONDITIONS["vbench_spatial_relationship"]) == ("bicycle", "car", "on the left of")
    assert g.parse_color(CONDITIONS["vbench_color"]) == ("red", "car")


def test_dimension_figures_per_video() -> None:
    """Stage seconds are divided by the video count; videos/s counts one decode per video."""
    got = _dimension({"preprocess_s": 1.0, "forward_s": 3.0, "cpu_s": 2.0}, 5.0, 1.0, 2)
    assert got == {
        "load_s": 5.0,
        "preprocess_s_per_video": 0.5,
        "forward_s_per_video": 1.5,
        "process_cpu_s_per_video": 1.0,
        "videos_per_s": pytest.approx(2 / 5.0),
    }


def test_process_cpu_seconds_of_a_live_process() -> None:
    """/proc/<pid>/stat user + system time: this test process has used some, no more than os.times says."""
    t = os.times()
    got = _proc_cpu_s(os.getpid())
    assert 0.0 < got <= t.user + t.system + 1.0
