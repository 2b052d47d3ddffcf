"""The two Synchformer feature extractors: MotionFormer (video segments) and AST (audio segments)."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.models.synchformer.config import SynchformerConfig
from omninft.reward_servers.models.synchformer.layers import ClsAggregationLayer, DividedSpaceTimeBlock


class PatchEmbed2D(nn.Module):
    """The checkpoint's unused 2-D patch embedding (kept so the official state dict loads strictly)."""

    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class PatchEmbed3D(nn.Module):
    """Tubelet embedding: Conv3d over (tubelet x patch x patch) blocks."""

    def __init__(self, dim: int, patch: int, tubelet: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(3, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, H, W) -> (N, t·h·w, D), time-major token order."""
        return self.proj(x).flatten(2).transpose(1, 2)


class MotionFormer(nn.Module):
    """Divided space-time ViT over one 16-frame segment, pooled per time step by a CLS encoder layer."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        d = cfg.video_dim
        gh, gw = cfg.grid
        self.cfg = cfg
        self.patch_embed = PatchEmbed2D(d, cfg.patch_size)
        self.patch_embed_3d = PatchEmbed3D(d, cfg.patch_size, cfg.tubelet)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw + 1, d))
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.video_tokens, d))
        self.blocks = nn.ModuleList(
            DividedSpaceTimeBlock(d, cfg.video_heads, cfg.video_mlp_ratio) for _ in range(cfg.video_depth)
        )
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.spatial_attn_agg = ClsAggregationLayer(d, cfg.video_heads, d * cfg.video_mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segments (N, 16, 3, 224, 224) in [-1, 1] -> per-time-step features (N, 8, D)."""
        n = x.shape[0]
        frames = self.cfg.video_tokens
        patches = self.pos_embed.shape[1] - 1
        tokens = self.patch_embed_3d(x.transpose(1, 2))  # (N, frames·patches, D)
        space = self.pos_embed[:, 1:].repeat(1, frames, 1)
        time = self.temp_embed.repeat_interleave(patches, dim=1)
        tokens = tokens + space + time
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(n, -1, -1)
        h = torch.cat((cls, tokens), dim=1)
        for blk in self.blocks:
            h = blk(h, frames, patches)
        h = self.norm(h[:, 1:])  # (N, frames·patches, D)
        pooled = self.spatial_attn_agg(h.reshape(n * frames, patches, h.shape[-1]))
        return pooled.reshape(n, frames, -1)


# transformers 5 AST parameter names <-> the names in the Synchformer checkpoint (transformers 4 layout)
_AST_NAME_PAIRS = (
    ("attention.q_proj", "attention.attention.query"),
    ("attention.k_proj", "attention.attention.key"),
    ("attention.v_proj", "attention.attention.value"),
    ("attention.o_proj", "attention.output.dense"),
    ("mlp.fc1", "intermediate.dense"),
    ("mlp.fc2", "output.dense"),
    ("layernorm_before", "layernorm_before"),
    ("layernorm_after", "layernorm_after"),
)
_TO_CKPT = [
    (re.compile(rf"^layers\.(\d+)\.{re.escape(new)}\."), rf"encoder.layer.\1.{old}.")
    for new, old in _AST_NAME_PAIRS
]
_FROM_CKPT = [
    (re.compile(rf"^encoder\.layer\.(\d+)\.{re.escape(old)}\."), rf"layers.\1.{new}.")
    for new, old in _AST_NAME_PAIRS
]


def _rename_prefixed(
    sd: MutableMapping[str, Any], prefix: str, rules: list[tuple[re.Pattern[str], str]]
) -> None:
    """Rename the keys of sd under prefix with the first matching (pattern, replacement) rule, in place."""
    for key in [k for k in sd if k.startswith(prefix)]:
        rest = key[len(prefix) :]
        for pattern, repl in rules:
            new, count = pattern.subn(repl, rest)
            if count:
                sd[prefix + new] = sd.pop(key)
                break


def ast_config(cfg: SynchformerConfig) -> Any:
    """The transformers ASTConfig of the audio trunk (AudioSet AST geometry, 66 spectrogram frames)."""
    from transformers import ASTConfig

    return ASTConfig(
        hidden_size=cfg.audio_dim,
        num_hidden_layers=cfg.audio_depth,
        num_attention_heads=cfg.audio_heads,
        intermediate_size=cfg.audio_ffn,
        patch_size=cfg.audio_patch,
        frequency_stride=cfg.audio_stride,
        time_stride=cfg.audio_stride,
        num_mel_bins=cfg.n_mels,
        max_length=cfg.spec_frames,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_eps=1e-12,
    )


class ASTFeatureExtractor(nn.Module):
    """transformers ASTModel (keys exposed under the checkpoint's transformers-4 names) + frequency pooling."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        from transformers import ASTModel

        self.cfg = cfg
        self.ast = ASTModel(ast_config(cfg))
        self.ast.register_state_dict_post_hook(_ast_to_checkpoint_names)
        self.ast.register_load_state_dict_pre_hook(_ast_from_checkpoint_names)
        self.freq_attn_agg = ClsAggregationLayer(cfg.audio_dim, cfg.audio_heads, cfg.audio_ffn)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised log-mels (N, 1, 128, 66) -> per-time-patch features (N, 6, D)."""
        n = mel.shape[0]
        f, t = self.cfg.audio_grid
        hidden = self.ast(input_values=mel[:, 0].transpose(1, 2)).last_hidden_state[:, 2:]  # (N, f·t, D)
        per_time = hidden.reshape(n, f, t, -1).transpose(1, 2).reshape(n * t, f, hidden.shape[-1])
        return self.freq_attn_agg(per_time).reshape(n, t, -1)


def _ast_to_checkpoint_names(
    module: nn.Module, sd: MutableMapping[str, Any], prefix: str, _meta: Any
) -> None:
    """state_dict hook: report the AST weights under the checkpoint's names."""
    _rename_prefixed(sd, prefix, _TO_CKPT)


def _ast_from_checkpoint_names(module: nn.Module, sd: MutableMapping[str, Any], prefix: str, *_: Any) -> None:
    """load_state_dict pre-hook: map the checkpoint's names back to transformers 5 parameter names."""
    _rename_prefixed(sd, prefix, _FROM_CKPT)
