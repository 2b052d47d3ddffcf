"""Group-normalised advantages for multi-reward NFT: routed (OmniNFT), global (DiffusionNFT) and GDPO.

Spec: ``shared/specs/trainer.md`` §1.2, §2.2, §3.2, §7. Conventions of the reference trackers: population std
(ddof 0), ε = 1e-4 added to the std, per-prompt group means, and by default the std of each reward over the
whole gathered batch (``std_mode="global"``). A missing reward (``NaN``) is masked out of that reward's group
statistics and out of every route that uses it; a group with fewer than two valid samples is skipped for that
reward. Nothing is ever replaced by 0.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

Route = Literal["video", "audio", "sync"]
AdvMode = Literal["routed", "global", "gdpo_omninft", "gdpo_paper"]
StdMode = Literal["global", "group"]
RouteFallback = Literal["empty", "release"]
ROUTE_FALLBACKS: tuple[str, ...] = ("empty", "release")

ADV_MODES: tuple[str, ...] = ("routed", "global", "gdpo_omninft", "gdpo_paper")
MODE_ALIASES: dict[str, str] = {"gdpo": "gdpo_omninft", "branch_aware": "routed", "vanilla": "global"}


@dataclass(frozen=True)
class RewardSpec:
    """One reward: its output name, the branch(es) it drives and its weight in the route sums."""

    name: str
    route: Route = "sync"
    weight: float = 1.0


# OmniNFT's released weights (config `branch_aware_layer_surgery_avweight`), keyed by the toolkit's reward names.
OMNINFT_REWARDS: tuple[RewardSpec, ...] = (
    RewardSpec("videoalign_reward", "video", 1.0),
    RewardSpec("hpsv3_video", "video", 1.5),
    RewardSpec("audiobox_reward", "audio", 0.5),
    RewardSpec("clap_reward", "audio", 1.0),
    RewardSpec("desync_reward", "sync", 1.0),
)


@dataclass(frozen=True)
class AdvantageConfig:
    """How rewards become per-modality advantages."""

    mode: str = "routed"
    std_mode: StdMode | None = None
    ddof: int | None = None
    eps: float = 1e-4
    empty_route_fallback: bool = True
    # "empty": a route falls back to the summed-reward advantage only when no reward feeds it (the intended
    # rule). "release": also when its advantage sums to exactly 0 over the batch, as the released OmniNFT
    # does (`adv.sum() == 0`); per-group centred advantages often sum to exactly 0, so this fires often.
    route_fallback: str = "empty"

    def resolved_mode(self) -> str:
        """Canonical mode name (aliases ``gdpo`` → ``gdpo_omninft``, ``branch_aware`` → ``routed``)."""
        mode = MODE_ALIASES.get(self.mode, self.mode)
        if mode not in ADV_MODES:
            raise ValueError(
                f"unknown advantage mode {self.mode!r}; choose from {', '.join(ADV_MODES)} (or gdpo)"
            )
        if self.route_fallback not in ROUTE_FALLBACKS:
            raise ValueError(
                f"unknown route_fallback {self.route_fallback!r}; choose from {', '.join(ROUTE_FALLBACKS)}"
            )
        return mode

    def resolved_std(self) -> tuple[str, int]:
        """(std mode, ddof): the paper's GDPO uses the group's unbiased std, every other mode the batch population std."""
        paper = self.resolved_mode() == "gdpo_paper"
        std_mode = self.std_mode or ("group" if paper else "global")
        ddof = self.ddof if self.ddof is not None else (1 if paper else 0)
        return std_mode, ddof


@dataclass
class Advantages:
    """Per-modality advantages (B,), their validity masks, and diagnostics."""

    per_modality: dict[str, torch.Tensor]
    valid: dict[str, torch.Tensor]
    per_reward: dict[str, torch.Tensor]
    mode: str
    stats: dict[str, float] = field(default_factory=dict)


def _std(x: torch.Tensor, ddof: int) -> torch.Tensor:
    n = x.numel()
    if n - ddof <= 0:
        return torch.zeros((), dtype=x.dtype)
    return torch.sqrt(((x - x.mean()) ** 2).sum() / (n - ddof))


def group_normalise(
    rewards: torch.Tensor, groups: torch.Tensor, *, std_mode: str = "global", ddof: int = 0, eps: float = 1e-4
) -> tuple[torch.Tensor, dict[str, float]]:
    """(R − group mean)/(σ + ε) per sample; NaN rewards and groups with < 2 valid samples give NaN.

    σ is the std of every valid reward of the batch (``global``) or of the sample's own group (``group``).
    Returns the advantages and stats (``zero_std_group_ratio``, ``skipped_groups``, ``valid_ratio``).
    """
    r = rewards.to(torch.float64)
    valid = torch.isfinite(r)
    out = torch.full_like(r, float("nan"))
    kept = torch.zeros_like(valid)
    n_groups = zero_std = skipped = 0
    for g in torch.unique(groups).tolist():
        in_g = (groups == g) & valid
        n_groups += 1
        if int(in_g.sum()) < 2:
            skipped += 1
            continue
        kept |= in_g
        if float(_std(r[in_g], 0)) == 0.0:
            zero_std += 1
    if std_mode == "global":
        sigma_all = _std(r[kept], ddof) if bool(kept.any()) else torch.zeros((), dtype=r.dtype)
    elif std_mode != "group":
        raise ValueError(f"std_mode must be 'global' or 'group', got {std_mode!r}")
    for g in torch.unique(groups).tolist():
        in_g = (groups == g) & kept
        if not bool(in_g.any()):
            continue
        vals = r[in_g]
        sigma = sigma_all if std_mode == "global" else _std(vals, ddof)
        out[in_g] = (vals - vals.mean()) / (sigma + eps)
    stats = {
        "zero_std_group_ratio": zero_std / max(n_groups - skipped, 1),
        "skipped_groups": float(skipped),
        "valid_ratio": float(valid.to(torch.float64).mean()) if r.numel() else 0.0,
    }
    return out, stats


def _weighted_sum(
    terms: Sequence[tuple[float, torch.Tensor]], like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ w·A over terms; a sample is valid only where every term is finite (a zero-weight term still needs it)."""
    total = torch.zeros_like(like)
    valid = torch.ones_like(like, dtype=torch.bool)
    for w, a in terms:
        ok = torch.isfinite(a)
        valid &= ok
        total = total + w * torch.where(ok, a, torch.zeros_like(a))
    return total, valid


