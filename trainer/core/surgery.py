"""Layer-wise gradient surgery on the audio K/V input of A2V cross-attention (spec §3.3 (2)).

The hook replaces the K/V input x of a block's A2V attention with ``x̃ = sg(x) + g·(x − sg(x))``: the forward
value is bit-identical (implemented as an identity autograd function), the gradient flowing back into the audio
stream through that attention is multiplied by the *kept fraction* g. The K/V projection weights still see the
unchanged value, so their own gradients are not scaled (``site="kv_input"``, the released behaviour). The
``kv_output`` variant scales the gradient at the projected K and V instead (the paper-summary form), which also
scales the projection weights' gradients.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from omninft.trainer.policies.base import CrossAttnSite

# Released schedule on LTX-2's 48 blocks, as (number of blocks, kept fraction) segments from block 0.
RELEASED_SEGMENTS: tuple[tuple[int, float], ...] = ((1, 0.0), (10, 0.1), (29, 1.0), (8, 0.3))


def expand_segments(segments: Sequence[tuple[int, float]], n_blocks: int) -> list[float]:
    """Per-block kept fractions for a model with ``n_blocks`` blocks from a segment schedule.

    On the reference depth (Σ counts) the segments are used as given. On another depth every segment whose
    fraction is not 1.0 gets ``max(1, round(count·n_blocks/ref))`` blocks, the 1.0 segments share what is left
    (proportionally), and when the model is too shallow segments are filled in order until the blocks run out.
    4 blocks → [0.0, 0.1, 1.0, 0.3]; 2 blocks → [0.0, 0.1].
    """
    if n_blocks <= 0:
        raise ValueError("n_blocks must be positive")
    ref = sum(c for c, _ in segments)
    if ref == n_blocks:
        return [g for c, g in segments for _ in range(c)]
    counts = [max(1, round(c * n_blocks / ref)) if g != 1.0 else 0 for c, g in segments]
    left = n_blocks - sum(counts)
    unity = [i for i, (_, g) in enumerate(segments) if g == 1.0]
    if left > 0 and unity:
        unity_ref = sum(segments[i][0] for i in unity)
        shares = [left * segments[i][0] / unity_ref for i in unity]
        alloc = [int(s) for s in shares]
        for j in sorted(range(len(unity)), key=lambda j: shares[j] - alloc[j], reverse=True)[
            : left - sum(alloc)
        ]:
            alloc[j] += 1
        for i, a in zip(unity, alloc, strict=True):
            counts[i] = a
    out: list[float] = []
    for (_, g), c in zip(segments, counts, strict=True):
        out.extend([g] * c)
    if len(out) < n_blocks:
        out.extend([1.0] * (n_blocks - len(out)))
    return out[:n_blocks]


@dataclass(frozen=True)
class SurgeryConfig:
    """Kept fraction per A2V block; ``per_block`` overrides ``segments`` when given."""

    enabled: bool = True
    segments: tuple[tuple[int, float], ...] = RELEASED_SEGMENTS
    per_block: tuple[float, ...] | None = None
    site: str = "kv_input"
    warmup_steps: int = 0

    def kept_fractions(self, n_blocks: int) -> list[float]:
        """Target kept fraction per block (before warm-up)."""
        if self.per_block is not None:
            if len(self.per_block) != n_blocks:
                raise ValueError(f"surgery.per_block has {len(self.per_block)} entries for {n_blocks} blocks")
            return [float(g) for g in self.per_block]
        return expand_segments(self.segments, n_blocks)


def warmed_up(g: float, step: int, warmup_steps: int) -> float:
    """Kept fraction at optimiser step ``step``: linear from 1.0 (no surgery) to g over ``warmup_steps``."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return g
    t = max(step, 0) / warmup_steps
    return 1.0 + (g - 1.0) * t


