"""VBench motion and flicker math: dynamic_degree, the static filter, motion_smoothness, temporal_flickering.

Pure numpy (specs/vbench.md §1.3-1.5, §12). The models (RAFT, AMT-S) live in models/raft and models/amt; these
functions take their outputs. Numerics follow the reference exactly where they decide a threshold or a score:
flow magnitudes and top-k means are float32 numpy in the reference's summation order, the MAEs are float32
numpy means, and Python's round-half-even picks frame intervals and counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

DYNAMIC_TOP_FRACTION = 0.05  # vbench/dynamic_degree.py get_score
STATIC_TOP_FRACTION = 0.02  # vbench/cli/static_filter.py get_score
STATIC_PER_PROMPT = 5  # the static filter keeps the first 5 static videos of a prompt


# ------------------------------------------------------------------------------------------- flow scores


def flow_top_mean(flow: np.ndarray, fraction: float) -> float:
    """Mean of the largest int(h*w*fraction) flow magnitudes of a (2, H, W) flow (the reference's get_score).

    float32 throughout, summed in descending order as ``np.mean(abs(np.sort(-rad))[:k])`` does. When k is 0
    (fewer than 1/fraction pixels) the reference's mean of nothing is NaN; so is this (NaN never passes a
    threshold).
    """
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must be (2, H, W), got {flow.shape}")
    u = np.asarray(flow[0], dtype=np.float32)
    v = np.asarray(flow[1], dtype=np.float32)
    rad = np.sqrt(np.square(u) + np.square(v))
    h, w = rad.shape
    k = int(h * w * fraction)
    if k == 0:
        return float("nan")
    top = np.abs(np.sort(-rad.reshape(-1)))[:k]
    return float(np.mean(top))


# ------------------------------------------------------------------------------------------- dynamic_degree


def dynamic_frame_interval(fps: float) -> int:
    """Keep every interval-th frame so the video is seen at about 8 fps: max(1, round(fps / 8)), half to even.

    fps 0 (a container without a rate) gives 1, as in the reference; a NaN or infinite rate is a ValueError.
    """
    if not math.isfinite(fps):
        raise ValueError(f"dynamic_degree needs a finite frame rate, got {fps}")
    return max(1, round(fps / 8))


def dynamic_frame_indices(num_frames: int, fps: float) -> list[int]:
    """Indices of the frames dynamic_degree runs RAFT on: 0, interval, 2*interval, ..."""
    return list(range(0, num_frames, dynamic_frame_interval(fps)))


@dataclass(frozen=True)
class MotionThresholds:
    """A per-pair flow threshold and the count of pairs that decides a video."""

    thres: float
    count_num: int


def dynamic_thresholds(height: int, width: int, num_sampled: int) -> MotionThresholds:
    """thres = 6 * min(H, W) / 256 of the original frame, count_num = round(4 * M / 16) (half to even)."""
    return MotionThresholds(6.0 * (min(height, width) / 256.0), round(4 * (num_sampled / 16.0)))


def is_dynamic(pair_scores: Iterable[float], thresholds: MotionThresholds) -> bool:
    """True once count_num pair scores exceed thres (checked after each pair, as the reference's early exit).

    So count_num 0 (M = 2) is dynamic after the first pair, and a video without pairs (M = 1) is not dynamic.
    """
    count = 0
    for score in pair_scores:
        if score > thresholds.thres:
            count += 1
        if count >= thresholds.count_num:
            return True
    return False


def dynamic_degree_aggregate(per_video: Sequence[bool]) -> float:
    """The dimension score: the fraction of dynamic videos (mean of the booleans)."""
    if not per_video:
        raise ValueError("dynamic_degree has no videos to aggregate")
    return float(np.mean(np.asarray(per_video, dtype=bool)))


# ------------------------------------------------------------------------------------------- static filter


def static_filter_pairs(num_frames: int) -> list[tuple[int, int]]:
    """Frame pairs the static filter scores: every (i, i+1), then (first, last) and (last, first)."""
    if num_frames <= 0:
        raise ValueError("the static filter needs at least one frame")
    last = num_frames - 1
    return [(i, i + 1) for i in range(last)] + [(0, last), (last, 0)]


def static_thresholds(height: int, width: int, num_frames: int) -> MotionThresholds:
    """thres = 3 * min(H, W) / 256, count_num = round(2 * N / 16) over all N frames (half to even)."""
    return MotionThresholds(3.0 * (min(height, width) / 256.0), round(2 * (num_frames / 16.0)))


def is_static(pair_scores: Sequence[float], thresholds: MotionThresholds) -> bool:
    """The reference's check_static over the scores of static_filter_pairs (last two: first<->last).

    Static iff the consecutive scores above thres never number more than count_num, and neither first<->last
    score exceeds thres * count_num * 2 (so with count_num 0 any motion at all fails).
    """
    if len(pair_scores) < 2:
        raise ValueError("the static filter scores at least the two first<->last pairs")
    count = 0
    for score in pair_scores[:-2]:
        if score > thresholds.thres:
            count += 1
        if count > thresholds.count_num:
            return False
    return all(not score > thresholds.thres * thresholds.count_num * 2 for score in pair_scores[-2:])


_NUMBER_ENDING = re.compile(r"-\d+$")


def prompt_from_filename(name: str) -> str:
    """VBench's get_prompt_from_filename: the file stem without a trailing '-<digits>'."""
    return _NUMBER_ENDING.sub("", PurePath(name).stem)


@dataclass
class StaticSelection:
    """Per prompt: the static videos found, in visiting order (the reference's filtered_static_video.json)."""

    static_path: dict[str, list[str]] = field(default_factory=dict)
    tested: list[str] = field(default_factory=list)  # every path the predicate was called on, in order

    def as_reference_json(self) -> dict[str, dict[str, object]]:
        """{prompt: {"static_count": n, "static_path": [...]}}, the layout the reference writes."""
        return {p: {"static_count": len(v), "static_path": list(v)} for p, v in self.static_path.items()}

    def copies(self) -> list[tuple[str, str]]:
        """(source path, target file name) pairs: the i-th static video of a prompt becomes '<prompt>-<i>.mp4'."""
        return [
            (src, f"{prompt}-{i}.mp4")
            for prompt, paths in self.static_path.items()
            for i, src in enumerate(paths)
        ]


def select_static(
    paths: Iterable[str],
    prompts: Sequence[str] | None,
    is_video_static: Callable[[str], bool],
    *,
    per_prompt: int | None = STATIC_PER_PROMPT,
) -> StaticSelection:
    """The static filter's visiting rule: sorted paths, only listed prompts, stop testing a prompt at per_prompt.

    `prompts` None is the reference's 'all' scope (every file's prompt, no per-prompt limit is applied there:
    pass per_prompt=None); otherwise only files whose prompt is listed are tested. `is_video_static` is called
    lazily, so videos of a prompt that already has per_prompt static ones are never decoded.
    """
    ordered = sorted(paths)
    wanted = list(prompts) if prompts is not None else [prompt_from_filename(p) for p in ordered]
    sel = StaticSelection(static_path={p: [] for p in wanted})
    for path in ordered:
        prompt = prompt_from_filename(path)
        if prompt not in sel.static_path:
            continue
        if per_prompt is not None and len(sel.static_path[prompt]) >= per_prompt:
            continue
        sel.tested.append(path)
        if is_video_static(path):
            sel.static_path[prompt].append(path)
    return sel


# ------------------------------------------------------------------------------------------- temporal_flickering


def consecutive_mae(frames: np.ndarray) -> np.ndarray:
    """float32 mean |F_t - F_{t+1}| over H x W x C for each consecutive pair of a (T, H, W, C) clip."""
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, C), got {frames.shape}")
    out = np.empty(max(frames.shape[0] - 1, 0), dtype=np.float32)
    for t in range(frames.shape[0] - 1):
        a = frames[t].astype(np.float32)
        b = frames[t + 1].astype(np.float32)
        out[t] = np.mean(np.abs(a - b))
    return out


