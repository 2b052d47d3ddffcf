"""The OmniNFT / DiffusionNFT training loop: rollouts → remote rewards → advantages → NFT updates → soft update.

Per epoch (spec §5.1): K-repeat prompt groups; rollouts with the old policy while V2A maps are captured; each
decoded batch is sent to the reward servers at once (scoring overlaps the next batch's generation); advantages;
shuffled micro-batches × training σ's with surgery hooks on the training forward; optimiser step(s); old-policy
soft update; one JSONL log line; checkpoint. Every random draw comes from generators seeded by (seed, epoch), so a
run resumed from a checkpoint is bit-identical to an uninterrupted one on the same machine.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omninft.trainer.config import TrainConfig, to_dict
from omninft.trainer.core.advantages import AdvantageConfig, RewardSpec, compute_advantages, optimality
from omninft.trainer.core.ema import OldPolicyConfig, old_policy_eta
from omninft.trainer.core.nft import NFTConfig, NFTTerms, combine_modalities, nft_terms
from omninft.trainer.core.regions import (
    RegionCapture,
    RegionConfig,
    effective_w,
    region_weights,
    target_alignment,
    weight_stats,
)
from omninft.trainer.core.sigmas import training_sigmas
from omninft.trainer.core.surgery import GradSurgery, SurgeryConfig
from omninft.trainer.policies.base import PolicyAdapter, PromptRecord, Rollout, SamplerConfig, cat_rollouts
from omninft.trainer.rollout import (
    EmbeddedRewardServer,
    RewardDispatcher,
    RewardRoute,
    gather_rewards,
)

ADAPTERS: dict[str, str] = {
    "toy": "omninft.trainer.policies.toy:build_from_options",
    "ltx2": "omninft.trainer.policies.ltx2:build_from_options",
}


# ------------------------------------------------------------------------------------------------ setup


def load_prompts(spec: str, n_classes: int = 4) -> list[PromptRecord]:
    """``toy`` → the toy's class prompts; otherwise a JSONL file with prompt_av / prompt_v / prompt_a fields."""
    if spec == "toy":
        from omninft.trainer.policies.toy import toy_prompts

        return toy_prompts(n_classes)
    out = []
    with Path(spec).open() as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            row = json.loads(line)
            text = row.get("prompt_av") or row.get("prompt")
            if not text:
                raise ValueError(f"{spec}:{i + 1}: needs prompt_av (or prompt)")
            meta = {k: v for k, v in row.items() if k not in ("prompt_av", "prompt", "prompt_v", "prompt_a")}
            out.append(
                PromptRecord(
                    str(row.get("sample_id", row.get("id", i))),
                    text,
                    row.get("prompt_v", ""),
                    row.get("prompt_a", ""),
                    meta,
                )
            )
    if not out:
        raise ValueError(f"no prompts in {spec}")
    return out


def build_adapter(cfg: TrainConfig, cache_dir: Path) -> PolicyAdapter:
    """The policy adapter named by ``policy.kind`` (``toy``, ``ltx2`` or ``module:function``)."""
    target = ADAPTERS.get(cfg.policy.kind, cfg.policy.kind)
    if ":" not in target:
        raise ValueError(f"unknown policy kind {cfg.policy.kind!r}; use toy, ltx2 or module:function")
    mod, fn = target.split(":")
    factory: Callable[..., PolicyAdapter] = getattr(importlib.import_module(mod), fn)
    options = dict(cfg.policy.options)
    if cfg.policy.kind == "toy":
        options.setdefault("base_checkpoint", cfg.policy.base_checkpoint or str(cache_dir / "toy_base.pt"))
        options.setdefault("pretrain_steps", cfg.policy.pretrain_steps)
        options.setdefault("pretrain_batch", cfg.policy.pretrain_batch)
        options.setdefault("pretrain_lr", cfg.policy.pretrain_lr)
        options.setdefault("init_seed", cfg.policy.init_seed)
    if cfg.policy.kind == "ltx2":
        adapter_opts = dict(options.get("adapter", {}))
        if cfg.sampler.negative_prompt is not None:
            adapter_opts["negative_prompt"] = cfg.sampler.negative_prompt
        adapter_opts.setdefault("capture_rope", cfg.regions.rope)
        options["adapter"] = adapter_opts
    return factory(options)


