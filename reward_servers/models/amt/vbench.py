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
def motion_smoothness_video(
    model: AMT, frames: np.ndarray, scale: float = 1.0, batch: int = 1
) -> MotionSmoothness:
    """VBench motion_smoothness of one video (needs at least 3 frames); `batch` pairs per forward pass.

    batch=1 is the reference's computation (bit-parity); larger batches are faster on an accelerator and can
    move a prediction by ~1e-6 before the uint8 truncation (deterministic for a given batch).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype}{frames.shape}")
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    plan = interpolation_plan(frames.shape[0])
    dev = next(model.parameters()).device

    def tensor(idx: list[int]) -> torch.Tensor:
        # built per frame exactly as the reference's img2tensor (its memory layout decides the conv kernels)
        ts = [
            (torch.from_numpy(np.ascontiguousarray(frames[i])).permute(2, 0, 1)[None] / 255.0).to(dev)
            for i in idx
        ]
        return ts[0] if len(ts) == 1 else torch.cat(ts)

    diffs = []
    for start in range(0, len(plan.pairs), batch):
        chunk = plan.pairs[start : start + batch]
        preds = interpolate_midpoint(
            model, tensor([i for i, _ in chunk]), tensor([j for _, j in chunk]), scale=scale
        )
        for pred, target in zip(preds, plan.targets[start : start + batch], strict=True):
            img = to_uint8_truncate(pred.permute(1, 2, 0).float().cpu().numpy())
            diffs.append(frame_abs_diff_mean(frames[target], img))
    return MotionSmoothness(motion_smoothness_score(diffs), tuple(diffs), scale)
