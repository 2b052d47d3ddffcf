"""Small waveform utilities shared by the audio metrics (pure numpy)."""

from __future__ import annotations

import numpy as np


def pad_or_trim(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """A 1-D float32 copy cut to `num_samples`, or right-padded with zeros to it."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if x.shape[0] >= num_samples:
        return np.ascontiguousarray(x[:num_samples])
    return np.pad(x, (0, num_samples - x.shape[0]))


def all_finite(waveform: np.ndarray) -> bool:
    """Whether every sample is finite (no NaN or infinity)."""
    return bool(np.all(np.isfinite(waveform)))
