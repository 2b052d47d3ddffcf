"""Old (sampling) policy soft-update schedules η(step) and an evaluation EMA (spec §1.6).

After each epoch: ``θ_old ← η·θ_old + (1−η)·θ``. Types: 0 → η = 0 (on-policy); 1 (default) → min(0.001·i, 0.5);
2 → 0 for i < 75, then min(0.0075·(i−75), 0.999). i is the global optimiser step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OldPolicyConfig:
    """η schedule of the old-policy soft update (``decay_type`` 0 / 1 / 2 as in DiffusionNFT)."""

    decay_type: int = 1
    rate: float = 0.001
    max_eta: float = 0.5


def old_policy_eta(step: int, cfg: OldPolicyConfig | None = None) -> float:
    """η at global optimiser step ``step``."""
    cfg = cfg or OldPolicyConfig()
    if cfg.decay_type == 0:
        return 0.0
    if cfg.decay_type == 1:
        return min(cfg.rate * step, cfg.max_eta)
    if cfg.decay_type == 2:
        return 0.0 if step < 75 else min(0.0075 * (step - 75), 0.999)
    raise ValueError(f"decay_type must be 0, 1 or 2, got {cfg.decay_type}")


def ema_decay(step: int, max_decay: float = 0.9) -> float:
    """Evaluation-EMA decay min((1+i)/(10+i), max) — for eval/checkpoints only, never the old policy."""
    return min((1.0 + step) / (10.0 + step), max_decay)


class EvalEMA:
    """Shadow copy of the trainable tensors for evaluation (``train.ema``); distinct from θ_old."""

    def __init__(self, params: Iterable[torch.Tensor], max_decay: float = 0.9) -> None:
        self.shadow = [p.detach().clone() for p in params]
        self.max_decay = max_decay

    def update(self, params: Iterable[torch.Tensor], step: int) -> None:
        """shadow ← d·shadow + (1−d)·θ with d = ema_decay(step)."""
        d = ema_decay(step, self.max_decay)
        with torch.no_grad():
            for s, p in zip(self.shadow, params, strict=True):
                s.mul_(d).add_(p.detach(), alpha=1.0 - d)