def compute_advantages(
    rewards: Mapping[str, torch.Tensor],
    groups: torch.Tensor,
    specs: Sequence[RewardSpec],
    config: AdvantageConfig | None = None,
    modalities: Sequence[str] = ("video", "audio"),
) -> Advantages:
    """Per-modality advantages from named raw rewards (B,) (NaN = failed) and prompt group ids (B,)."""
    cfg = config or AdvantageConfig()
    mode = cfg.resolved_mode()
    std_mode, ddof = cfg.resolved_std()
    if not specs:
        raise ValueError("at least one reward is needed")
    missing = [s.name for s in specs if s.name not in rewards]
    if missing:
        raise KeyError(f"rewards missing from the batch: {missing}")
    groups = torch.as_tensor(groups)
    like = torch.as_tensor(rewards[specs[0].name], dtype=torch.float64)
    stats: dict[str, float] = {}
    per_reward: dict[str, torch.Tensor] = {}
    for s in specs:
        a, st = group_normalise(
            torch.as_tensor(rewards[s.name]), groups, std_mode=std_mode, ddof=ddof, eps=cfg.eps
        )
        per_reward[s.name] = a
        for k, v in st.items():
            stats[f"{k}/{s.name}"] = v

    def summed_global() -> tuple[torch.Tensor, torch.Tensor]:
        total, ok = _weighted_sum(
            [(s.weight, torch.as_tensor(rewards[s.name], dtype=torch.float64)) for s in specs], like
        )
        a, st = group_normalise(
            torch.where(ok, total, torch.full_like(total, float("nan"))),
            groups,
            std_mode=std_mode,
            ddof=ddof,
            eps=cfg.eps,
        )
        for k, v in st.items():
            stats[f"{k}/_sum"] = v
        return torch.nan_to_num(a, nan=0.0), torch.isfinite(a)

    per_mod: dict[str, torch.Tensor] = {}
    valid: dict[str, torch.Tensor] = {}
    if mode == "global":
        a, ok = summed_global()
        for m in modalities:
            per_mod[m], valid[m] = a.clone(), ok.clone()
    elif mode in ("gdpo_omninft", "gdpo_paper"):
        a, ok = _weighted_sum([(s.weight, per_reward[s.name]) for s in specs], like)
        if mode == "gdpo_paper" and bool(ok.any()):
            a_ok = a[ok]
            a = torch.where(ok, (a - a_ok.mean()) / (_std(a_ok, ddof) + cfg.eps), torch.zeros_like(a))
        for m in modalities:
            per_mod[m], valid[m] = torch.where(ok, a, torch.zeros_like(a)), ok.clone()
    else:
        fallback: tuple[torch.Tensor, torch.Tensor] | None = None
        for m in modalities:
            terms = [(s.weight, per_reward[s.name]) for s in specs if s.route in (m, "sync")]
            a, ok = _weighted_sum(terms, like)
            routed = torch.where(ok, a, torch.zeros_like(a))
            # The release tests the gathered sum in float64; masked samples contribute 0 there as here.
            fire = (not terms and cfg.empty_route_fallback) or (
                bool(terms) and cfg.route_fallback == "release" and float(routed.sum()) == 0.0
            )
            stats[f"route_fallback/{m}"] = 1.0 if fire else 0.0
            if fire:
                fallback = fallback or summed_global()
                per_mod[m], valid[m] = fallback[0].clone(), fallback[1].clone()
                continue
            per_mod[m], valid[m] = routed, ok
    stats.update(advantage_diagnostics(per_mod, valid))
    stats.update(reward_sign_disagreement(per_reward, specs, like))
    return Advantages(per_modality=per_mod, valid=valid, per_reward=per_reward, mode=mode, stats=stats)


