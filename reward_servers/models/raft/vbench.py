"""RAFT as VBench runs it, per video: dynamic_degree (~8 fps pairs, top 5 %) and the static filter (top 2 %).

Frames are the decoder's uint8 (T, H, W, 3) RGB; each frame becomes a float 0-255 (1, 3, H, W) tensor, each
pair is sintel-padded to /8 and run in test mode, one pair at a time as the reference does (batching pairs
changes CPU kernels, so results would move by ~1e-6). The decisions are the pure rules of
functional.vbench_motion; these functions only add the model calls and stop scoring pairs as soon as the
decision is known. The reference scores every pair first and then applies the same rule, so the verdict is
the same and `pair_scores` is a prefix of the reference's list (checked against the reference code on
generated videos with identical random weights: equal verdicts, bit-equal scores).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from omninft.reward_servers.functional.vbench_motion import (
    DYNAMIC_TOP_FRACTION,
    STATIC_TOP_FRACTION,
    MotionThresholds,
    dynamic_frame_indices,
    dynamic_thresholds,
    flow_top_mean,
    is_dynamic,
    is_static,
    static_filter_pairs,
    static_thresholds,
)
from omninft.reward_servers.models.raft.model import RAFT, padded_flow


def _frame(frames: np.ndarray, i: int, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames[i])).permute(2, 0, 1).float()[None].to(device)


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    # a single frame is used as built (the reference's memory layout, hence its convolution kernels)
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def _check(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype}{frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError("the video has no frames")


@torch.no_grad()
def pair_scores(
    model: RAFT,
    frames: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    fraction: float,
    iters: int | None = None,
    batch: int = 1,
) -> list[float]:
    """Top-`fraction` flow-magnitude means of frame pairs (i -> j), `batch` pairs per forward pass.

    batch=1 is the reference's one-pair-at-a-time computation (bit-parity); larger batches are faster on an
    accelerator and move scores by ~1e-6 on CPU (different convolution kernels), deterministically.
    """
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    dev = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        a = _stack([_frame(frames, i, dev) for i, _ in chunk])
        b = _stack([_frame(frames, j, dev) for _, j in chunk])
        flow, _ = padded_flow(model, a, b, iters)
        out += [flow_top_mean(f.float().cpu().numpy(), fraction) for f in flow]
    return out


def pair_score(
    model: RAFT, frames: np.ndarray, i: int, j: int, fraction: float, iters: int | None = None
) -> float:
    """Mean of the top `fraction` flow magnitudes from frame i to frame j over the padded frame."""
    return pair_scores(model, frames, [(i, j)], fraction, iters)[0]


@dataclass
class MotionDecision:
    """A per-video motion decision with what it was based on."""

    decision: bool
    thresholds: MotionThresholds
    num_frames: int  # frames the rule counted (sampled frames for dynamic_degree, all for the static filter)
    pair_scores: list[float] = field(default_factory=list)  # the pairs actually scored, in order


def dynamic_degree_video(
    model: RAFT, frames: np.ndarray, fps: float, iters: int | None = None, batch: int = 1
) -> MotionDecision:
    """VBench dynamic_degree for one video: is it dynamic (the per-video boolean)."""
    _check(frames)
    idx = dynamic_frame_indices(frames.shape[0], fps)
    sampled = frames[idx]
    th = dynamic_thresholds(frames.shape[1], frames.shape[2], len(idx))
    pairs = [(k, k + 1) for k in range(len(idx) - 1)]
    scores: list[float] = []

    def lazy() -> Iterator[float]:
        for start in range(0, len(pairs), batch):
            new = pair_scores(
                model, sampled, pairs[start : start + batch], DYNAMIC_TOP_FRACTION, iters, batch
            )
            scores.extend(new)
            yield from new

    return MotionDecision(is_dynamic(lazy(), th), th, len(idx), scores)


def static_filter_video(
    model: RAFT, frames: np.ndarray, iters: int | None = None, batch: int = 1
) -> MotionDecision:
    """The static filter's verdict for one video (True: static, kept for temporal_flickering)."""
    _check(frames)
    n = frames.shape[0]
    th = static_thresholds(frames.shape[1], frames.shape[2], n)
    pairs = static_filter_pairs(n)
    consecutive, ends = pairs[:-2], pairs[-2:]
    scores: list[float] = []
    above = 0
    for start in range(0, len(consecutive), batch):
        new = pair_scores(
            model, frames, consecutive[start : start + batch], STATIC_TOP_FRACTION, iters, batch
        )
        scores.extend(new)
        above += sum(score > th.thres for score in new)
        if above > th.count_num:  # already moving: the first<->last pairs cannot change the verdict
            return MotionDecision(False, th, n, scores)
    scores += pair_scores(model, frames, ends, STATIC_TOP_FRACTION, iters, batch)
    return MotionDecision(is_static(scores, th), th, n, scores)
