"""Normalisation and the Quality / Semantic / Total scores exactly as `scripts/cal_final_score.py` forms them.

Raw scores are fractions (the leaderboard shows ×100). n_d = w_d·(raw_d − Min_d)/(Max_d − Min_d), unclipped;
Quality and Semantic are Σ n_d / Σ w_d over their lists in the reference's order, Total = (4·Q + 1·S)/5. Unlike the
reference, a missing dimension is never scored 0: it is named in the error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from omninft.bench.suites.vbench.dimensions import (
    DIMENSIONS,
    QUALITY_LIST,
    QUALITY_WEIGHT,
    SEMANTIC_LIST,
    SEMANTIC_WEIGHT,
)


class MissingDimensionsError(ValueError):
    """A group score needs dimensions that have no value."""

    def __init__(self, group: str, missing: list[str]) -> None:
        super().__init__(
            f"{group} needs {', '.join(missing)}: no value (not run, or failed); "
            "the reference would silently score them 0"
        )
        self.group = group
        self.missing = missing


def normalise(name: str, raw: float) -> float:
    """The weighted, min-max normalised value of one dimension (no clipping, like the reference)."""
    d = DIMENSIONS[name]
    return (raw - d.min) / (d.max - d.min) * d.weight


def normalise_all(raw: Mapping[str, float | None]) -> dict[str, float]:
    """Normalised values of every dimension that has a finite raw value."""
    return {k: normalise(k, v) for k, v in raw.items() if v is not None and math.isfinite(v)}


def _group(raw: Mapping[str, float | None], names: tuple[str, ...], group: str) -> float:
    missing = [n for n in names if raw.get(n) is None or not math.isfinite(raw[n])]  # type: ignore[arg-type]
    if missing:
        raise MissingDimensionsError(group, missing)
    norm = normalise_all(raw)
    # Python's left-to-right sum over the reference's list order, as in cal_final_score.py.
    return sum([norm[n] for n in names]) / sum([DIMENSIONS[n].weight for n in names])


def quality_score(raw: Mapping[str, float | None]) -> float:
    """Quality: Σ n_d / Σ w_d over the 7 Quality dimensions (weight sum 6.5)."""
    return _group(raw, QUALITY_LIST, "Quality")


def semantic_score(raw: Mapping[str, float | None]) -> float:
    """Semantic: Σ n_d / Σ w_d over the 9 Semantic dimensions."""
    return _group(raw, SEMANTIC_LIST, "Semantic")


@dataclass(frozen=True)
class GroupScores:
    """Quality, Semantic and Total where computable, and why the others are not."""

    quality: float | None
    semantic: float | None
    total: float | None
    missing: dict[str, list[str]]  # group -> dimensions without a value

    def to_json(self) -> dict[str, object]:
        """The results.json form."""
        return {
            "quality": self.quality,
            "semantic": self.semantic,
            "total": self.total,
            "missing": self.missing,
        }


def group_scores(raw: Mapping[str, float | None]) -> GroupScores:
    """Quality, Semantic and Total: each only when all of its dimensions have values."""
    out: dict[str, float | None] = {}
    missing: dict[str, list[str]] = {}
    for key, fn in (("quality", quality_score), ("semantic", semantic_score)):
        try:
            out[key] = fn(raw)
        except MissingDimensionsError as err:
            out[key] = None
            missing[err.group] = err.missing
    q, s = out["quality"], out["semantic"]
    total = None
    if q is not None and s is not None:
        total = (q * QUALITY_WEIGHT + s * SEMANTIC_WEIGHT) / (QUALITY_WEIGHT + SEMANTIC_WEIGHT)
    else:
        missing["Total"] = [*missing.get("Quality", []), *missing.get("Semantic", [])]
    return GroupScores(q, s, total, missing)


def total_score(raw: Mapping[str, float | None]) -> float:
    """Total = (4·Quality + 1·Semantic) / 5; MissingDimensionsError naming every missing dimension."""
    g = group_scores(raw)
    if g.total is None:
        raise MissingDimensionsError("Total", g.missing["Total"])
    return g.total
