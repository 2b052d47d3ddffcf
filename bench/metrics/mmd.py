"""Unbiased MMD² with the cubic polynomial kernel (KVD), over the full sets, block-wise in memory."""

from __future__ import annotations

import numpy as np

_BLOCK = 2048


def _kernel_sum(x: np.ndarray, y: np.ndarray, gamma: float, coef0: float, degree: int) -> float:
    """Σ (γ x·y + c)^p over all pairs, block-wise so 10k×10k never materialises at once."""
    total = 0.0
    for i in range(0, x.shape[0], _BLOCK):
        k = (x[i : i + _BLOCK] @ y.T * gamma + coef0) ** degree
        total += float(k.sum())
    return total


def _kernel_diag_sum(x: np.ndarray, gamma: float, coef0: float, degree: int) -> float:
    return float((((x * x).sum(1) * gamma + coef0) ** degree).sum())


def polynomial_mmd(
    fake: np.ndarray, real: np.ndarray, *, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> float:
    """Unbiased MMD²: mean off-diagonal K_ff + mean off-diagonal K_rr − 2 mean K_fr, k = (γ x·y + c)^p.

    Defaults are sklearn's polynomial_kernel defaults (γ = 1/d, c = 1, p = 3), as the reference uses.
    """
    x = np.asarray(fake, np.float64)
    y = np.asarray(real, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need [N, d] and [M, d] features, got {x.shape} and {y.shape}")
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD needs at least 2 features per set, have {m} and {n}")
    g = 1.0 / x.shape[1] if gamma is None else gamma
    kxx = (_kernel_sum(x, x, g, coef0, degree) - _kernel_diag_sum(x, g, coef0, degree)) / (m * (m - 1))
    kyy = (_kernel_sum(y, y, g, coef0, degree) - _kernel_diag_sum(y, g, coef0, degree)) / (n * (n - 1))
    kxy = _kernel_sum(x, y, g, coef0, degree) / (m * n)
    return float(kxx + kyy - 2.0 * kxy)
