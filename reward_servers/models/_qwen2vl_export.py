"""Exportable graphs of the Qwen2-VL reward models (VideoAlign, HPSv3): a vision graph and a text+head graph.

The eager reward forward (``_qwen2vl_reward.RewardCore``) has data-dependent shapes: the vision tower derives
its rotary positions and its per-frame attention blocks from ``grid_thw`` with Python loops, visual features
are scattered into the placeholder positions with ``masked_scatter``, and the reward tokens are found with a
boolean index. Split at those points, every part has static control flow:

- ``vision``: patch rows of one visual input grouped per temporal step, (T, S, D) with S = h * w patches, and
  their (h, w) rotary positions (T, S, 2) -> merged features (T, S / merge**2, hidden). Vision attention is
  block-diagonal per temporal step in Qwen2-VL (``cu_seqlens``), so the T steps are simply the batch axis.
- ``text``: token ids and attention mask (B, L), the visual features already placed at their placeholder
  positions (B, L, hidden; zeros elsewhere) and the positions of the reward tokens (B, n) -> rewards
  (B, n, head outputs). The causal + padding mask is built in the graph, so transformers' mask helpers (which
  do not trace) are bypassed; positions stay the plain 0..L-1 of the upstream reward forward.

The glue between the two (positions, scatter, reward-token positions) is numpy in ``run_split``. Both graphs
export in float32 only: ONNX Runtime's CPU kernels have no bfloat16 matmul.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.models._qwen2vl_reward import Qwen2VLRewardModel, RewardInput, TokenIds

GRAPHS = ("vision", "text")


def vision_positions(grid_thw: tuple[int, int, int], merge_size: int) -> np.ndarray:
    """(T, h*w, 2) int64 rotary (row, column) of each patch, in Qwen2-VL's merge-block-major patch order."""
    t, h, w = (int(v) for v in grid_thw)
    m = merge_size
    grid_rows, grid_cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    blocks = (h // m, m, w // m, m)
    rows = grid_rows.reshape(blocks).transpose(0, 2, 1, 3).reshape(-1)
    cols = grid_cols.reshape(blocks).transpose(0, 2, 1, 3).reshape(-1)
    one = np.stack([rows, cols], axis=-1).astype(np.int64)
    return np.broadcast_to(one, (t, *one.shape)).copy()


class VisionCore(nn.Module):
    """The Qwen2-VL vision tower over per-temporal-step patch groups (exportable: no loops over data)."""

    def __init__(self, model: Qwen2VLRewardModel) -> None:
        super().__init__()
        self.visual = model.model.visual

    def forward(self, pixel_values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """pixel_values (T, S, D), positions (T, S, 2) -> merged features (T, S / merge**2, hidden)."""
        from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

        vis = self.visual
        t, s = pixel_values.shape[0], pixel_values.shape[1]
        x = vis.patch_embed(pixel_values.reshape(t * s, -1))
        cos, sin = vis.rotary_pos_emb(x, positions.reshape(t * s, 2))
        cos, sin = cos.reshape(t, s, -1), sin.reshape(t, s, -1)
        x = x.reshape(t, s, -1)
        for blk in vis.blocks:
            attn = blk.attn
            qkv = (
                attn.qkv(blk.norm1(x)).reshape(t, s, 3, attn.num_heads, attn.head_dim).permute(2, 0, 1, 3, 4)
            )
            q, k = apply_rotary_pos_emb_vision(qkv[0], qkv[1], cos, sin)
            out = nn.functional.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), qkv[2].transpose(1, 2), scale=attn.scaling
            )
            x = x + attn.proj(out.transpose(1, 2).reshape(t, s, -1))
            x = x + blk.mlp(blk.norm2(x))
        merged = vis.merger(x.reshape(t * s, -1))
        return merged.reshape(t, -1, merged.shape[-1]).float()


class TextRewardCore(nn.Module):
    """Token embeddings with visual features substituted, the causal text decoder, the head at the reward tokens."""

    def __init__(self, model: Qwen2VLRewardModel, visual_token_id: int) -> None:
        super().__init__()
        self.reward = model
        self.visual_token_id = int(visual_token_id)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        visual_embeds: torch.Tensor,
        special_positions: torch.Tensor,
    ) -> torch.Tensor:
        """(B, L) ids and mask, (B, L, hidden) placed visual features, (B, n) reward-token positions -> (B, n, out)."""
        lm = self.reward.model.language_model
        embeds = lm.embed_tokens(input_ids)
        is_visual = (input_ids == self.visual_token_id).unsqueeze(-1)
        embeds = torch.where(is_visual, visual_embeds.to(embeds.dtype), embeds)
        length = input_ids.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
        mask = torch.zeros(allowed.shape, dtype=embeds.dtype, device=embeds.device)
        mask = mask.masked_fill(~allowed, torch.finfo(embeds.dtype).min)
        hidden = lm(
            inputs_embeds=embeds, attention_mask={"full_attention": mask}, use_cache=False
        ).last_hidden_state
        index = special_positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        pooled = torch.gather(hidden, 1, index)
        if self.reward.head_dtype is not None:
            pooled = pooled.to(self.reward.head_dtype)
        return self.reward.rm_head(pooled).float()


