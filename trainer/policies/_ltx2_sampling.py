"""σ grids and the x0-form Euler step for LTX-2 rollouts (spec §4.6); pure torch, no model code."""

from __future__ import annotations

import math

import torch

# Token counts at which the timestep shift μ reaches its base / max value (same anchors in ltx-core and diffusers).
BASE_SHIFT_TOKENS = 1024
MAX_SHIFT_TOKENS = 4096
BASE_SHIFT = 0.95
MAX_SHIFT = 2.05


def shift_mu(tokens: int | None, base_shift: float = BASE_SHIFT, max_shift: float = MAX_SHIFT) -> float:
    """μ linearly interpolated in the token count; ``None`` means the max anchor (ltx-core's no-latent default)."""
    n = MAX_SHIFT_TOKENS if tokens is None else tokens
    slope = (max_shift - base_shift) / (MAX_SHIFT_TOKENS - BASE_SHIFT_TOKENS)
    return base_shift + slope * (n - BASE_SHIFT_TOKENS)


def _time_shift(s: torch.Tensor, mu: float) -> torch.Tensor:
    """Exponential time shift e^μ/(e^μ + 1/s − 1), with s = 0 mapped to 0."""
    safe = s.clamp_min(1e-12)
    shifted = math.exp(mu) / (math.exp(mu) + 1.0 / safe - 1.0)
    return torch.where(s > 0, shifted, torch.zeros_like(s))


def _stretch_to_terminal(sig: torch.Tensor, terminal: float) -> torch.Tensor:
    """Rescale the non-zero σ's (last entry is 0) so that the smallest equals ``terminal``."""
    out = sig.clone()
    one_minus = 1.0 - out[:-1]
    scale = one_minus[-1] / (1.0 - terminal)
    out[:-1] = 1.0 - one_minus / scale
    return out


def ltx2_sigmas(
    steps: int, tokens: int | None = None, terminal: float = 0.1, stretch: bool = True
) -> torch.Tensor:
    """ltx-core ``LTX2Scheduler`` grid: N+1 σ's from 1 to 0 (20 steps: 1.0, .991, …, .319, .100, 0)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    sig = _time_shift(s, shift_mu(tokens))
    if stretch and steps > 1:
        sig = _stretch_to_terminal(sig, terminal)
    return sig.to(torch.float32)


def flowmatch_sigmas(steps: int, tokens: int | None = None, terminal: float | None = None) -> torch.Tensor:
    """diffusers ``LTX2Pipeline`` grid: linspace(1, 1/N) with dynamic shift, optional terminal stretch, then 0."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    s = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float64)
    sig = torch.cat([_time_shift(s, shift_mu(tokens)), torch.zeros(1, dtype=torch.float64)])
    if terminal is not None and steps > 1:
        sig = _stretch_to_terminal(sig, terminal)
    return sig.to(torch.float32)


GRIDS = ("ltx2", "flowmatch")


def sigma_grid(name: str, steps: int, tokens: int | None = None) -> torch.Tensor:
    """Grid by name: ``ltx2`` (default, OmniNFT's sampler) or ``flowmatch`` (diffusers pipeline)."""
    if name in ("default", "ltx2"):
        return ltx2_sigmas(steps)
    if name == "flowmatch":
        return flowmatch_sigmas(steps, tokens)
    raise ValueError(f"unknown sigma grid {name!r}; expected one of {GRIDS}")


def euler_x0_step(x: torch.Tensor, x0: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """Deterministic Euler in x0-form: x + (σ' − σ)·(x − x̂0)/σ (lands exactly on x̂0 at σ' = 0)."""
    if sigma_next == 0.0:
        return x0.clone()
    return x + (sigma_next - sigma) * (x - x0) / sigma


def guided_x0(
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    cfg: float,
    stg: torch.Tensor | None = None,
    stg_scale: float = 0.0,
) -> torch.Tensor:
    """x0-space guidance: x̂c + (cfg−1)(x̂c − x̂u) + stg·(x̂c − x̂stg) (the LTX-2 delta form)."""
    out = cond
    if uncond is not None and cfg != 1.0:
        out = out + (cfg - 1.0) * (cond - uncond)
    if stg is not None and stg_scale != 0.0:
        out = out + stg_scale * (cond - stg)
    return out
