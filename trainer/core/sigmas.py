"""Training-σ subsets drawn from the rollout grid (spec §1.5, §3.2, §9).

``first_frac`` (OmniNFT as released): the first ⌊f·K⌋ levels of the K-level grid (noisiest first), the same set for
every sample, visited in a fresh random order per micro-batch. ``random_frac`` (DiffusionNFT): every sample draws its
own random permutation of the K levels and uses the first ⌊f·K⌋.
"""

from __future__ import annotations

import math

import torch

SIGMA_POLICIES: tuple[str, ...] = ("first_frac", "random_frac")


def n_train_sigmas(n_levels: int, frac: float) -> int:
    """Number of σ's used per sample: ⌊frac·K⌋, at least 1, at most K."""
    if not 0.0 < frac <= 1.0:
        raise ValueError("sigma fraction must be in (0, 1]")
    return min(n_levels, max(1, math.floor(frac * n_levels + 1e-9)))


def training_sigmas(
    grid: torch.Tensor, batch: int, policy: str, frac: float, generator: torch.Generator
) -> torch.Tensor:
    """(passes, batch) σ's for one micro-batch: row j is the σ of every sample on backward pass j."""
    levels = grid.flatten().to(torch.float64)
    levels = levels[levels > 0]
    k = levels.numel()
    if k == 0:
        raise ValueError("the σ grid has no non-zero level")
    n = n_train_sigmas(k, frac)
    if policy == "first_frac":
        subset = levels[:n]
        order = torch.randperm(n, generator=generator)
        return subset[order][:, None].expand(n, batch).clone()
    if policy == "random_frac":
        rows = [torch.randperm(k, generator=generator)[:n] for _ in range(batch)]
        idx = torch.stack(rows, dim=1)
        return levels[idx]
    raise ValueError(f"train sigma policy must be one of {SIGMA_POLICIES}, got {policy!r}")


def linear_grid(n_steps: int) -> torch.Tensor:
    """Uniform flow-matching grid 1 → 0 with ``n_steps + 1`` points (float64)."""
    if n_steps < 1:
        raise ValueError("n_steps must be ≥ 1")
    return torch.linspace(1.0, 0.0, n_steps + 1, dtype=torch.float64)