@dataclass
class GradRecorder:
    """Accumulates the gradient norm arriving at each hooked site and the part passed on (× g)."""

    arrived: dict[int, float] = field(default_factory=dict)
    kept: dict[int, float] = field(default_factory=dict)

    def add(self, block: int, norm: float, g: float) -> None:
        """Record one backward pass through a site."""
        self.arrived[block] = self.arrived.get(block, 0.0) + norm
        self.kept[block] = self.kept.get(block, 0.0) + g * norm

    def ratio(self) -> float:
        """Σ kept / Σ arrived over all sites: the fraction of the A2V → audio gradient mass that survives."""
        total = sum(self.arrived.values())
        return sum(self.kept.values()) / total if total > 0 else float("nan")

    def reset(self) -> None:
        """Forget everything recorded."""
        self.arrived.clear()
        self.kept.clear()


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by g (and optionally records its norm)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, g: float, block: int, recorder: GradRecorder | None
    ) -> torch.Tensor:
        ctx.g, ctx.block, ctx.recorder = g, block, recorder
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        if ctx.recorder is not None:
            ctx.recorder.add(ctx.block, float(grad.detach().to(torch.float64).norm()), ctx.g)
        return grad * ctx.g, None, None, None


def scale_grad(
    x: torch.Tensor, g: float, block: int = -1, recorder: GradRecorder | None = None
) -> torch.Tensor:
    """``sg(x) + g·(x − sg(x))`` with a bit-identical forward."""
    if not x.requires_grad:
        return x
    out: torch.Tensor = _ScaleGrad.apply(x, float(g), block, recorder)
    return out


class GradSurgery:
    """Installs the A2V K/V gradient-scaling hooks on an adapter's sites while :meth:`active` is entered."""

    def __init__(self, sites: Sequence[CrossAttnSite], n_blocks: int, config: SurgeryConfig) -> None:
        self.config = config
        self.sites = [s for s in sites if s.direction == "a2v"]
        self.targets = config.kept_fractions(n_blocks)
        self.recorder = GradRecorder()
        if config.site not in ("kv_input", "kv_output"):
            raise ValueError(f"surgery.site must be kv_input or kv_output, got {config.site!r}")
        for s in self.sites:
            if not 0 <= s.block_idx < n_blocks:
                raise ValueError(f"site block {s.block_idx} outside 0..{n_blocks - 1}")
            if config.site == "kv_input" and s.kv_kwarg is None and s.kv_arg_index is None:
                raise ValueError(f"A2V site of block {s.block_idx} names no K/V input")
            if config.site == "kv_output" and not s.kv_proj:
                raise ValueError(f"A2V site of block {s.block_idx} lists no K/V projections")

    def fractions(self, step: int) -> list[float]:
        """Kept fraction per block at optimiser step ``step`` (warm-up applied)."""
        return [warmed_up(g, step, self.config.warmup_steps) for g in self.targets]

    def _pre_hook(self, site: CrossAttnSite, g: float) -> Any:
        def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if site.kv_kwarg is not None and site.kv_kwarg in kwargs:
                kwargs = dict(kwargs)
                kwargs[site.kv_kwarg] = scale_grad(kwargs[site.kv_kwarg], g, site.block_idx, self.recorder)
                return args, kwargs
            idx = site.kv_arg_index
            if idx is None or idx >= len(args):
                raise RuntimeError(
                    f"A2V block {site.block_idx}: K/V input {site.kv_kwarg or idx!r} not passed"
                )
            new = list(args)
            new[idx] = scale_grad(new[idx], g, site.block_idx, self.recorder)
            return tuple(new), kwargs

        return hook

    def _out_hook(self, site: CrossAttnSite, g: float) -> Any:
        def hook(module: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            return scale_grad(output, g, site.block_idx, self.recorder)

        return hook

    @contextmanager
    def active(self, step: int = 0, record: bool = True) -> Iterator[list[float]]:
        """Hooks installed for the duration (training forwards only); yields the per-block fractions in use."""
        fr = self.fractions(step)
        handles: list[RemovableHandle] = []
        recorder_on = self.recorder if record else None
        saved = self.recorder
        self.recorder = recorder_on  # type: ignore[assignment]
        try:
            if self.config.enabled:
                for s in self.sites:
                    g = fr[s.block_idx]
                    if g == 1.0 and not record:
                        continue
                    if self.config.site == "kv_input":
                        handles.append(
                            s.module.register_forward_pre_hook(self._pre_hook(s, g), with_kwargs=True)
                        )
                    else:
                        handles.extend(p.register_forward_hook(self._out_hook(s, g)) for p in s.kv_proj)
            yield fr
        finally:
            for h in handles:
                h.remove()
            self.recorder = saved
