"""Audiobox Aesthetics' inference math around the network (AesPredictor; specs/models.md §3.2), pure numpy.

A mono 16 kHz waveform is cut into windows of `window` samples every `hop` samples starting at 0; the last
window is zero-padded with a sample mask and weighs (valid / window), full windows weigh 1. Per axis, the
file score is the weight-averaged de-normalised chunk prediction. `torchaudio_axis_gain` reproduces what
JavisBench's (N, 1)-transposed torchaudio resampling does to a non-16 kHz signal: a constant gain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chunks:
    """The model inputs of one file: windows (K, window), masks (K, window) and weights (K,)."""

    wavs: np.ndarray
    masks: np.ndarray
    weights: np.ndarray


def make_chunks(wave: np.ndarray, window: int, hop: int) -> Chunks:
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


def denormalize(
    preds: np.ndarray, target_transform: Mapping[str, Mapping[str, float]], axes: Sequence[str]
) -> np.ndarray:
    """(K, len(axes)) normalised predictions -> scores: pred * std[axis] + mean[axis], float64."""
    mean = np.array([float(target_transform[a]["mean"]) for a in axes])
    std = np.array([float(target_transform[a]["std"]) for a in axes])
    return np.asarray(preds, dtype=np.float64) * std + mean


def aggregate(
    preds: np.ndarray,
    weights: Sequence[float] | np.ndarray,
    target_transform: Mapping[str, Mapping[str, float]],
    axes: Sequence[str],
) -> dict[str, float]:
    """One file's axis scores from its chunk predictions (K, len(axes)): sum(w * denorm) / sum(w) per axis."""
    w = np.asarray(weights, dtype=np.float64)
    scores = denormalize(preds, target_transform, axes)
    if scores.shape != (w.shape[0], len(axes)):
        raise ValueError(f"predictions {scores.shape} do not match {w.shape[0]} chunks x {len(axes)} axes")
    avg = (scores * w[:, None]).sum(axis=0) / w.sum()
    return {a: float(avg[i]) for i, a in enumerate(axes)}


def torchaudio_axis_gain(
    sr_in: int, sr_out: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> float:
    """Gain torchaudio's default sinc resampler applies to a length-1 signal, averaged over its output samples.

    A length-1 row yields ceil(new / orig) outputs (rates reduced by their gcd), output i being the input times
    the kernel of phase i at time offset 0: sinc(pi t) * cos(pi t / (2 w))**2 * base / orig with
    t = clamp(-i / new * base, -w, w) and base = min(orig, new) * rolloff.
    """
    if sr_in == sr_out:
        return 1.0
    g = math.gcd(int(sr_in), int(sr_out))
    orig, new = int(sr_in) // g, int(sr_out) // g
    base = min(orig, new) * rolloff
    phases = math.ceil(new / orig)
    t = np.clip(
        -np.arange(phases, dtype=np.float64) / new * base, -lowpass_filter_width, lowpass_filter_width
    )
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    sinc = np.where(t == 0, 1.0, np.sin(math.pi * t) / np.where(t == 0, 1.0, math.pi * t))
    taps = (sinc * window * (base / orig)).astype(np.float32)  # the reference's kernels are float32
    return float(np.mean(taps, dtype=np.float64))
