"""AesPredictor's inference procedure bound to the official model's constants (10 s windows, four axes).

The math lives in functional/audiobox.py; these wrappers fix the window, hop and axis order of the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from omninft.reward_servers.functional import audiobox as F
from omninft.reward_servers.functional.audiobox import Chunks
from omninft.reward_servers.models.audiobox.config import AXES, CHUNK_SECONDS, SAMPLE_RATE

CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE

__all__ = ["CHUNK_SAMPLES", "Chunks", "aggregate", "denormalize", "make_chunks"]


def make_chunks(wave: np.ndarray, window: int = CHUNK_SAMPLES, hop: int = CHUNK_SAMPLES) -> Chunks:
    """10 s zero-padded windows with sample masks and length weights (functional.audiobox.make_chunks)."""
    return F.make_chunks(wave, window, hop)


def denormalize(preds: np.ndarray, target_transform: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """(K, 4) normalised predictions -> scores in the model's axis order."""
    return F.denormalize(preds, target_transform, AXES)


def aggregate(
    preds: np.ndarray,
    weights: Sequence[float] | np.ndarray,
    target_transform: Mapping[str, Mapping[str, float]],
) -> dict[str, float]:
    """One file's axis scores from its chunk predictions (K, 4), weight-averaged per axis."""
    return F.aggregate(preds, weights, target_transform, AXES)
