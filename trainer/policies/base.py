"""Policy adapter protocol: everything the backbone-agnostic trainer needs from a joint audio-video model.

The trainer core (advantages, NFT loss, surgery, region weights, old-policy schedule) never sees a concrete
model. An adapter (``toy.py``, ``ltx2.py``) owns the "where" (modules, kwargs, token layouts, RoPE, CFG batch
layout); the core owns the math. Spec: ``shared/specs/trainer.md`` §5.2.

Batch convention: every tensor that belongs to a batch of samples is batch-first. ``Rollout.cond`` and
``Rollout.aux`` are *batch trees*: a tensor (indexed on dim 0), a dict / list / tuple of batch trees, or a leaf
that is not a tensor (passed through unchanged, e.g. shapes or fps). The trainer slices and concatenates rollouts
with :func:`index_batch` / :func:`cat_batch`, so adapters must keep per-sample data in tensors with a leading
batch dim and shared data in non-tensor leaves (or tensors registered via a :class:`Shared` wrapper).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

Modality = Literal["video", "audio"]
Which = Literal["train", "old", "ref"]
PassKind = Literal["cond", "uncond", "stg", "mixed"]
Direction = Literal["a2v", "v2a"]

MODALITIES: tuple[Modality, Modality] = ("video", "audio")


@dataclass(frozen=True)
class PromptRecord:
    """One prompt of the training set: generation prompt plus the per-reward prompts (OmniNFT JSONL fields)."""

    id: str
    prompt_av: str
    prompt_v: str = ""
    prompt_a: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def video_prompt(self) -> str:
        """Prompt the video rewards see (falls back to the generation prompt)."""
        return self.prompt_v or self.prompt_av

    @property
    def audio_prompt(self) -> str:
        """Prompt the audio rewards see (falls back to the generation prompt)."""
        return self.prompt_a or self.prompt_av


@dataclass(frozen=True)
class SamplerConfig:
    """Rollout sampler settings (deterministic Euler in x0-form; CFG/STG optional, per modality)."""

    steps: int = 20
    grid: str = "default"
    video_cfg: float = 1.0
    audio_cfg: float = 1.0
    stg_scale: float = 0.0
    stg_blocks: tuple[int, ...] = ()


@dataclass(frozen=True)
class StepInfo:
    """What the sampler is about to run: lets capture hooks (region weights) gate themselves.

    ``cond_rows`` names the rows of the model batch that belong to the conditional pass when a single forward
    carries several passes (``pass_kind == "mixed"``, e.g. diffusers' [uncond; cond] CFG layout); ``None``
    means every row is of ``pass_kind``. ``sigma`` is the current noise level.
    """

    step_idx: int
    n_steps: int
    sigma: float
    pass_kind: PassKind = "cond"
    cond_rows: slice | None = None


StepCallback = Callable[[StepInfo], None]
"""Called by ``PolicyAdapter.rollout`` right before each model forward pass (one call per pass)."""


@dataclass
class Shared:
    """Wrapper for a batch-tree leaf that is shared by all samples (not sliced, not concatenated)."""

    value: Any


@dataclass
class Rollout:
    """Result of one rollout batch: clean latents per modality (B-first) plus what the velocity calls need."""

    latents: dict[str, torch.Tensor]
    cond: Any
    aux: Any
    seeds: list[int]
    prompts: list[PromptRecord]

    @property
    def batch_size(self) -> int:
        """Number of samples in the rollout."""
        return len(self.seeds)

    def select(self, index: Sequence[int] | torch.Tensor) -> Rollout:
        """Sub-batch with the given sample indices (in that order)."""
        idx = torch.as_tensor(list(index) if not isinstance(index, torch.Tensor) else index, dtype=torch.long)
        ids = idx.tolist()
        return Rollout(
            latents={k: v.index_select(0, idx.to(v.device)) for k, v in self.latents.items()},
            cond=index_batch(self.cond, idx),
            aux=index_batch(self.aux, idx),
            seeds=[self.seeds[i] for i in ids],
            prompts=[self.prompts[i] for i in ids],
        )


@dataclass
class Media:
    """Decoded sample for the reward servers: uint8 T×H×W×3 RGB video and float32 C×N audio."""

    frames: np.ndarray
    fps: float
    audio: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.frames.dtype != np.uint8 or self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ValueError(
                f"video frames must be uint8 T×H×W×3, got {self.frames.dtype} {self.frames.shape}"
            )
        if self.audio.dtype != np.float32 or self.audio.ndim != 2:
            raise ValueError(f"audio must be float32 C×N, got {self.audio.dtype} {self.audio.shape}")
        if self.fps <= 0 or self.sample_rate <= 0:
            raise ValueError("fps and sample_rate must be positive")


ScoreFn = Callable[[nn.Module, tuple[Any, ...], dict[str, Any], Any], torch.Tensor]
"""V2A capture: ``(module, args, kwargs, output) -> (B, N_keys)`` head-averaged attention column sums.

Column sum j = Σ_i softmax_j(q_i·k_j/√d) over the audio queries i (keys j are video tokens). Runs under
no-grad in a forward hook; the adapter owns projections, QK-norm and (optionally) RoPE."""


@dataclass
class CrossAttnSite:
    """One cross-modal attention module of one block, and how to reach its inputs.

    For A2V (query video, key/value audio) the surgery hook rewrites the K/V input named by ``kv_kwarg``
    (e.g. ``encoder_hidden_states`` in diffusers, ``context`` in ltx-core) or, when that is ``None``, the
    positional argument ``kv_arg_index``. ``kv_proj`` lists the K and V projection modules for the
    ``kv_output`` surgery variant. For V2A, ``score_fn`` computes the capture statistic.
    """

    block_idx: int
    direction: Direction
    module: nn.Module
    kv_kwarg: str | None = None
    kv_arg_index: int | None = None
    kv_proj: tuple[nn.Module, ...] = ()
    heads: int = 1
    score_fn: ScoreFn | None = None


@runtime_checkable
class PolicyAdapter(Protocol):
    """A joint audio-video flow model as the trainer sees it (train, old and reference policies)."""

    def modalities(self) -> tuple[str, ...]:
        """Latent streams, in a fixed order, normally ``("video", "audio")``."""
        ...

    def num_blocks(self) -> int:
        """Number of transformer blocks (surgery schedules are rescaled to it)."""
        ...

    def token_layout(self, modality: str, rollout: Rollout) -> tuple[int, int]:
        """``(frames, tokens_per_frame)`` of a modality's token sequence for this rollout."""
        ...

    def encode_conditions(self, prompts: Sequence[PromptRecord]) -> Any:
        """Batch tree of conditions for these prompts (adapters may cache per prompt)."""
        ...

    def rollout(
        self,
        cond: Any,
        prompts: Sequence[PromptRecord],
        seeds: Sequence[int],
        sampler: SamplerConfig,
        step_callback: StepCallback | None = None,
    ) -> Rollout:
        """Sample clean latents with the *old* policy, deterministically given the seeds (no grad)."""
        ...

    def decode(self, rollout: Rollout) -> list[Media]:
        """Decode each sample to media for the reward servers."""
        ...

    def predict_x0(
        self, which: Which, x_t: Mapping[str, torch.Tensor], sigma: torch.Tensor, cond: Any, aux: Any
    ) -> dict[str, torch.Tensor]:
        """x0-prediction ``x_t − σ·v`` of the train / old / ref policy; ``sigma`` is (B,). Grad only for train."""
        ...

    def noise(
        self, x0: Mapping[str, torch.Tensor], sigma: torch.Tensor, generator: torch.Generator, aux: Any = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Forward process ``x_t = (1−σm)·x0 + σm·ε`` (m = denoise mask); returns ``(x_t, ε)``."""
        ...

    def training_sigmas(self, n_steps: int) -> torch.Tensor:
        """The rollout grid's non-zero σ's, noisiest first, that training σ's are drawn from."""
        ...

    def cross_attn_sites(self) -> list[CrossAttnSite]:
        """All A2V and V2A cross-attention sites of the *trainable* model, one per block and direction."""
        ...

    def capture_sites(self) -> list[CrossAttnSite]:
        """V2A sites of the model used for rollouts (the old policy), where region capture hooks go."""
        ...

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates (LoRA tensors or a full small model)."""
        ...

    def soft_update(self, eta: float) -> None:
        """``old ← η·old + (1−η)·train`` on the trainable tensors."""
        ...

    def sync_old_from_train(self) -> None:
        """``old ← train`` (η = 0)."""
        ...

    def checkpoint_state(self) -> dict[str, Any]:
        """Train and old trainable tensors (CPU copies) for a bit-identical resume."""
        ...

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`checkpoint_state` returned."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance: adapter name, model config, weights id."""
        ...


def index_batch(tree: Any, idx: torch.Tensor) -> Any:
    """Select rows ``idx`` from every tensor leaf of a batch tree (non-tensor and ``Shared`` leaves pass through)."""
    if isinstance(tree, torch.Tensor):
        return tree.index_select(0, idx.to(tree.device))
    if isinstance(tree, dict):
        return {k: index_batch(v, idx) for k, v in tree.items()}
    if isinstance(tree, list):
        return [index_batch(v, idx) for v in tree]
    if isinstance(tree, tuple):
        return tuple(index_batch(v, idx) for v in tree)
    return tree


def cat_batch(trees: Sequence[Any]) -> Any:
    """Concatenate batch trees of identical structure along the batch dim (non-tensor leaves from the first)."""
    first = trees[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(list(trees), dim=0)
    if isinstance(first, dict):
        return {k: cat_batch([t[k] for t in trees]) for k in first}
    if isinstance(first, list):
        return [cat_batch([t[i] for t in trees]) for i in range(len(first))]
    if isinstance(first, tuple):
        return tuple(cat_batch([t[i] for t in trees]) for i in range(len(first)))
    return first


def cat_rollouts(rollouts: Iterable[Rollout]) -> Rollout:
    """Join rollout batches (same adapter, same shapes) into one."""
    rs = list(rollouts)
    if not rs:
        raise ValueError("no rollouts to concatenate")
    return Rollout(
        latents={k: torch.cat([r.latents[k] for r in rs], dim=0) for k in rs[0].latents},
        cond=cat_batch([r.cond for r in rs]),
        aux=cat_batch([r.aux for r in rs]),
        seeds=[s for r in rs for s in r.seeds],
        prompts=[p for r in rs for p in r.prompts],
    )


def soft_update_(old: Iterable[torch.Tensor], new: Iterable[torch.Tensor], eta: float) -> None:
    """In place ``old ← η·old + (1−η)·new`` (helper for adapters)."""
    with torch.no_grad():
        for o, n in zip(old, new, strict=True):
            o.mul_(eta).add_(n.detach().to(o.dtype), alpha=1.0 - eta)
