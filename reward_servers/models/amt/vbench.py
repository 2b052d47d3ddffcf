"""AMT-S as VBench's motion_smoothness runs it, per video (specs/vbench.md §1.4, §12).

Frames are the decoder's uint8 (T, H, W, 3) RGB. The even frames are interpolated pairwise at t = 0.5 (one pair
at a time, as the reference), each prediction is cropped back, truncated to uint8 and compared with the odd
frame it replaces; score = (255 - mean difference) / 255. `scale` is the model's internal downscale: 1.0 is
what the reference's CLI runs (§12); functional.vbench_motion.amt_scale gives the GPU-memory variant. The
scale used is part of the result, so it can be recorded with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from omninft.reward_servers.functional.vbench_motion import (
    frame_abs_diff_mean,
    interpolation_plan,
    motion_smoothness_score,
    to_uint8_truncate,
)
from omninft.reward_servers.models.amt.model import AMT, interpolate_midpoint


@dataclass(frozen=True)
class MotionSmoothness:
    """One video's motion_smoothness with its per-prediction differences and the scale it ran at."""

    score: float
    diffs: tuple[float, ...]
    scale: float


@torch.no_grad()
def motion_smoothness_video(model: AMT, frames: np.ndarray, scale: float = 1.0) -> MotionSmoothness:
    """VBench motion_smoothness of one video (needs at least 3 frames)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype}{frames.shape}")
    plan = interpolation_plan(frames.shape[0])
    dev = next(model.parameters()).device

    def tensor(i: int) -> torch.Tensor:
        return (torch.from_numpy(np.ascontiguousarray(frames[i])).permute(2, 0, 1)[None] / 255.0).to(dev)

    diffs = []
    for (i, j), target in zip(plan.pairs, plan.targets, strict=True):
        pred = interpolate_midpoint(model, tensor(i), tensor(j), scale=scale)
        img = to_uint8_truncate(pred[0].permute(1, 2, 0).float().cpu().numpy())
        diffs.append(frame_abs_diff_mean(frames[target], img))
    return MotionSmoothness(motion_smoothness_score(diffs), tuple(diffs), scale)
