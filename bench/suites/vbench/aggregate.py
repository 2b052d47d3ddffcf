"""Per-video records and per-dimension aggregates of VBench, from the scorers' per-video outputs.

Each function reproduces the reference's single-GPU code path (spec §1), including its summation order:
Python left-to-right sums where the reference accumulates in a loop, `np.mean` where it calls np.mean.
Weighted aggregates (per frame pair, per frame) are formed from counts, never as a mean of per-video means.
Videos arrive in the reference's order (prompt order of the suite, then index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omninft.bench.suites.vbench.dimensions import DIMENSIONS


class EmptyDimensionError(ValueError):
    """A dimension has no scored video: its aggregate does not exist (never NaN, never 0)."""


class DroppedVideo(Exception):  # noqa: N818 - a control-flow signal, not a failure
    """The reference leaves this video out of the dimension without an error (color with no object frame)."""


@dataclass(frozen=True)
class PerVideo:
    """One video's §4 record (written to <name>_eval_results.json) and the statistics its aggregate uses."""

    record: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


def _count(values: Mapping[str, Any], key: str) -> int:
    v = float(values[key])
    if v < 0 or v != int(v):
        raise ValueError(f"{key} must be a non-negative whole number, got {v}")
    return int(v)


def _flag(values: Mapping[str, Any], key: str) -> bool:
    v = float(values[key])
    if v not in (0.0, 1.0):
        raise ValueError(f"{key} must be 0 or 1, got {v}")
    return v == 1.0


def _frames(values: Mapping[str, Any]) -> list[float]:
    arr = np.asarray(values["frame_results"], dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("frame_results is empty")
    return [float(x) for x in arr]


def per_video(dimension: str, video_path: str, values: Mapping[str, Any]) -> PerVideo:
    """The reference's per-video dict for one video from its scorer outputs (DroppedVideo for color's rule)."""
    rec: dict[str, Any] = {"video_path": video_path}
    if dimension in ("subject_consistency", "background_consistency"):
        sim, cnt = float(values["video_sim"]), _count(values, "cnt_per_video")
        if cnt == 0:
            raise ValueError("no frame pair (a 1-frame video)")
        rec["video_results"] = sim / cnt
        if dimension == "background_consistency":
            rec["video_sim"], rec["cnt_per_video"] = sim, cnt
        return PerVideo(rec, {"sim": sim, "cnt": cnt})
    if dimension in ("object_class", "multiple_objects", "scene"):
        ok, n = _count(values, "success_frame_count"), _count(values, "frame_count")
        if n == 0 or ok > n:
            raise ValueError(f"bad frame counts: {ok} successes of {n} frames")
        rec.update(video_results=ok / n, success_frame_count=ok, frame_count=n)
        return PerVideo(rec, {"ok": ok, "n": n})
    if dimension in ("dynamic_degree", "human_action"):
        flag = _flag(values, "video_results")
        rec["video_results"] = flag
        if dimension == "human_action":
            rec["cor_num_per_video"] = int(flag)
        return PerVideo(rec, {"value": flag})
    if dimension == "color":
        objects, colors = _count(values, "object_frame_count"), _count(values, "color_frame_count")
        if objects == 0:
            raise DroppedVideo(
                "no frame shows the target object with a colour caption (dropped, as the reference does)"
            )
        rate = colors / objects
        rec.update(video_results=rate, cur_success_frame_rate=rate)
        return PerVideo(rec, {"value": rate})
    if dimension == "spatial_relationship":
        frames = _frames(values)
        rec.update(video_results=float(np.mean(frames)), frame_results=frames)
        return PerVideo(rec, {"frames": frames})
    if dimension == "appearance_style":
        frames = _frames(values)
        rec.update(video_results=float(np.mean(frames)), frame_results=frames, cur_sim=frames[-1])
        return PerVideo(rec, {"frames": frames})
    if dimension in DIMENSIONS:  # one float per video
        value = float(values["video_results"])
        rec["video_results"] = value
        return PerVideo(rec, {"value": value})
    raise ValueError(f"unknown VBench dimension {dimension!r}")


def aggregate(dimension: str, videos: Sequence[PerVideo]) -> float:
    """The dimension's score over its videos, by the reference's single-GPU formula (spec §1)."""
    if not videos:
        raise EmptyDimensionError(f"{dimension}: no video was scored, so the dimension has no value")
    s = [v.stats for v in videos]
    if dimension in ("subject_consistency", "background_consistency"):
        sim = 0.0
        for x in s:  # `sim += video_sim` per video, then / Σ frame pairs
            sim += x["sim"]
        return sim / sum(x["cnt"] for x in s)
    if dimension in ("object_class", "multiple_objects", "scene"):
        return sum(x["ok"] for x in s) / sum(x["n"] for x in s)
    if dimension == "human_action":
        return sum(int(x["value"]) for x in s) / len(s)
    if dimension in ("aesthetic_quality", "color"):
        acc = 0.0
        for x in s:
            acc += x["value"]
        return acc / len(s)
    if dimension == "imaging_quality":  # per-video MOS on 0-100, aggregate on 0-1
        return sum([x["value"] for x in s]) / len(s) / 100.0
    if dimension == "spatial_relationship":
        return float(np.mean([f for x in s for f in x["frames"]]))
    if dimension == "appearance_style":
        acc, cnt = 0.0, 0
        for x in s:
            for f in x["frames"]:
                acc += f
                cnt += 1
        return acc / cnt
    if dimension in (
        "temporal_flickering",
        "motion_smoothness",
        "dynamic_degree",
        "temporal_style",
        "overall_consistency",
    ):
        return float(np.mean([x["value"] for x in s]))
    raise ValueError(f"unknown VBench dimension {dimension!r}")