def temporal_flickering_score(frames: np.ndarray) -> float:
    """(255 - mean of the consecutive MAEs) / 255; a clip with fewer than 2 frames has no pairs (ValueError)."""
    mae = consecutive_mae(frames)
    if mae.size == 0:
        raise ValueError("temporal_flickering needs at least 2 frames")
    return (255.0 - np.mean(mae).item()) / 255.0


def mean_score(per_video: Sequence[float]) -> float:
    """Unweighted mean of per-video scores (temporal_flickering and motion_smoothness aggregates)."""
    if not per_video:
        raise ValueError("no videos to aggregate")
    return float(np.mean(np.asarray(per_video, dtype=np.float64)))


# ------------------------------------------------------------------------------------------- motion_smoothness


@dataclass(frozen=True)
class InterpolationPlan:
    """Which frames AMT sees and which it is scored against: pairs (a, b) predict frame target."""

    inputs: tuple[int, ...]  # the even frames 0, 2, 4, ...
    pairs: tuple[tuple[int, int], ...]  # consecutive input frames (2i, 2i+2)
    targets: tuple[int, ...]  # the dropped odd frame each pair's midpoint is compared with (2i+1)


def interpolation_plan(num_frames: int) -> InterpolationPlan:
    """The reference protocol: interpolate the even frames at t=0.5, compare with the odd frames between them.

    Needs 3 frames (two even inputs); the reference asserts. With an even count the last odd frame is unused.
    """
    inputs = tuple(range(0, num_frames, 2))
    if len(inputs) < 2:
        raise ValueError(f"motion_smoothness needs at least 3 frames, got {num_frames}")
    pairs = tuple(zip(inputs[:-1], inputs[1:], strict=True))
    return InterpolationPlan(inputs, pairs, tuple(a + 1 for a, _ in pairs))