def split_graphs(model: Qwen2VLRewardModel, ids: TokenIds, *, merge_size: int = 2) -> dict[str, GraphSpec]:
    """The "vision" and "text" graphs of a float32 reward model, with example inputs for export and checks."""
    if next(model.parameters()).dtype != torch.float32:
        raise ValueError(
            "the exported Qwen2-VL reward graphs are float32 only (load the model with dtype float32)"
        )
    vcfg = model.config.vision_config
    patch_dim = vcfg.in_channels * vcfg.temporal_patch_size * vcfg.patch_size**2
    hidden = model.config.text_config.hidden_size
    vocab = model.config.text_config.vocab_size
    rng = np.random.default_rng(0)
    grid = (2, 4, 4)  # two temporal steps of a 4 x 4 patch grid
    positions = vision_positions(grid, merge_size)
    length, n_special = 24, len(ids.special)
    input_ids = rng.integers(0, vocab, size=(2, length)).astype(np.int64)
    # Reward tokens in the first half, so the check's halved sequence length keeps them inside.
    special = np.stack([np.arange(length // 2 - n_special, length // 2)] * 2).astype(np.int64)
    return {
        "vision": GraphSpec(
            module=VisionCore(model).eval(),
            input_names=("pixel_values", "positions"),
            output_names=("features",),
            example_inputs={
                "pixel_values": rng.standard_normal((grid[0], grid[1] * grid[2], patch_dim)).astype(
                    np.float32
                ),
                "positions": positions,
            },
            dynamic_axes={
                "pixel_values": {1: "patches"},
                "positions": {1: "patches"},
                "features": {1: "merged"},
            },
        ),
        "text": GraphSpec(
            module=TextRewardCore(model, ids.visual).eval(),
            input_names=("input_ids", "attention_mask", "visual_embeds", "special_positions"),
            output_names=("rewards",),
            example_inputs={
                "input_ids": input_ids,
                "attention_mask": np.ones((2, length), dtype=np.int64),
                "visual_embeds": rng.standard_normal((2, length, hidden)).astype(np.float32),
                "special_positions": special,
            },
            dynamic_axes={"input_ids": {1: "seq"}, "attention_mask": {1: "seq"}, "visual_embeds": {1: "seq"}},
        ),
    }


def text_inputs(item: RewardInput, features: np.ndarray, ids: TokenIds) -> dict[str, np.ndarray]:
    """The text graph's inputs (batch of one) for a sample and its merged visual features (N, hidden)."""
    input_ids = item.input_ids.astype(np.int64)
    placed = np.zeros((1, input_ids.shape[0], features.shape[-1]), dtype=np.float32)
    visual_at = np.flatnonzero(input_ids == ids.visual)
    if visual_at.shape[0] != features.shape[0]:
        raise ValueError(f"{visual_at.shape[0]} visual placeholders for {features.shape[0]} visual features")
    placed[0, visual_at] = features
    special_at = np.flatnonzero(np.isin(input_ids, ids.special))
    if special_at.shape[0] != len(ids.special):
        raise ValueError(f"{special_at.shape[0]} reward tokens in the prompt, expected {len(ids.special)}")
    return {
        "input_ids": input_ids[None],
        "attention_mask": np.ones((1, input_ids.shape[0]), dtype=np.int64),
        "visual_embeds": placed,
        "special_positions": special_at[None].astype(np.int64),
    }


def run_split(
    backend: Any, items: Sequence[RewardInput], ids: TokenIds, *, merge_size: int = 2
) -> np.ndarray:
    """Rewards (len(items), n_special, out) through the "vision" and "text" graphs, one sample per call.

    One sample per call, as ``_qwen2vl_reward.run_reward``: a sample's reward never depends on its batch-mates.
    """
    parts = []
    for item in items:
        t, h, w = item.grid_thw
        pixels = np.ascontiguousarray(item.pixel_values, dtype=np.float32).reshape(t, h * w, -1)
        vision = backend.run(
            "vision", {"pixel_values": pixels, "positions": vision_positions(item.grid_thw, merge_size)}
        )
        features = np.asarray(vision["features"], dtype=np.float32).reshape(-1, vision["features"].shape[-1])
        out = backend.run("text", text_inputs(item, features, ids))
        parts.append(np.asarray(out["rewards"], dtype=np.float32))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
