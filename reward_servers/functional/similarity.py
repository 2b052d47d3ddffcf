"""Embedding similarity math with torch's eps conventions. Pure numpy."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """x / max(||x||_2, eps) along `axis` (torch.nn.functional.normalize semantics), float32 in and out."""
    v = np.asarray(x, dtype=np.float32)
    norm = np.sqrt(np.sum(v.astype(np.float64) ** 2, axis=axis, keepdims=True))
    return (v / np.maximum(norm, eps)).astype(np.float32)


def cosine_similarity(a: np.ndarray, b: np.ndarray, axis: int = -1, eps: float = 1e-8) -> np.ndarray:
    """a.b / (max(||a||, eps) * max(||b||, eps)) along `axis`, broadcasting (torch cosine_similarity)."""
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    na = np.maximum(np.sqrt(np.sum(a64 * a64, axis=axis)), eps)
    nb = np.maximum(np.sqrt(np.sum(b64 * b64, axis=axis)), eps)
    return np.sum(a64 * b64, axis=axis) / (na * nb)
