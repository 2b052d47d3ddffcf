"""AesPredictor's inference procedure around the network: 10 s chunking, de-normalisation, chunk weighting.

Pure numpy (specs/models.md §3.2): a mono 16 kHz waveform is cut into windows of `window` samples every
`hop` samples starting at 0; the last window is zero-padded with a sample mask and weighs (valid / window),
full windows weigh 1. Per axis, the file score is the weight-averaged de-normalised chunk prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from omninft.reward_servers.models.audiobox.config import AXES, CHUNK_SECONDS, SAMPLE_RATE

CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE


@dataclass(frozen=True)
class Chunks:
    """The model inputs of one file: windows (K, window), masks (K, window) and weights (K,)."""

    wavs: np.ndarray
    masks: np.ndarray
    weights: np.ndarray


def make_chunks(wave: np.ndarray, window: int = CHUNK_SAMPLES, hop: int = CHUNK_SAMPLES) -> Chunks:
    """Cut a 1-D waveform into zero-padded windows with sample masks and length weights (AesPredictor rule)."""
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got shape {x.shape}")
    starts = range(0, x.shape[0], hop)
    wavs = np.zeros((len(starts), window), dtype=np.float32)
    masks = np.zeros((len(starts), window), dtype=np.float32)
    weights = np.zeros(len(starts), dtype=np.float64)
    for k, start in enumerate(starts):
        piece = x[start : start + window]
        wavs[k, : piece.shape[0]] = piece
        masks[k, : piece.shape[0]] = 1.0
        weights[k] = piece.shape[0] / window
    return Chunks(wavs, masks, weights)


def denormalize(preds: np.ndarray, target_transform: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """(K, 4) normalised predictions -> scores: pred * std[axis] + mean[axis], float64."""
    mean = np.array([float(target_transform[a]["mean"]) for a in AXES])
    std = np.array([float(target_transform[a]["std"]) for a in AXES])
    return np.asarray(preds, dtype=np.float64) * std + mean


def aggregate(preds: np.ndarray, weights: Sequence[float] | np.ndarray,
              target_transform: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """One file's axis scores from its chunk predictions (K, 4): sum(w * denorm) / sum(w) per axis."""
    w = np.asarray(weights, dtype=np.float64)
    scores = denormalize(preds, target_transform)
    if scores.shape != (w.shape[0], len(AXES)):
        raise ValueError(f"predictions {scores.shape} do not match {w.shape[0]} chunks x {len(AXES)} axes")
    avg = (scores * w[:, None]).sum(axis=0) / w.sum()
    return {a: float(avg[i]) for i, a in enumerate(AXES)}