def warmup_lr(lr: float, step: int, warmup_steps: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warm-up to ``lr`` over ``warmup_steps``."""
    if warmup_steps <= 0:
        return lr
    return lr * min(1.0, (step + 1) / warmup_steps)


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """Independent generator per (seed, epoch, stream): resumes need no RNG state."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch * 7919 + stream * 104_729) % (2**63 - 1))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Rollout seed of sample ``index`` of ``epoch``."""
    return (seed % 10_000) * 10**9 + epoch * 100_000 + index


def choose_groups(n_prompts: int, n_groups: int, gen: torch.Generator) -> list[int]:
    """Prompt indices for this epoch's groups: concatenated random permutations (no repeats within one pass)."""
    out: list[int] = []
    while len(out) < n_groups:
        out.extend(torch.randperm(n_prompts, generator=gen).tolist())
    return out[:n_groups]


# ------------------------------------------------------------------------------------------------ logging


class RunLog:
    """JSONL log (one line per epoch) plus TensorBoard scalars when ``torch.utils.tensorboard`` is usable."""

    def __init__(self, out_dir: Path, tensorboard: bool) -> None:
        self.path = out_dir / "log.jsonl"
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(out_dir / "tb"))
            except ImportError:
                self._tb = None

    @property
    def tensorboard(self) -> bool:
        """Whether TensorBoard scalars are being written."""
        return self._tb is not None

    def write(self, record: dict[str, Any]) -> None:
        """Append a record; numeric entries also go to TensorBoard."""
        with self.path.open("a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")
        if self._tb is not None:
            step = int(record.get("step", 0))
            for k, v in record.items():
                if isinstance(v, int | float) and math.isfinite(float(v)):
                    self._tb.add_scalar(k, float(v), step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tb is not None:
            self._tb.close()


# ------------------------------------------------------------------------------------------------ trainer


@dataclass
class EpochData:
    """What the train phase needs from one epoch of rollouts."""

    rollout: Rollout
    groups: torch.Tensor
    rewards: dict[str, np.ndarray]
    region_scores: torch.Tensor | None
    errors: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


class Trainer:
    """One training run over a policy adapter and remote reward servers."""

    def __init__(
        self,
        cfg: TrainConfig,
        adapter: PolicyAdapter | None = None,
        *,
        reward_addresses: dict[str, str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.out_dir = Path(cfg.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.adapter = adapter if adapter is not None else build_adapter(cfg, self.out_dir)
        self.prompts = load_prompts(cfg.data.prompts)
        self.specs = [RewardSpec(r.name, r.route, r.weight) for r in cfg.rewards]  # type: ignore[arg-type]
        self.adv_cfg = AdvantageConfig(
            cfg.advantage.mode,
            cfg.advantage.std_mode,  # type: ignore[arg-type]
            cfg.advantage.ddof,  # type: ignore[arg-type]
            cfg.advantage.eps,
            cfg.advantage.empty_route_fallback,
            cfg.advantage.route_fallback,
        )
        self.adv_cfg.resolved_mode()
        self.nft_cfg = NFTConfig(cfg.nft.beta, cfg.nft.adv_clip, cfg.nft.kl_coef)
        self.sampler = SamplerConfig(
            cfg.sampler.steps,
            cfg.sampler.grid,
            cfg.sampler.video_cfg,
            cfg.sampler.audio_cfg,
            cfg.sampler.stg_scale,
            tuple(cfg.sampler.stg_blocks),
        )
        n_blocks = self.adapter.num_blocks()
        s = cfg.surgery
        self.surgery = GradSurgery(
            self.adapter.cross_attn_sites(),
            n_blocks,
            SurgeryConfig(
                s.enabled,
                tuple((int(c), float(g)) for c, g in s.segments),
                None if s.per_block is None else tuple(s.per_block),
                s.site,
                s.warmup_steps,
            ),
        )
        rg = cfg.regions
        self.region_cfg = RegionConfig(
            rg.enabled,
            None if rg.blocks is None else tuple(rg.blocks),
            rg.min_block_frac,
            (rg.step_window[0], rg.step_window[1]),
            rg.passes,
            rg.norm,
            rg.w_max,
            rg.warmup_steps,
        )
        self.capture = (
            RegionCapture(self.adapter.capture_sites(), n_blocks, self.region_cfg) if rg.enabled else None
        )
        t = cfg.train
        self.optimizer = torch.optim.AdamW(
            self.adapter.trainable_parameters(),
            lr=t.lr,
            betas=(t.betas[0], t.betas[1]),
            weight_decay=t.weight_decay,
            eps=t.adam_eps,
        )
        self.old_cfg = OldPolicyConfig(cfg.old_policy.decay_type, cfg.old_policy.rate, cfg.old_policy.max_eta)
        self.epoch = 0
        self.step = 0
        self._reward_addresses = reward_addresses
        self.log = RunLog(self.out_dir, cfg.log.tensorboard)
        self.provenance: dict[str, Any] = {}

    # ---------------------------------------------------------------------------------------- checkpoints

    def checkpoint_path(self, epoch: int) -> Path:
        """Path of the checkpoint written after ``epoch`` epochs."""
        return self.out_dir / f"ckpt-{epoch:06d}.pt"

    def save_checkpoint(self) -> Path:
        """Adapter (train + old), optimiser, epoch and step."""
        path = self.checkpoint_path(self.epoch)
        tmp = path.with_suffix(".tmp")
        torch.save(
            {
                "adapter": self.adapter.checkpoint_state(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch,
                "step": self.step,
                "config": to_dict(self.cfg),
            },
            tmp,
        )
        tmp.replace(path)
        keep = self.cfg.log.keep_checkpoints
        if keep > 0:
            for old in sorted(self.out_dir.glob("ckpt-*.pt"))[:-keep]:
                old.unlink()
        return path

    def latest_checkpoint(self) -> Path | None:
        """Newest checkpoint in the run folder."""
        found = sorted(self.out_dir.glob("ckpt-*.pt"))
        return found[-1] if found else None

    def load_checkpoint(self, path: Path) -> None:
        """Resume from a checkpoint."""
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.adapter.load_checkpoint_state(state["adapter"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])

    # ---------------------------------------------------------------------------------------- rewards

    @contextmanager
    def reward_dispatcher(self) -> Iterator[RewardDispatcher]:
        """Dispatcher over the configured servers; ``embedded`` ones are spawned for the duration."""
        with ExitStack() as stack:
            addresses = dict(self._reward_addresses or {})
            for key, value in self.cfg.servers.items():
                if key in addresses:
                    continue
                if value == "embedded":
                    scorers = [r.scorer or r.name for r in self.cfg.rewards if r.server == key]
                    srv = EmbeddedRewardServer(
                        scorers,
                        weights=self.cfg.reward.embedded_weights,
                        max_batch_size=self.cfg.reward.embedded_max_batch_size,
                        startup_timeout_s=self.cfg.reward.embedded_startup_timeout_s,
                        log_path=self.out_dir / f"reward-server-{key}.log",
                    )
                    addresses[key] = stack.enter_context(srv).address
                else:
                    addresses[key] = value
            routes = [RewardRoute(r.name, r.scorer or r.name, addresses[r.server]) for r in self.cfg.rewards]
            disp = stack.enter_context(RewardDispatcher(routes, timeout_s=self.cfg.reward.timeout_s))
            self.provenance["reward_servers"] = disp.wait_ready(self.cfg.reward.embedded_startup_timeout_s)
            yield disp

    # ---------------------------------------------------------------------------------------- phases

    def collect(self, dispatcher: RewardDispatcher, epoch: int) -> EpochData:
        """Rollouts for this epoch's groups; each decoded batch goes to the reward servers at once."""
        cfg = self.cfg
        gen = epoch_generator(cfg.seed, epoch, 0)
        g_size = cfg.data.group_size
        slots = choose_groups(len(self.prompts), cfg.data.groups_per_epoch, gen)
        prompts = [self.prompts[p] for p in slots for _ in range(g_size)]
        groups = torch.tensor([gi for gi in range(len(slots)) for _ in range(g_size)], dtype=torch.long)
        seeds = [sample_seed(cfg.seed, epoch, i) for i in range(len(prompts))]
        timing = {"rollout_s": 0.0, "decode_s": 0.0, "submit_s": 0.0, "reward_wait_s": 0.0}
        futures, sizes, parts, scores = [], [], [], []
        bs = max(1, cfg.data.rollout_batch)
        for start in range(0, len(prompts), bs):
            ps, ss = prompts[start : start + bs], seeds[start : start + bs]
            t0 = time.perf_counter()
            cond = self.adapter.encode_conditions(ps)
            if self.capture is not None:
                with self.capture.capturing(len(ps)) as cap:
                    r = self.adapter.rollout(cond, ps, ss, self.sampler, cap.on_step)
                scores.append(cap.mean_scores())
            else:
                r = self.adapter.rollout(cond, ps, ss, self.sampler, None)
            t1 = time.perf_counter()
            media = self.adapter.decode(r)
            t2 = time.perf_counter()
            ids = [f"e{epoch}-s{start + i}" for i in range(len(ps))]
            fut = dispatcher.submit(ids, media, ps)
            t3 = time.perf_counter()
            if not cfg.reward.async_:
                fut.result(timeout=cfg.reward.epoch_deadline_s)
            t4 = time.perf_counter()
            timing["rollout_s"] += t1 - t0
            timing["decode_s"] += t2 - t1
            timing["submit_s"] += t3 - t2
            timing["reward_wait_s"] += t4 - t3
            futures.append(fut)
            sizes.append(len(ps))
            parts.append(r)
        t0 = time.perf_counter()
        names = [r.name for r in cfg.rewards]
        rewards, errors = gather_rewards(futures, names, sizes, cfg.reward.epoch_deadline_s)
        timing["reward_wait_s"] += time.perf_counter() - t0
        region = None
        if scores and all(s is not None for s in scores):
            region = torch.cat([s for s in scores if s is not None], dim=0)
        return EpochData(cat_rollouts(parts), groups, rewards, region, errors, timing)

    def train_phase(self, data: EpochData, epoch: int) -> dict[str, Any]:
        """Advantages, NFT loss over micro-batches × training σ's, optimiser step(s), soft update."""
        cfg, adapter = self.cfg, self.adapter
        t0 = time.perf_counter()
        rewards_t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in data.rewards.items()}
        adv = compute_advantages(rewards_t, data.groups, self.specs, self.adv_cfg, adapter.modalities())
        r = {
            m: optimality(adv.per_modality[m], self.nft_cfg.adv_clip).to(torch.float32)
            for m in adapter.modalities()
        }
        masks = {m: adv.valid[m] for m in adapter.modalities()}
        w_eff = effective_w(self.step, self.region_cfg.w_max, self.region_cfg.warmup_steps)
        token_w: torch.Tensor | None = None
        log: dict[str, Any] = {}
        if data.region_scores is not None:
            frames, per_frame = adapter.token_layout("video", data.rollout)
            token_w = region_weights(data.region_scores, frames, per_frame, w_eff, self.region_cfg)
            log.update(weight_stats(token_w))
            log["region_w_bound"] = w_eff
            target = getattr(adapter, "region_target_mask", None)
            if target is not None:
                log.update(target_alignment(data.region_scores, target(data.rollout)))
        t1 = time.perf_counter()

        gen = epoch_generator(cfg.seed, epoch, 1)
        n = data.rollout.batch_size
        order = torch.randperm(n, generator=gen)
        mb = cfg.train.micro_batch
        micro = [order[i : i + mb] for i in range(0, n, mb)]
        n_steps = min(cfg.train.optimizer_steps_per_epoch, len(micro))
        chunks = [c.tolist() for c in np.array_split(np.arange(len(micro)), n_steps)]
        grid = adapter.training_sigmas(cfg.sampler.steps)
        self.surgery.recorder.reset()
        totals: dict[str, float] = {}
        n_pass_total = 0
        grad_norms = []
        params = adapter.trainable_parameters()
        any_valid = any(bool(v.any()) for v in masks.values())
        for chunk in chunks:
            self.optimizer.zero_grad(set_to_none=True)
            plans = [
                (
                    micro[j],
                    training_sigmas(grid, len(micro[j]), cfg.train.sigma_policy, cfg.train.sigma_frac, gen),
                )
                for j in chunk
            ]
            denom = sum(p[1].shape[0] for p in plans)
            for idx, sig in plans:
                sub = data.rollout.select(idx)
                for sigma in sig:
                    sigma = sigma.to(torch.float32)
                    x_t, _ = adapter.noise(sub.latents, sigma, gen, sub.aux)
                    with torch.no_grad():
                        x_old = adapter.predict_x0("old", x_t, sigma, sub.cond, sub.aux)
                        x_ref = adapter.predict_x0("ref", x_t, sigma, sub.cond, sub.aux)
                    with self.surgery.active(self.step):
                        x_th = adapter.predict_x0("train", x_t, sigma, sub.cond, sub.aux)
                    terms: dict[str, NFTTerms] = {}
                    for m in adapter.modalities():
                        tw = token_w[idx] if (m == "video" and token_w is not None) else None
                        terms[m] = nft_terms(
                            sub.latents[m], x_th[m], x_old[m], x_ref[m], r[m][idx], self.nft_cfg, tw
                        )
                    loss, parts = combine_modalities(
                        terms, {m: masks[m][idx] for m in masks}, self.nft_cfg, cfg.train.modality_weights
                    )
                    (loss / denom).backward()
                    n_pass_total += 1
                    for k, v in parts.items():
                        totals[k] = totals.get(k, 0.0) + v
            if any_valid:
                gn = torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
                grad_norms.append(float(gn))
                lr = warmup_lr(cfg.train.lr, self.step, cfg.train.lr_warmup_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.optimizer.step()
                self.step += 1
        t2 = time.perf_counter()
        eta = old_policy_eta(self.step, self.old_cfg)
        adapter.soft_update(eta)
        t3 = time.perf_counter()

        log.update({k: v / max(n_pass_total, 1) for k, v in totals.items()})
        log["grad_norm"] = float(np.mean(grad_norms)) if grad_norms else float("nan")
        log["eta"] = eta
        log["lr"] = warmup_lr(cfg.train.lr, max(self.step - 1, 0), cfg.train.lr_warmup_steps)
        log["surgery_grad_ratio"] = self.surgery.recorder.ratio()
        log["surgery_kept"] = self.surgery.fractions(self.step)
        log.update({k: v for k, v in adv.stats.items()})
        log.update({"advantage_s": t1 - t0, "train_s": t2 - t1, "update_s": t3 - t2})
        return log

    def run_epoch(self, dispatcher: RewardDispatcher) -> dict[str, Any]:
        """One epoch; returns (and logs) its record."""
        t0 = time.perf_counter()
        epoch = self.epoch
        data = self.collect(dispatcher, epoch)
        rec: dict[str, Any] = {"epoch": epoch, "mode": self.adv_cfg.resolved_mode()}
        for name, vals in data.rewards.items():
            ok = np.isfinite(vals)
            rec[f"reward/{name}"] = float(vals[ok].mean()) if ok.any() else float("nan")
            rec[f"reward_fail_rate/{name}"] = float(1.0 - ok.mean()) if vals.size else 0.0
        rec["reward_errors"] = len(data.errors)
        if data.errors:
            rec["reward_error_sample"] = data.errors[0][:300]
        rec.update(self.train_phase(data, epoch))
        rec.update(data.timing)
        self.epoch += 1
        rec["step"] = self.step
        rec["epoch_s"] = time.perf_counter() - t0
        self.log.write(rec)
        if self.cfg.log.checkpoint_every > 0 and self.epoch % self.cfg.log.checkpoint_every == 0:
            self.save_checkpoint()
        return rec

    def run(
        self,
        epochs: int | None = None,
        *,
        resume: str | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are done (resuming from ``auto`` / a path when asked); returns the records."""
        if resume:
            path = self.latest_checkpoint() if resume == "auto" else Path(resume)
            if path is not None:
                self.load_checkpoint(path)
        total = self.cfg.epochs if epochs is None else epochs
        (self.out_dir / "config.json").write_text(json.dumps(to_dict(self.cfg), indent=2))
        records = []
        with self.reward_dispatcher() as disp:
            (self.out_dir / "provenance.json").write_text(
                json.dumps({"adapter": self.adapter.describe(), **self.provenance}, indent=2, default=str)
            )
            while self.epoch < total:
                rec = self.run_epoch(disp)
                records.append(rec)
                if on_epoch is not None:
                    on_epoch(rec)
        if self.cfg.log.checkpoint_every > 0 and (not records or self.epoch % self.cfg.log.checkpoint_every):
            self.save_checkpoint()
        self.log.close()
        return records


def config_summary(cfg: TrainConfig) -> dict[str, Any]:
    """Small human summary of a config (mode, rewards, surgery, regions)."""
    return {
        "mode": cfg.advantage.mode,
        "rewards": [dataclasses.asdict(r) for r in cfg.rewards],
        "surgery": cfg.surgery.enabled,
        "regions": cfg.regions.enabled,
        "epochs": cfg.epochs,
    }


def train(
    cfg: TrainConfig, *, resume: str | None = None, on_epoch: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Build a trainer from a config and run it."""
    return Trainer(cfg).run(resume=resume, on_epoch=on_epoch)
