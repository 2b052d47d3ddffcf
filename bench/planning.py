"""Which JavisBench metrics a run computes, and why the others are skipped (no click, no I/O of its own).

`omninft-bench run javisbench` parses its options, then asks this module: `parse_metric_args` flattens the
repeatable --metrics option, `select_metrics` resolves the keys and drops those whose scorer this installation
cannot host, `split_set_metrics` decides what happens to the set-level metrics (FVD/KVD/FAD) without a
reference cache, and `require_keys` refuses a run left with nothing to compute. They raise PlanError, which the
CLI shows as a usage error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from omninft.bench.suites.javisbench.metrics import OFFICIAL_KEYS, SET_KEYS, route_for


class PlanError(ValueError):
    """The requested run cannot be planned (unknown key, unavailable scorer, missing reference cache)."""


@dataclass
class MetricPlan:
    """The metric keys to compute, in order, and the skipped ones with the reason."""

    keys: list[str]
    requested: bool  # the user named metrics: what cannot run is an error instead of a skip
    skipped: dict[str, str] = field(default_factory=dict)
    demo_reference: bool = False  # the demo builds a stand-in reference cache for its set metrics

    @property
    def set_keys(self) -> list[str]:
        """Set-level keys among those to compute."""
        return [k for k in self.keys if k in SET_KEYS]


def parse_metric_args(values: Iterable[str]) -> list[str]:
    """--metrics values (repeatable, comma lists) as a flat list of keys."""
    return [k.strip() for m in values for k in m.split(",") if k.strip()]


def resolve_keys(requested: list[str]) -> MetricPlan:
    """The official keys of the requested metrics (default: all official ones), nothing skipped yet."""
    try:
        keys = [route_for(k).key for k in requested] if requested else list(OFFICIAL_KEYS)
    except ValueError as err:
        raise PlanError(str(err)) from None
    return MetricPlan(keys=keys, requested=bool(requested))


def drop_unavailable(
    plan: MetricPlan, *, demo: bool, available: Callable[[list[str]], dict[str, bool]]
) -> MetricPlan:
    """Skip keys whose scorer the embedded server cannot host; refuse them when named (outside the demo).

    `available(scorer_names)` says which scorers this installation (plus routed and plugin scorers) provides.
    """
    avail = available(sorted({route_for(k).scorer for k in plan.keys}))
    missing = {k: route_for(k).scorer for k in plan.keys if not avail[route_for(k).scorer]}
    if missing and plan.requested and not demo:
        raise PlanError(
            "not available in this installation (scorer module not built): "
            + ", ".join(f"{k} (scorer {s})" for k, s in missing.items())
        )
    for k, s in missing.items():
        plan.skipped[k] = f"not available: scorer {s!r} is not part of this installation"
    plan.keys = [k for k in plan.keys if k not in plan.skipped]
    return plan


def select_metrics(
    requested: list[str],
    *,
    embedded: bool,
    demo: bool,
    available: Callable[[list[str]], dict[str, bool]],
) -> MetricPlan:
    """`resolve_keys`, then `drop_unavailable` when an embedded server would host the scorers."""
    plan = resolve_keys(requested)
    return drop_unavailable(plan, demo=demo, available=available) if embedded else plan


def split_set_metrics(plan: MetricPlan, *, has_reference: bool, demo: bool) -> MetricPlan:
    """Set-level metrics need a reference cache: the demo makes one, otherwise they are refused or skipped."""
    set_keys = plan.set_keys
    plan.demo_reference = demo and bool(set_keys) and not has_reference
    if set_keys and not has_reference and not demo:
        if plan.requested:
            raise PlanError(
                f"{', '.join(set_keys)} need --reference-cache FILE (the official "
                "JavisBench*-vanilla-max4s.pt, or `omninft-bench reference build`)"
            )
        for k in set_keys:
            plan.skipped[k] = "needs --reference-cache (ground-truth I3D/AudioCLIP features)"
        plan.keys = [k for k in plan.keys if k not in set_keys]
    return plan


def require_keys(plan: MetricPlan) -> MetricPlan:
    """Refuse a plan with nothing left to compute (the CLI has listed the skipped keys by then)."""
    if not plan.keys:
        raise PlanError("no metric left to compute (see the skipped lines above)")
    return plan
