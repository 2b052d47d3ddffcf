"""DiffusionNFT objective in x0-space, per modality, as OmniNFT applies it (spec §1.3, §1.4, §3.2).

With β the mixing coefficient and predictions in x0-space:
``x̂0⁺ = β·x̂0_θ + (1−β)·x̂0_old`` (implicit positive policy), ``x̂0⁻ = (1+β)·x̂0_old − β·x̂0_θ`` (implicit negative
policy), adaptive scales ``w± = mean|x̂0± − x0|`` (detached, float64, ≥ 1e-5), per-token losses
``ℓ±_n = mean_c (x̂0±_n − x0_n)² / w±`` and per-token policy ``p_n = r·ℓ⁺_n + (1−r)·ℓ⁻_n``. The per-sample loss
is ``(c/β)·Σ_n a_n p_n / Σ_n a_n`` (a = token weights, uniform by default) and the KL-like term is
``mean (x̂0_θ − x̂0_ref)²``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NFTConfig:
    """Loss hyper-parameters (released OmniNFT values by default)."""

    beta: float = 1.0
    adv_clip: float = 5.0
    kl_coef: float = 1e-4
    scale_floor: float = 1e-5


@dataclass
class NFTTerms:
    """Per-sample terms of one modality: policy loss (B,), KL (B,), and the detached adaptive scales."""

    policy: torch.Tensor
    kl: torch.Tensor
    w_pos: torch.Tensor
    w_neg: torch.Tensor


def implicit_policies(
    x0_theta: torch.Tensor, x0_old: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂0⁺, x̂0⁻): the implicit positive and negative policies; x̂0⁺ + x̂0⁻ = 2·x̂0_old when β = 1."""
    x0_old = x0_old.detach()
    pos = beta * x0_theta + (1.0 - beta) * x0_old
    neg = (1.0 + beta) * x0_old - beta * x0_theta
    return pos, neg


def adaptive_scale(pred: torch.Tensor, x0: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Detached per-sample ``mean|pred − x0|`` in float64 over all non-batch dims, clipped to ≥ floor."""
    diff = (pred.detach().to(torch.float64) - x0.detach().to(torch.float64)).abs()
    return diff.flatten(1).mean(dim=1).clamp_min(floor)


def _per_token_sq(pred: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Mean squared error over channels: (B, N) for (B, N, C) inputs, (B, 1) for 2-D inputs."""
    d = (pred - x0) ** 2
    if d.dim() == 2:
        return d.mean(dim=1, keepdim=True)
    return d.flatten(2).mean(dim=2)


def weighted_token_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Per-sample ``Σ a·v / Σ a`` over tokens (plain mean when ``weights`` is None)."""
    if weights is None:
        return values.mean(dim=1)
    w = weights.to(values.dtype)
    return (w * values).sum(dim=1) / w.sum(dim=1).clamp_min(torch.finfo(values.dtype).tiny)


def nft_terms(
    x0: torch.Tensor,
    x0_theta: torch.Tensor,
    x0_old: torch.Tensor,
    x0_ref: torch.Tensor | None,
    r: torch.Tensor,
    cfg: NFTConfig,
    token_weights: torch.Tensor | None = None,
) -> NFTTerms:
    """Per-sample NFT policy loss and KL for one modality; latents are (B, N, C), r is (B,) or (B, N)."""
    if cfg.beta <= 0:
        raise ValueError("beta must be positive")
    x0 = x0.detach()
    pos, neg = implicit_policies(x0_theta, x0_old, cfg.beta)
    w_pos = adaptive_scale(pos, x0, cfg.scale_floor)
    w_neg = adaptive_scale(neg, x0, cfg.scale_floor)
    dtype = x0_theta.dtype
    l_pos = _per_token_sq(pos, x0) / w_pos.to(dtype)[:, None]
    l_neg = _per_token_sq(neg, x0) / w_neg.to(dtype)[:, None]
    r = r.to(dtype)
    r_tok = r[:, None] if r.dim() == 1 else r
    per_token = r_tok * l_pos + (1.0 - r_tok) * l_neg
    policy = (cfg.adv_clip / cfg.beta) * weighted_token_mean(per_token, token_weights)
    if x0_ref is None:
        kl = torch.zeros_like(policy)
    else:
        kl = ((x0_theta - x0_ref.detach()) ** 2).flatten(1).mean(dim=1)
    return NFTTerms(policy=policy, kl=kl, w_pos=w_pos, w_neg=w_neg)


def masked_batch_mean(per_sample: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Batch mean where masked-out samples contribute zero (the normaliser stays the batch size)."""
    if mask is None:
        return per_sample.mean()
    return (per_sample * mask.to(per_sample.dtype)).sum() / per_sample.shape[0]


def combine_modalities(
    terms: dict[str, NFTTerms],
    masks: dict[str, torch.Tensor] | None,
    cfg: NFTConfig,
    modality_weights: dict[str, float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss ``Σ_m w_m·(L_m + kl·KL_m) / Σ_m w_m``, the released OmniNFT normalisation.

    With unit weights this is (L_v + L_a)/2 + 1e-4·(KL_v + KL_a)/2; the release weights the KL terms by the
    same modality weights and divides by their sum (floored at 1e-8), not by the number of modalities.
    """
    weights = {m: 1.0 if modality_weights is None else float(modality_weights.get(m, 1.0)) for m in terms}
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"modality weights must be >= 0, got {weights}")
    w_sum = max(sum(weights.values()), 1e-8)
    total = torch.zeros((), dtype=next(iter(terms.values())).policy.dtype)
    logs: dict[str, float] = {}
    for m, t in terms.items():
        w = weights[m]
        pol = masked_batch_mean(t.policy, None if masks is None else masks.get(m))
        kl = t.kl.mean()
        total = total + w * (pol + cfg.kl_coef * kl) / w_sum
        logs[f"loss_policy/{m}"] = float(pol.detach())
        logs[f"loss_kl/{m}"] = float(kl.detach())
    return total, logs
