"""Region-wise video-loss weights from V2A attention captured during rollouts (spec §3.3 (3), §4.5).

Capture: a no-grad forward hook on each selected V2A site asks the adapter's ``score_fn`` for head-averaged
attention column sums ``s_j = Σ_i P_ij`` (B, N_video) and adds them to a running sum (online reduction, no
N_a × N_v maps kept). The sampler's step callback gates the hooks to steps ⌊f₀·N⌋…⌊f₁·N⌋ and to the chosen
passes. Weights: z-score of the mean column sums within each latent frame, then
``a = clamp(1 + (w−1)·sigmoid((w−1)·z), 1, w)`` with ``w = 1 + (w_max−1)·min(step/warmup, 1)`` (released), or
``topk`` (unused v2 collector: clip at the 99th percentile, top 40 % → w, rest → 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from omninft.trainer.policies.base import CrossAttnSite, StepInfo


@dataclass(frozen=True)
class RegionConfig:
    """Capture window and weight shape; defaults are the released OmniNFT values."""

    enabled: bool = True
    blocks: tuple[int, ...] | None = None
    min_block_frac: float = 0.0
    step_window: tuple[float, float] = (0.5, 0.9)
    passes: str = "all"
    norm: str = "sigmoid"
    w_max: float = 1.5
    warmup_steps: int = 400
    topk_frac: float = 0.4
    clip_quantile: float = 0.99
    eps: float = 1e-6

    def step_range(self, n_steps: int) -> tuple[int, int]:
        """Inclusive step-index window ⌊f₀·N⌋ … ⌊f₁·N⌋."""
        return math.floor(self.step_window[0] * n_steps), math.floor(self.step_window[1] * n_steps)

    def selected_blocks(self, n_blocks: int) -> set[int]:
        """Blocks whose V2A maps are captured (explicit list, else blocks ≥ ⌈min_block_frac·n⌉)."""
        if self.blocks is not None:
            return set(self.blocks)
        first = math.ceil(self.min_block_frac * n_blocks)
        return set(range(first, n_blocks))


def effective_w(step: int, w_max: float, warmup_steps: int) -> float:
    """Upper weight bound at optimiser step ``step``: linear from 1 to ``w_max`` over ``warmup_steps``."""
    if warmup_steps <= 0:
        return w_max
    return 1.0 + (w_max - 1.0) * min(max(step, 0) / warmup_steps, 1.0)


def per_frame_zscore(
    scores: torch.Tensor, frames: int, tokens_per_frame: int, eps: float = 1e-6
) -> torch.Tensor:
    """z-score of (B, frames·tokens_per_frame) scores within each frame (population std; constant frame → 0)."""
    b = scores.shape[0]
    x = scores.to(torch.float64).reshape(b, frames, tokens_per_frame)
    mu = x.mean(dim=2, keepdim=True)
    sd = x.std(dim=2, unbiased=False, keepdim=True)
    z = (x - mu) / (sd + eps)
    return z.reshape(b, frames * tokens_per_frame)


def region_weights(
    scores: torch.Tensor, frames: int, tokens_per_frame: int, w: float, cfg: RegionConfig | None = None
) -> torch.Tensor:
    """Per-token video weights in [1, w] from mean V2A column sums (B, N_video)."""
    cfg = cfg or RegionConfig()
    if w < 1.0:
        raise ValueError("the weight bound w must be ≥ 1")
    if cfg.norm == "sigmoid":
        z = per_frame_zscore(scores, frames, tokens_per_frame, cfg.eps)
        a = 1.0 + (w - 1.0) * torch.sigmoid((w - 1.0) * z)
        return a.clamp(1.0, w).to(torch.float32)
    if cfg.norm == "topk":
        x = scores.to(torch.float64)
        hi = torch.quantile(x, cfg.clip_quantile, dim=1, keepdim=True)
        x = torch.minimum(x, hi)
        k = max(1, round(cfg.topk_frac * x.shape[1]))
        thr = torch.topk(x, k, dim=1).values[:, -1:]
        return torch.where(x >= thr, torch.full_like(x, w), torch.ones_like(x)).to(torch.float32)
    raise ValueError(f"region norm must be sigmoid or topk, got {cfg.norm!r}")


def weight_stats(weights: torch.Tensor) -> dict[str, float]:
    """Mean / std / min / max of region weights, for the logs."""
    w = weights.to(torch.float64)
    return {
        "region_w_mean": float(w.mean()),
        "region_w_std": float(w.std(unbiased=False)),
        "region_w_min": float(w.min()),
        "region_w_max": float(w.max()),
    }


def target_alignment(scores: torch.Tensor, mask: torch.Tensor, top_frac: float = 0.4) -> dict[str, float]:
    """How well V2A scores (B, N) find a known target region (B, N) bool: mass share, top-k IoU, chance level.

    ``region_target_mass`` = mean over samples of Σ_target s / Σ s; ``region_target_iou`` = IoU of each sample's
    top-``top_frac`` tokens by score with the target; ``region_target_share`` = the target's share of the tokens,
    the value both would have for scores that ignore the target.
    """
    s = scores.to(torch.float64)
    m = mask.to(torch.bool)
    mass = (s * m).sum(dim=1) / s.sum(dim=1).clamp_min(1e-12)
    k = max(1, round(top_frac * s.shape[1]))
    top = torch.zeros_like(m)
    top.scatter_(1, torch.topk(s, k, dim=1).indices, True)
    iou = (top & m).sum(dim=1).to(torch.float64) / (top | m).sum(dim=1).clamp_min(1).to(torch.float64)
    return {
        "region_target_mass": float(mass.mean()),
        "region_target_iou": float(iou.mean()),
        "region_target_share": float(m.to(torch.float64).mean()),
    }


class RegionCapture:
    """Accumulates V2A column sums over a rollout, gated by the sampler's step callback."""

    def __init__(self, sites: Sequence[CrossAttnSite], n_blocks: int, cfg: RegionConfig) -> None:
        if cfg.passes not in ("all", "cond_only"):
            raise ValueError(f"region passes must be all or cond_only, got {cfg.passes!r}")
        keep = cfg.selected_blocks(n_blocks)
        self.sites = [s for s in sites if s.direction == "v2a" and s.block_idx in keep]
        for s in self.sites:
            if s.score_fn is None:
                raise ValueError(f"V2A site of block {s.block_idx} has no score_fn")
        self.cfg = cfg
        self.batch_size = 0
        self._step: StepInfo | None = None
        self._sum: torch.Tensor | None = None
        self._count = 0

    def on_step(self, info: StepInfo) -> None:
        """Step callback for the adapter's sampler."""
        self._step = info

    def _gate(self) -> bool:
        info = self._step
        if info is None:
            return False
        lo, hi = self.cfg.step_range(info.n_steps)
        if not lo <= info.step_idx <= hi:
            return False
        if self.cfg.passes == "cond_only" and info.pass_kind not in ("cond", "mixed"):
            return False
        return True

    def _hook(self, site: CrossAttnSite) -> Any:
        def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
            if not self._gate():
                return
            assert site.score_fn is not None and self._step is not None
            with torch.no_grad():
                s = site.score_fn(module, args, kwargs, output).detach().to(torch.float64)
            if (
                self._step.pass_kind == "mixed"
                and self.cfg.passes == "cond_only"
                and self._step.cond_rows is not None
            ):
                s = s[self._step.cond_rows]
            b = self.batch_size
            if s.shape[0] != b:
                if b == 0 or s.shape[0] % b:
                    raise RuntimeError(
                        f"capture batch {s.shape[0]} is not a multiple of the rollout batch {b}"
                    )
                reps = s.shape[0] // b
                s = s.reshape(reps, b, -1).sum(dim=0)
                self._count += reps
            else:
                self._count += 1
            self._sum = s if self._sum is None else self._sum + s

        return hook

    @contextmanager
    def capturing(self, batch_size: int) -> Iterator[RegionCapture]:
        """Hooks installed for one rollout batch of ``batch_size`` samples."""
        self.batch_size = batch_size
        self._sum, self._count, self._step = None, 0, None
        handles: list[RemovableHandle] = [
            s.module.register_forward_hook(self._hook(s), with_kwargs=True) for s in self.sites
        ]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()

    def mean_scores(self) -> torch.Tensor | None:
        """Mean column sums (B, N_video) over captured calls, or None when nothing was captured."""
        if self._sum is None or self._count == 0:
            return None
        return self._sum / self._count
