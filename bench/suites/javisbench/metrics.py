"""JavisBench metric keys (official JSON names) and the scorer output that produces each per-sample value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricRoute:
    """A per-sample metric: the mean over valid samples of `scorer`'s `output`."""

    key: str
    scorer: str
    output: str
    higher_is_better: bool


# Per-sample metrics served so far. The remaining official keys arrive with their model families.
ROUTES: dict[str, MetricRoute] = {
    "clip_score": MetricRoute("clip_score", "clip", "clip_score", True),
    "clap_score": MetricRoute("clap_score", "clap", "clap_score", True),
}

# Every key the official evaluator writes, in its order (specs/javisbench.md §5.2).
OFFICIAL_KEYS = (
    "fvd", "kvd", "fad", "visual_quality", "motion_quality", "audio_quality", "ib_tv", "ib_ta", "ib_av",
    "clip_score", "clap_score", "av_align", "avh_score", "javis_score", "desync",
)


def resolve_metrics(requested: list[str] | None) -> list[MetricRoute]:
    """Routes for the requested keys (default: every available one); unknown or unavailable keys raise."""
    if not requested:
        return list(ROUTES.values())
    out = []
    for key in requested:
        if key in ROUTES:
            out.append(ROUTES[key])
        elif key in OFFICIAL_KEYS:
            raise ValueError(
                f"metric {key!r} is an official JavisBench key whose model is not served yet; "
                f"available now: {', '.join(ROUTES)}"
            )
        else:
            raise ValueError(f"unknown JavisBench metric {key!r}; official keys: {', '.join(OFFICIAL_KEYS)}")
    return out
