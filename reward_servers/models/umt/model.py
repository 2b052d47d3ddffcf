"""UMT ViT-L/16 video classifier (Kinetics-400), the model of VBench's human_action (specs/vbench.md §1.10).

Written for this project from the architecture of `vbench/third_party/umt/models/modeling_finetune.py`
(`vit_large_patch16_224(num_classes=400, all_frames=16, tubelet_size=1, use_mean_pooling=True)`). Module
attribute names reproduce the checkpoint layout:
  patch_embed.proj.{weight,bias}  pos_embed
  blocks.<i>.{norm1,attn.qkv.weight,attn.q_bias,attn.v_bias,attn.proj,norm2,mlp.fc1,mlp.fc2}
  fc_norm.{weight,bias}  head.{weight,bias}
Each frame is cut into 16x16 patches by a (1, 16, 16) Conv3d (tubelet 1), a fixed sinusoidal position table
is added, 24 pre-norm blocks run (LayerNorm eps 1e-6, exact GELU, q/v biases with a zero k bias), and the
mean of all tokens goes through fc_norm and the 400-way head. There is no class token.

The position table is the reference's `get_sinusoid_encoding_table`: a 1568 x D table laid out as the
pre-training grid (8 frames x 14 x 14), resized bicubically in space when the patch grid differs and linearly
in time to the clip length. Whenever the token count differs from 1568 (always, for 16 frames) the reference
turns it into a Parameter, so it is the `pos_embed` entry of the state dict; its initial value is that table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_PRETRAIN_FRAMES, _PRETRAIN_GRID = 8, 14  # the grid the reference's table is laid out on (hard-coded there)


@dataclass(frozen=True)
class UMTConfig:
    """Sizes of the UMT classifier; `official()` is l16_ptk710_ftk710_ftk400_f16_res224, `tiny()` small."""

    image_size: int = 224
    patch_size: int = 16
    num_frames: int = 16
    tubelet_size: int = 1
    width: int = 1024
    depth: int = 24
    heads: int = 16
    mlp_ratio: float = 4.0
    num_classes: int = 400
    ln_eps: float = 1e-6

    @classmethod
    def official(cls) -> UMTConfig:
        """ViT-L/16, 16 frames of 224^2, tubelet 1, mean pooling, 400 Kinetics classes."""
        return cls()

    @classmethod
    def tiny(cls) -> UMTConfig:
        """Small width and depth on 32^2 frames (2 x 2 patches); the official 16 frames and 400 classes."""
        return replace(cls(), image_size=32, width=32, depth=2, heads=2)

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        """Tokens per clip."""
        return self.grid**2 * (self.num_frames // self.tubelet_size)


def sinusoid_table(n_position: int, dim: int) -> np.ndarray:
    """The (n_position, dim) float64 table: sin of pos / 10000^(2(j//2)/dim) on even j, cos on odd j."""
    denom = np.array([np.power(10000, 2 * (j // 2) / dim) for j in range(dim)], dtype=np.float64)
    table = np.arange(n_position, dtype=np.float64)[:, None] / denom[None, :]
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return table


def umt_position_table(cfg: UMTConfig) -> torch.Tensor:
    """(1, num_tokens, width) float32: the pre-training table resized to the clip's grid and frame count."""
    pre_n = _PRETRAIN_FRAMES * _PRETRAIN_GRID**2  # 1568, the reference's value for patch size 16
    c = cfg.width
    frames = cfg.num_frames // cfg.tubelet_size
    table = torch.tensor(sinusoid_table(pre_n, c), dtype=torch.float).unsqueeze(0)
    if cfg.num_tokens // frames * _PRETRAIN_FRAMES != pre_n:
        p, new_p = _PRETRAIN_GRID, int((cfg.num_tokens // frames) ** 0.5)
        t = table.reshape(-1, _PRETRAIN_FRAMES, p, p, c).reshape(-1, p, p, c).permute(0, 3, 1, 2)
        t = F.interpolate(t, size=(new_p, new_p), mode="bicubic", align_corners=False)
        table = t.permute(0, 2, 3, 1).reshape(-1, _PRETRAIN_FRAMES, new_p, new_p, c).flatten(1, 3)
    if frames != _PRETRAIN_FRAMES:
        p = int((cfg.num_tokens // frames) ** 0.5)
        t = (
            table.reshape(-1, _PRETRAIN_FRAMES, p, p, c)
            .permute(0, 2, 3, 4, 1)
            .reshape(-1, c, _PRETRAIN_FRAMES)
        )
        t = F.interpolate(t, size=frames, mode="linear")
        table = t.reshape(1, p, p, c, frames).permute(0, 4, 1, 2, 3).flatten(1, 3)
    return table.contiguous()


class Attention(nn.Module):
    """Multi-head self-attention with a bias-free qkv Linear plus learned q and v biases (k bias is zero)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled q, softmax(q k^T) v, output projection."""
        b, n, _ = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    """fc1, exact GELU, fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two linear layers with GELU between."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (no layer scale: the reference's init_values is 0)."""

    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.attn = Attention(cfg.width, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.mlp = Mlp(cfg.width, int(cfg.width * cfg.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + attn(norm1(x)), then x + mlp(norm2(x))."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """(B, 3, T, H, W) -> (B, T' * h * w, width) tokens, time-major (keys `proj.*`)."""

    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        k = (cfg.tubelet_size, cfg.patch_size, cfg.patch_size)
        self.image_size = cfg.image_size
        self.proj = nn.Conv3d(3, cfg.width, kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patchify; the frame size must be the configured one (the reference asserts it)."""
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"UMT takes {self.image_size}x{self.image_size} frames, got {tuple(x.shape[-2:])}"
            )
        return self.proj(x).flatten(2).transpose(1, 2)


class UMTClassifier(nn.Module):
    """clip (B, 3, T, H, W) ImageNet-normalised -> Kinetics logits (B, num_classes)."""

    def __init__(self, cfg: UMTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or UMTConfig.official()
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(umt_position_table(cfg))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.fc_norm = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.head = nn.Linear(cfg.width, cfg.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """Truncated-normal linears (std 0.02) and a 1e-3-scaled head, as the reference initialises."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.head.weight.mul_(1e-3)

    def features(self, clip: torch.Tensor) -> torch.Tensor:
        """fc_norm(mean of the last block's tokens): (B, width)."""
        x = self.patch_embed(clip)
        x = x + self.pos_embed.detach().to(x.dtype)  # the reference detaches it: never trained
        for block in self.blocks:
            x = block(x)
        return self.fc_norm(x.mean(1))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Kinetics logits (apply sigmoid for VBench's rule, not softmax)."""
        return self.head(self.features(clip))


def build(cfg: UMTConfig | None = None) -> UMTClassifier:
    """A UMTClassifier of `cfg` (default: official), randomly initialised, in eval mode."""
    return UMTClassifier(cfg).eval()


class UMTCore(nn.Module):
    """Exportable graph: clip (B, 3, T, H, W) float32 -> sigmoid probabilities (B, num_classes)."""

    def __init__(self, model: UMTClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """sigmoid(logits), the scores VBench thresholds."""
        return torch.sigmoid(self.model(clip))