def sign_disagreement(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor) -> float:
    """Share of samples (valid, both non-zero) whose advantages ``a`` and ``b`` have opposite signs."""
    both = valid & (a != 0) & (b != 0)
    n = int(both.sum())
    return float(((torch.sign(a) != torch.sign(b)) & both).sum()) / n if n else float("nan")


def reward_sign_disagreement(
    per_reward: Mapping[str, torch.Tensor], specs: Sequence[RewardSpec], like: torch.Tensor
) -> dict[str, float]:
    """The paper's statistic: sign(ΣA_video rewards) ≠ sign(ΣA_audio rewards), before routing adds the sync term.

    Computed on the per-modality reward advantages, so it means the same in every advantage mode (the routed
    sums share the sync term, and global/GDPO give both branches one value: 0 by construction there).
    """
    sums: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for route in ("video", "audio"):
        terms = [(s.weight, per_reward[s.name]) for s in specs if s.route == route]
        if terms:
            sums[route] = _weighted_sum(terms, like)
    if len(sums) < 2:
        return {}
    (av, okv), (aa, oka) = sums["video"], sums["audio"]
    return {"sign_disagreement_rate": sign_disagreement(av, aa, okv & oka)}


def advantage_diagnostics(
    per_mod: Mapping[str, torch.Tensor], valid: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """Per-branch diagnostics: sign disagreement of the routed advantages, mean |A| and valid ratio per branch."""
    out: dict[str, float] = {}
    if "video" in per_mod and "audio" in per_mod:
        out["routed_sign_disagreement_rate"] = sign_disagreement(
            per_mod["video"], per_mod["audio"], valid["video"] & valid["audio"]
        )
    for m, a in per_mod.items():
        ok = valid[m]
        out[f"adv_abs_mean/{m}"] = float(a[ok].abs().mean()) if bool(ok.any()) else float("nan")
        out[f"valid_ratio/{m}"] = float(ok.to(torch.float64).mean()) if ok.numel() else 0.0
    return out


def optimality(adv: torch.Tensor, clip: float = 5.0) -> torch.Tensor:
    """DiffusionNFT optimality probability r = clip(A, ±c)/(2c) + ½ ∈ [0, 1]."""
    if clip <= 0:
        raise ValueError("adv clip must be positive")
    return torch.clamp(adv, -clip, clip) / (2.0 * clip) + 0.5
