"""Fréchet distance between Gaussian fits of two feature sets, from accumulated sufficient statistics.

Follows the official JavisBench (VideoGPT / TF-GAN port) formula: unbiased covariances and
Tr(sqrt(Σf)) computed as Tr(sqrt(sqrt(Σf) Σr sqrt(Σf))), every symmetric square root taken by SVD
with singular values below `eps` left unrooted.

Two precisions: `frechet_distance_float32` repeats the reference's own computation (float32 torch on the raw
features: mean, in-place centring, 1/(n-1) · XᵀX, SVD square roots, traces, all float32) and is the
`javisbench-v1` default; `frechet_distance` (float64, from accumulated statistics) is the corrected variant.
The two differ most on small sets (few samples against 400/1024 dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SQRT_EPS = 1e-10


@dataclass
class FeatureStats:
    """Running n, Σx and Σxxᵀ (float64) of d-dimensional features; mergeable, order-independent."""

    dim: int
    n: int = 0
    total: np.ndarray = field(init=False)
    outer: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.total = np.zeros(self.dim, np.float64)
        self.outer = np.zeros((self.dim, self.dim), np.float64)

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureStats:
        """Statistics of an [N, d] feature matrix."""
        x = np.asarray(features, np.float64)
        stats = cls(x.shape[1])
        stats.update(x)
        return stats

    def update(self, features: np.ndarray) -> None:
        """Add a batch [N, d] (or one vector [d])."""
        x = np.atleast_2d(np.asarray(features, np.float64))
        if x.shape[1] != self.dim:
            raise ValueError(f"features have dimension {x.shape[1]}, these statistics {self.dim}")
        self.n += x.shape[0]
        self.total += x.sum(0)
        self.outer += x.T @ x

    def merge(self, other: FeatureStats) -> FeatureStats:
        """A new FeatureStats holding both sets."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge dimension {other.dim} into {self.dim}")
        out = FeatureStats(self.dim)
        out.n = self.n + other.n
        out.total = self.total + other.total
        out.outer = self.outer + other.outer
        return out

    @property
    def mean(self) -> np.ndarray:
        """Sample mean."""
        if self.n < 1:
            raise ValueError("no features accumulated")
        return self.total / self.n

    @property
    def cov(self) -> np.ndarray:
        """Unbiased (1/(n-1)) covariance, as the reference computes it."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 features, have {self.n}")
        mu = self.mean
        c = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        # Accumulation order leaves tiny asymmetries; the SVD square root assumes symmetry.
        return (c + c.T) / 2.0


def _sym_sqrt(mat: np.ndarray, eps: float) -> np.ndarray:
    """Square root of a symmetric PSD matrix by SVD; singular values below eps stay unrooted."""
    u, s, vh = np.linalg.svd(mat)
    si = np.where(s < eps, s, np.sqrt(np.maximum(s, 0.0)))
    return (u * si) @ vh


def trace_sqrt_product(sigma: np.ndarray, sigma_v: np.ndarray, eps: float = SQRT_EPS) -> float:
    """Tr(sqrt(Σ Σv)) via sqrt(Σ) Σv sqrt(Σ), which stays symmetric (TF-GAN formulation)."""
    root = _sym_sqrt(sigma, eps)
    return float(np.trace(_sym_sqrt(root @ sigma_v @ root, eps)))


def frechet_distance(fake: FeatureStats, real: FeatureStats, eps: float = SQRT_EPS) -> float:
    """‖μf − μr‖² + Tr Σf + Tr Σr − 2 Tr sqrt(Σf Σr)."""
    if fake.dim != real.dim:
        raise ValueError(f"feature dimensions differ: fake {fake.dim}, real {real.dim}")
    diff = fake.mean - real.mean
    sf, sr = fake.cov, real.cov
    return float(diff @ diff + np.trace(sf) + np.trace(sr) - 2.0 * trace_sqrt_product(sf, sr, eps))


def _sym_sqrt_f32(mat: Any, eps: float) -> Any:
    """float32 SVD square root, as the reference's helper: U diag(si) Vᵀ with si = s where s < eps else √s."""
    import torch

    u, s, vh = torch.linalg.svd(mat, full_matrices=False)
    si = torch.where(s < eps, s, torch.sqrt(s))
    return torch.matmul(torch.matmul(u, torch.diag(si)), vh)


def centred_float32(features: np.ndarray) -> np.ndarray:
    """The reference's in-place `m -= mean(m)` on float32 features: each column minus its float32 mean."""
    import torch

    x = torch.from_numpy(np.array(features, np.float32))
    m = x.t()  # the reference centres this transposed view; its reduction order is the one to repeat
    m -= torch.mean(m, dim=1, keepdim=True)
    return x.numpy()


def frechet_distance_float32(fake: np.ndarray, real: np.ndarray, eps: float = SQRT_EPS) -> float:
    """The reference's float32 Fréchet distance of two [N, d] feature matrices, op for op in torch (fvd.py
    `frechet_distance`; it runs on whatever device the reference used, here the CPU)."""
    import torch

    x1 = torch.from_numpy(np.array(fake, np.float32))
    x2 = torch.from_numpy(np.array(real, np.float32))
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"need [N, d] and [M, d] features, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    if x1.shape[0] < 2 or x2.shape[0] < 2:
        raise ValueError(
            f"a covariance needs at least 2 features per set, have {x1.shape[0]} and {x2.shape[0]}"
        )
    with torch.inference_mode():
        m, m_w = x1.mean(dim=0), x2.mean(dim=0)
        sigma, sigma_w = _cov_f32(x1), _cov_f32(x2)
        root = _sym_sqrt_f32(sigma, eps)
        sqrt_trace = torch.trace(_sym_sqrt_f32(torch.matmul(root, torch.matmul(sigma_w, root)), eps))
        trace = torch.trace(sigma + sigma_w) - 2.0 * sqrt_trace
        return float((trace + torch.sum((m - m_w) ** 2)).item())


def _cov_f32(x: Any) -> Any:
    """Unbiased covariance of [N, d] rows as the reference's `cov` computes it (centre the [d, N] transpose)."""
    import torch

    m = x.t().clone()
    m -= torch.mean(m, dim=1, keepdim=True)
    return (1.0 / (m.size(1) - 1)) * m.matmul(m.t()).squeeze()