def to_uint8_truncate(image: np.ndarray) -> np.ndarray:
    """AMT's tensor2img: (x * 255) in float32, clipped to [0, 255], truncated (not rounded) to uint8."""
    return np.clip(np.asarray(image, dtype=np.float32) * np.float32(255.0), 0, 255).astype(np.uint8)


def frame_abs_diff_mean(a: np.ndarray, b: np.ndarray) -> float:
    """mean |a - b| of two uint8 frames of the same shape (cv2.absdiff then np.mean, float64)."""
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"need two uint8 frames of one shape, got {a.dtype}{a.shape} and {b.dtype}{b.shape}")
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.uint8)
    return float(np.mean(diff))


def motion_smoothness_score(diffs: Sequence[float]) -> float:
    """(255 - mean of the per-prediction frame differences) / 255."""
    if not diffs:
        raise ValueError("motion_smoothness has no interpolated frames to score")
    return float((255.0 - np.mean(np.asarray(diffs, dtype=np.float64))) / 255.0)


def amt_scale(height: int, width: int, vram_bytes: int | None = None) -> float:
    """AMT's downscale factor: 1.0 as the CLI runs it (§12), or the reference's GPU-memory rule given vram_bytes.

    The memory rule: s = 1024*512/(H*W) * sqrt((vram - 2500 MiB) / 1500 MiB), clamped to 1, then
    16 / floor(16 / sqrt(s)). vram_bytes=None is the CPU / torch.device branch (anchor 8192*8192, no memory
    term), which gives 1.0 below ~67 Mpx.
    """
    if vram_bytes is None:
        anchor, memory, bias, avail = 8192 * 8192, 1.0, 0.0, 1.0
    else:
        anchor, memory, bias, avail = 1024 * 512, 1500.0 * 1024**2, 2500.0 * 1024**2, float(vram_bytes)
        if avail <= bias:
            raise ValueError(
                f"the memory rule needs more than 2500 MiB of GPU memory, got {vram_bytes} bytes"
            )
    s = anchor / (height * width) * math.sqrt((avail - bias) / memory)
    s = min(s, 1.0)
    return float(1 / np.floor(1 / np.sqrt(s) * 16) * 16)


def amt_padding_divisor(scale: float) -> int:
    """The InputPadder divisor the reference uses at a scale: int(16 / scale)."""
    return int(16 / scale)
