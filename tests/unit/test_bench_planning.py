"""Benchmark run planning without click: key resolution, unavailable scorers, set metrics without a reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from omninft.bench.planning import (
    PlanError,
    parse_metric_args,
    require_keys,
    select_metrics,
    split_set_metrics,
)
from omninft.bench.suites.javisbench.metrics import OFFICIAL_KEYS, SET_KEYS


def _all(names: list[str]) -> dict[str, bool]:
    return dict.fromkeys(names, True)


def _without(*scorers: str) -> Callable[[list[str]], dict[str, bool]]:
    return lambda names: {n: n not in scorers for n in names}


def test_metric_arguments_and_default_keys() -> None:
    assert parse_metric_args(["clip_score,clap_score", " fvd ", ","]) == ["clip_score", "clap_score", "fvd"]
    plan = select_metrics([], embedded=True, demo=False, available=_all)
    assert plan.keys == list(OFFICIAL_KEYS) and not plan.requested and plan.skipped == {}
    assert set(plan.set_keys) == set(SET_KEYS) == {"fvd", "kvd", "fad"}
    with pytest.raises(PlanError, match="unknown JavisBench metric 'clip'"):
        select_metrics(["clip"], embedded=True, demo=False, available=_all)


def test_unavailable_scorers_are_skipped_by_default_and_refused_when_named() -> None:
    plan = select_metrics([], embedded=True, demo=False, available=_without("videoalign"))
    assert {"visual_quality", "motion_quality"} == set(plan.skipped)
    assert "visual_quality" not in plan.keys and "clip_score" in plan.keys
    with pytest.raises(PlanError, match=r"visual_quality \(scorer videoalign\)"):
        select_metrics(["visual_quality"], embedded=True, demo=False, available=_without("videoalign"))
    demo = select_metrics(
        ["visual_quality", "clip_score"], embedded=True, demo=True, available=_without("videoalign")
    )
    assert demo.keys == ["clip_score"] and set(demo.skipped) == {
        "visual_quality"
    }  # the demo skips, never refuses
    asked: list[list[str]] = []

    def probe(names: list[str]) -> dict[str, bool]:
        asked.append(names)
        return {}

    remote = select_metrics(["visual_quality"], embedded=False, demo=False, available=probe)
    assert remote.keys == ["visual_quality"] and asked == []  # a remote server is not probed here


def test_set_metrics_need_a_reference_cache_unless_the_demo_makes_one() -> None:
    plan = split_set_metrics(
        select_metrics([], embedded=False, demo=False, available=_all), has_reference=False, demo=False
    )
    assert set(plan.skipped) == {"fvd", "kvd", "fad"} and plan.set_keys == [] and not plan.demo_reference
    with pytest.raises(PlanError, match="fvd need --reference-cache"):
        split_set_metrics(
            select_metrics(["fvd"], embedded=False, demo=False, available=_all),
            has_reference=False,
            demo=False,
        )
    demo = split_set_metrics(
        select_metrics([], embedded=False, demo=True, available=_all), has_reference=False, demo=True
    )
    assert demo.demo_reference and demo.set_keys == ["fvd", "kvd", "fad"]
    with_ref = split_set_metrics(
        select_metrics(["fad"], embedded=False, demo=False, available=_all), has_reference=True, demo=False
    )
    assert with_ref.keys == ["fad"] and not with_ref.demo_reference


def test_a_plan_with_nothing_left_is_refused() -> None:
    nothing = split_set_metrics(
        select_metrics([], embedded=True, demo=False, available=lambda n: dict.fromkeys(n, False)),
        has_reference=True,
        demo=False,
    )
    assert nothing.keys == [] and set(nothing.skipped) == set(OFFICIAL_KEYS)
    with pytest.raises(PlanError, match="no metric left"):
        require_keys(nothing)
    only_sets = split_set_metrics(
        select_metrics([], embedded=False, demo=False, available=_all), has_reference=False, demo=False
    )
    assert require_keys(only_sets) is only_sets
