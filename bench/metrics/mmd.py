"""Unbiased MMD² with the cubic polynomial kernel (KVD), over the full sets.

`polynomial_mmd` is float64 and block-wise in memory (the corrected variant on raw features);
`polynomial_mmd_float32` repeats the reference (sklearn `polynomial_kernel` on float32 arrays, full kernel
matrices, float32 sums), which JavisBench applies to per-set mean-centred features (see `kvd_reference`).
"""

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


def _poly_kernel_f32(x: np.ndarray, y: np.ndarray, degree: int, coef0: float) -> np.ndarray:
    """sklearn polynomial_kernel on float32 inputs: K = X Yᵀ; K *= 1/d; K += c; K **= p, all float32."""
    k = x @ y.T
    k *= np.float32(1.0 / x.shape[1])
    k += np.float32(coef0)
    k **= degree
    return k


def polynomial_mmd_float32(
    fake: np.ndarray, real: np.ndarray, *, degree: int = 3, coef0: float = 1.0
) -> float:
    """JavisBench `polynomial_mmd` as it computes on float32 features (full kernel matrices, float32 sums)."""
    x = np.asarray(fake, np.float32)
    y = np.asarray(real, np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need [N, d] and [M, d] features, got {x.shape} and {y.shape}")
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD needs at least 2 features per set, have {m} and {n}")
    # float32 sums; the divisions then run in float64 (numpy 1.x, the reference's pin, promotes a float32
    # scalar divided by a Python int to float64)
    kxx = _poly_kernel_f32(x, x, degree, coef0)
    kxx_sum = np.float64(kxx.sum() - np.diagonal(kxx).sum()) / (m * (m - 1))
    del kxx
    kyy = _poly_kernel_f32(y, y, degree, coef0)
    kyy_sum = np.float64(kyy.sum() - np.diagonal(kyy).sum()) / (n * (n - 1))
    del kyy
    kxy_sum = np.float64(_poly_kernel_f32(x, y, degree, coef0).sum()) / (m * n)
    return float(kxx_sum + kyy_sum - 2 * kxy_sum)


def kvd_reference(fake: np.ndarray, real: np.ndarray) -> float:
    """KVD as JavisBench reports it: each set centred on its own float32 mean (the side effect of FVD's in-place
    covariance on the same tensors), then the float32 polynomial MMD."""
    from omninft.bench.metrics.frechet import centred_float32

    return polynomial_mmd_float32(centred_float32(fake), centred_float32(real))
