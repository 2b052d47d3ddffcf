"""JavisBench metric keys (official JSON names) and the scorer output or embedding behind each one."""

from __future__ import annotations

from dataclasses import dataclass


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

# specs/javisbench.md §2: which scorer output (or embedding) produces each official key.
ROUTES: dict[str, MetricRoute] = {
    "visual_quality": MetricRoute("visual_quality", "videoalign", "visual_quality", True),
    "motion_quality": MetricRoute("motion_quality", "videoalign", "motion_quality", True),
    "audio_quality": MetricRoute("audio_quality", "audiobox_aesthetics", "audio_quality", True),
    "ib_tv": MetricRoute("ib_tv", "imagebind", "ib_tv", True),
    "ib_ta": MetricRoute("ib_ta", "imagebind", "ib_ta", True),
    "ib_av": MetricRoute("ib_av", "imagebind", "ib_av", True),
    "clip_score": MetricRoute("clip_score", "clip", "clip_score", True),
    "clap_score": MetricRoute("clap_score", "clap", "clap_score", True),
    "av_align": MetricRoute("av_align", "av_align", "av_align", True),
    "avh_score": MetricRoute("avh_score", "imagebind_avh", "avh_score", True),
    "javis_score": MetricRoute("javis_score", "imagebind_avh", "javis_score", True),
    "desync": MetricRoute("desync", "desync", "desync", False),
}

# FVD/KVD on I3D logits (400-d), FAD on raw AudioCLIP audio embeddings (1024-d) × 1e4 (spec §6.1).
SET_ROUTES: dict[str, SetMetricRoute] = {
    "fvd": SetMetricRoute("fvd", "i3d", "i3d", "video", "frechet"),
    "kvd": SetMetricRoute("kvd", "i3d", "i3d", "video", "mmd"),
    "fad": SetMetricRoute("fad", "audioclip", "audioclip", "audio", "frechet", scale=1e4),
}

# Every key the official evaluator writes for `--metrics all`, in its order (spec §5.2), minus cavp_score
# (dropped in JavisDiT++; its mmcv stack cannot run here).
OFFICIAL_KEYS = (
    "fvd", "kvd", "fad", "visual_quality", "motion_quality", "audio_quality", "ib_tv", "ib_ta", "ib_av",
    "clip_score", "clap_score", "av_align", "avh_score", "javis_score", "desync",
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
