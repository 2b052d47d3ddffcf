"""Cross-modal attention sites of diffusers' LTX-2 transformer, and the cheap V2A attention statistic (spec §4.5).

In ``LTX2VideoTransformerBlock.forward`` both directions are called as ``attn(query_stream, encoder_hidden_states=
kv_stream, query_rotary_emb=…, key_rotary_emb=…, attention_mask=…)``. The modulated K/V-side tensor is built for
that call alone, so rewriting the ``encoder_hidden_states`` kwarg in a forward-pre-hook scales exactly the gradient
that flows through this attention's K and V into the other stream (spec §3.3 (2)).

SDPA returns no attention weights, so the V2A statistic recomputes q and k from the hook's inputs (with QK-norm
and, by default, the temporal cross-modal RoPE carried in the kwargs) and reduces softmax(q·kᵀ/√d) at once to
head-averaged column sums, a few heads at a time: memory is one chunk × N_audio × N_video.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .base import CrossAttnSite

KV_KWARG = "encoder_hidden_states"


def _query_and_context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The query-stream input (first positional arg or ``hidden_states``) and the K/V-stream input of one call."""
    hidden = args[0] if args else kwargs["hidden_states"]
    context = kwargs.get(KV_KWARG)
    if context is None and len(args) > 1:
        context = args[1]
    if context is None:
        raise ValueError("cross-attention call without encoder_hidden_states: not an A2V/V2A site")
    return hidden, context


def _rope(attn: Any, x: torch.Tensor, freqs: Any) -> torch.Tensor:
    """Apply the module's RoPE flavour (interleaved or split) the way its processor does."""
    if freqs is None:
        return x
    # diffusers is imported on first use so that importing the adapter module stays cheap
    from diffusers.models.transformers.transformer_ltx2 import (
        apply_interleaved_rotary_emb,
        apply_split_rotary_emb,
    )

    if attn.rope_type == "interleaved":
        return apply_interleaved_rotary_emb(x, freqs)
    if attn.rope_type == "split":
        return apply_split_rotary_emb(x, freqs)
    raise ValueError(f"unsupported rope_type {attn.rope_type!r}")


def attention_queries_keys(
    attn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], use_rope: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head q (B, H, N_q, d) and k (B, H, N_k, d) exactly as ``LTX2AudioVideoAttnProcessor`` forms them."""
    hidden, context = _query_and_context(args, kwargs)
    q = attn.norm_q(attn.to_q(hidden))
    k = attn.norm_k(attn.to_k(context))
    if use_rope:
        q_freqs = kwargs.get("query_rotary_emb")
        k_freqs = kwargs.get("key_rotary_emb")
        if q_freqs is not None:
            k = _rope(attn, k, k_freqs if k_freqs is not None else q_freqs)
            q = _rope(attn, q, q_freqs)
    heads = attn.heads
    q = q.unflatten(2, (heads, -1)).transpose(1, 2)
    k = k.unflatten(2, (heads, -1)).transpose(1, 2)
    return q, k


def attention_probs(
    attn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], use_rope: bool = True
) -> torch.Tensor:
    """Full softmax(q·kᵀ/√d) map (B, H, N_q, N_k) in float32; for tests and small models only."""
    q, k = attention_queries_keys(attn, args, kwargs, use_rope)
    logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return logits.softmax(dim=-1)


def column_sum_scores(
    attn: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    use_rope: bool = True,
    head_chunk: int = 4,
    heads: Sequence[int] | None = None,
) -> torch.Tensor:
    """Head-averaged column sums Σ_i softmax_j(q_i·k_j/√d): (B, N_keys) float32, a few heads at a time.

    ``heads`` restricts the average to those heads (the logits/softmax of the others are never formed).
    """
    with torch.no_grad():
        q, k = attention_queries_keys(attn, args, kwargs, use_rope)
        if heads is not None:
            idx = torch.as_tensor(list(heads), dtype=torch.long, device=q.device)
            q, k = q.index_select(1, idx), k.index_select(1, idx)
        n_heads, scale, step = q.shape[1], 1.0 / math.sqrt(q.shape[-1]), max(1, head_chunk)
        total = torch.zeros(q.shape[0], k.shape[2], dtype=torch.float32, device=q.device)
        for h0 in range(0, n_heads, step):
            qh = q[:, h0 : h0 + step].float()
            kh = k[:, h0 : h0 + step].float()
            probs = torch.matmul(qh, kh.transpose(-1, -2)).mul_(scale).softmax(dim=-1)
            total += probs.sum(dim=(1, 2))
        return total / n_heads


def make_score_fn(
    use_rope: bool = True, head_chunk: int = 4, heads: Sequence[int] | None = None
) -> Callable[..., torch.Tensor]:
    """``ScoreFn`` for V2A sites: ``(module, args, kwargs, output) -> (B, N_video)`` column sums."""

    def score(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> torch.Tensor:
        return column_sum_scores(module, args, kwargs, use_rope=use_rope, head_chunk=head_chunk, heads=heads)

    return score


def cross_attn_sites(
    transformer: Any, use_rope: bool = True, head_chunk: int = 4, heads: Sequence[int] | None = None
) -> list[CrossAttnSite]:
    """One A2V and one V2A :class:`CrossAttnSite` per block of an ``LTX2VideoTransformer3DModel``."""
    score = make_score_fn(use_rope=use_rope, head_chunk=head_chunk, heads=heads)
    sites: list[CrossAttnSite] = []
    for idx, block in enumerate(transformer.transformer_blocks):
        a2v, v2a = block.audio_to_video_attn, block.video_to_audio_attn
        sites.append(
            CrossAttnSite(
                block_idx=idx,
                direction="a2v",
                module=a2v,
                kv_kwarg=KV_KWARG,
                kv_proj=(a2v.to_k, a2v.to_v),
                heads=a2v.heads,
            )
        )
        sites.append(
            CrossAttnSite(
                block_idx=idx,
                direction="v2a",
                module=v2a,
                kv_kwarg=KV_KWARG,
                kv_proj=(v2a.to_k, v2a.to_v),
                heads=v2a.heads,
                score_fn=score,
            )
        )
    return sites
