"""JavisBench metric keys (official JSON names) and the scorer output or embedding behind each one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MetricRoute:
    """A per-sample metric: the mean over valid samples of `scorer`'s `output`."""

    key: str
    scorer: str
    output: str
    higher_is_better: bool


@dataclass(frozen=True)
class SetMetricRoute:
    """A set-level metric over `scorer`'s `embedding` against the reference cache's `reference` features."""

    key: str
    scorer: str
    embedding: str
    reference: str  # "video" or "audio" (the official cache's keys)
    kind: str  # "frechet" or "mmd"
    scale: float = 1.0
    higher_is_better: bool = False

    @property
    def embedding_key(self) -> str:
        """The name the Embed RPC returns it under ("<scorer>.<embedding>")."""
        return f"{self.scorer}.{self.embedding}"


Route = MetricRoute | SetMetricRoute


def _load_routes() -> tuple[dict[str, MetricRoute], dict[str, SetMetricRoute]]:
    """The routes generated from the scorers' specs (routes.json; scripts/gen_bench_routes.py writes it)."""
    table = json.loads((Path(__file__).with_name("routes.json")).read_text())["metrics"]
    per_sample: dict[str, MetricRoute] = {}
    set_level: dict[str, SetMetricRoute] = {}
    for key, r in table.items():
        if "output" in r:
            per_sample[key] = MetricRoute(key, r["scorer"], r["output"], r["higher_is_better"])
        else:
            set_level[key] = SetMetricRoute(
                key,
                r["scorer"],
                r["embedding"],
                r["reference"],
                r["kind"],
                scale=r["scale"],
                higher_is_better=r["higher_is_better"],
            )
    return per_sample, set_level


# specs/javisbench.md §2: which scorer output (or embedding) produces each official key: declared by each
# scorer's ScorerSpec.bench. FVD/KVD on I3D logits (400-d), FAD on raw AudioCLIP embeddings × 1e4 (spec §6.1).
ROUTES, SET_ROUTES = _load_routes()

# Every key the official evaluator writes for `--metrics all`, in its order (spec §5.2), minus cavp_score
# (dropped in JavisDiT++; its mmcv stack cannot run here).
OFFICIAL_KEYS = (
    "fvd",
    "kvd",
    "fad",
    "visual_quality",
    "motion_quality",
    "audio_quality",
    "ib_tv",
    "ib_ta",
    "ib_av",
    "clip_score",
    "clap_score",
    "av_align",
    "avh_score",
    "javis_score",
    "desync",
)
SET_KEYS = tuple(SET_ROUTES)


def route_for(key: str) -> Route:
    """The route of one official key (ValueError naming the official keys otherwise)."""
    if key in ROUTES:
        return ROUTES[key]
    if key in SET_ROUTES:
        return SET_ROUTES[key]
    raise ValueError(f"unknown JavisBench metric {key!r}; official keys: {', '.join(OFFICIAL_KEYS)}")


def resolve_metrics(requested: list[str] | None) -> list[Route]:
    """Routes for the requested keys in official order (default: all 15 official keys)."""
    keys = list(dict.fromkeys(requested)) if requested else list(OFFICIAL_KEYS)
    routes = [route_for(k) for k in keys]
    order = {k: i for i, k in enumerate(OFFICIAL_KEYS)}
    return sorted(routes, key=lambda r: order.get(r.key, len(order)))


def scorers_of(routes: list[Route]) -> tuple[str, ...]:
    """The scorer names a set of routes needs, sorted."""
    return tuple(sorted({r.scorer for r in routes}))
