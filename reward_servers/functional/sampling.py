"""Frame sampling rules of the reference benchmarks. Pure torch/numpy.

JavisBench reads `n` frames at ``torch.linspace(0, T - 1, n).round().long()`` over the whole clip
(eval/javisbench/src/utils.py ``read_video_cv2``, mode 'linspace'). torch.linspace is float32 and
torch.round rounds half to even, so the indices are computed with the same calls here rather than with
float64 numpy, whose halves can land on the other side.
"""

from __future__ import annotations

import numpy as np
import torch


def javisbench_frame_indices(num_frames: int, n: int) -> np.ndarray:
    """Indices of the n frames JavisBench samples from a clip of num_frames frames (int64, length n).

    Clips shorter than n repeat frames (the rounded linspace has duplicates), as the reference does; a clip
    with no frames has no valid indices and raises ValueError.
    """
    if n <= 0:
        raise ValueError(f"number of sampled frames must be positive, got {n}")
    if num_frames <= 0:
        raise ValueError("cannot sample frames from an empty clip")
    idx = torch.linspace(0, num_frames - 1, n, dtype=torch.float32).round().long()
    return idx.numpy().astype(np.int64, copy=False)


def take_frames(frames: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """frames[indices] along axis 0, checking the indices are in range."""
    if indices.size and (indices.min() < 0 or indices.max() >= frames.shape[0]):
        raise IndexError(f"frame index out of range for a clip of {frames.shape[0]} frames")
    return frames[indices]
