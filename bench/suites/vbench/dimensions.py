"""The 16 VBench dimensions: groups, normalisation constants, and the scorer contract of each one.

Constants are those of the reference's `scripts/constant.py` (spec §3); the per-dimension outputs are the
contract described in `omninft.bench.suites.vbench` (the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

QUALITY = "quality"
SEMANTIC = "semantic"

# What the runner sends as Sample.prompt for a dimension (see the package docstring, "Conditions").
COND_PROMPT = "prompt"  # prompt_en (informational for the Quality dimensions)
COND_OBJECT = "object"  # auxiliary_info[dim]["object"]
COND_SCENE = "scene"  # auxiliary_info["scene"]["scene"]["scene"]
COND_STYLE = "style"  # auxiliary_info["appearance_style"]["appearance_style"]
COND_COLOR = "color"  # JSON {"color": ..., "object": ...}
COND_SPATIAL = "spatial"  # JSON {"object_a": ..., "object_b": ..., "relationship": ...}
COND_ACTION = "action"  # Kinetics label parsed from the file name (spec §1.10)


@dataclass(frozen=True)
class Dimension:
    """One VBench dimension: leaderboard constants and what its scorer returns per video."""

    name: str
    group: str
    min: float
    max: float
    weight: float
    rpc: str  # "score" (named float outputs) or "embed" (named float64 vectors)
    outputs: tuple[str, ...]  # score outputs, or embedding names with rpc "embed"
    condition: str
    needs_auxiliary_info: bool = False

    @property
    def scorer(self) -> str:
        """The served scorer's name."""
        return f"vbench_{self.name}"

    @property
    def wire_outputs(self) -> tuple[str, ...]:
        """The names on the wire: Score outputs carry the dimension as a prefix, because one request's scores
        share a single map across scorers; embeddings are already keyed "<scorer>.<name>"."""
        return tuple(f"{self.name}_{o}" for o in self.outputs) if self.rpc == "score" else self.outputs

    @property
    def label(self) -> str:
        """The key `cal_final_score.py` uses (underscores become spaces)."""
        return self.name.replace("_", " ")


_PAIR = ("video_sim", "cnt_per_video")
_FRAMES = ("success_frame_count", "frame_count")
_VALUE = ("video_results",)

_ALL = (
    Dimension("subject_consistency", QUALITY, 0.1462, 1.0, 1.0, "score", _PAIR, COND_PROMPT),
    Dimension("background_consistency", QUALITY, 0.2615, 1.0, 1.0, "score", _PAIR, COND_PROMPT),
    Dimension("temporal_flickering", QUALITY, 0.6293, 1.0, 1.0, "score", _VALUE, COND_PROMPT),
    Dimension("motion_smoothness", QUALITY, 0.706, 0.9975, 1.0, "score", _VALUE, COND_PROMPT),
    Dimension("dynamic_degree", QUALITY, 0.0, 1.0, 0.5, "score", _VALUE, COND_PROMPT),
    Dimension("aesthetic_quality", QUALITY, 0.0, 1.0, 1.0, "score", _VALUE, COND_PROMPT),
    Dimension("imaging_quality", QUALITY, 0.0, 1.0, 1.0, "score", _VALUE, COND_PROMPT),
    Dimension("object_class", SEMANTIC, 0.0, 1.0, 1.0, "score", _FRAMES, COND_OBJECT, True),
    Dimension("multiple_objects", SEMANTIC, 0.0, 1.0, 1.0, "score", _FRAMES, COND_OBJECT, True),
    Dimension("human_action", SEMANTIC, 0.0, 1.0, 1.0, "score", _VALUE, COND_ACTION),
    Dimension(
        "color",
        SEMANTIC,
        0.0,
        1.0,
        1.0,
        "score",
        ("object_frame_count", "color_frame_count"),
        COND_COLOR,
        True,
    ),
    Dimension(
        "spatial_relationship", SEMANTIC, 0.0, 1.0, 1.0, "embed", ("frame_results",), COND_SPATIAL, True
    ),
    Dimension("scene", SEMANTIC, 0.0, 0.8222, 1.0, "score", _FRAMES, COND_SCENE, True),
    Dimension(
        "appearance_style", SEMANTIC, 0.0009, 0.2855, 1.0, "embed", ("frame_results",), COND_STYLE, True
    ),
    Dimension("temporal_style", SEMANTIC, 0.0, 0.364, 1.0, "score", _VALUE, COND_PROMPT),
    Dimension("overall_consistency", SEMANTIC, 0.0, 0.364, 1.0, "score", _VALUE, COND_PROMPT),
)

DIMENSIONS: dict[str, Dimension] = {d.name: d for d in _ALL}
# The leaderboard's order (constant.py TASK_INFO): reports and results.json follow it.
LEADERBOARD_ORDER: tuple[str, ...] = tuple(d.name for d in _ALL)
# Summation order of cal_final_score.py (QUALITY_LIST puts dynamic degree last; float sums follow it).
QUALITY_LIST: tuple[str, ...] = (
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "motion_smoothness",
    "aesthetic_quality",
    "imaging_quality",
    "dynamic_degree",
)
SEMANTIC_LIST: tuple[str, ...] = (
    "object_class",
    "multiple_objects",
    "human_action",
    "color",
    "spatial_relationship",
    "scene",
    "appearance_style",
    "temporal_style",
    "overall_consistency",
)
QUALITY_WEIGHT = 4.0
SEMANTIC_WEIGHT = 1.0
# custom_input / vbench_category refuse these (the reference's check_dimension_requires_extra_info).
AUXILIARY_DIMENSIONS: tuple[str, ...] = tuple(d.name for d in _ALL if d.needs_auxiliary_info)
STATIC_FILTER_SCORER = "vbench_static_filter"


def resolve_dimensions(requested: list[str] | None) -> list[Dimension]:
    """The requested dimensions (comma lists allowed) in leaderboard order; all 16 when none is given."""
    names = [n.strip() for r in (requested or []) for n in r.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown VBench dimension(s) {', '.join(unknown)}; known: {', '.join(LEADERBOARD_ORDER)}"
        )
    chosen = set(names) if names else set(LEADERBOARD_ORDER)
    return [DIMENSIONS[n] for n in LEADERBOARD_ORDER if n in chosen]
