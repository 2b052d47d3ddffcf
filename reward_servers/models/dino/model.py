"""DINO ViT-B/16 (facebookresearch/dino ``dino_vitb16``): the CLS feature VBench's subject_consistency uses.

Module attribute names equal the keys of ``dino_vitbase16_pretrain.pth`` (``cls_token``, ``pos_embed``,
``patch_embed.proj.*``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``, ``norm.*``; no head:
the hub model has ``num_classes=0``), so the official file loads with strict=True. LayerNorm eps 1e-6, exact
GELU, qkv bias, attention as explicit softmax(q k^T * d^-1/2) v (the reference's op order).

The network takes any H x W that is a multiple of 16 (VBench feeds short side 224 with no crop, e.g.
224 x 398): the 14 x 14 patch position table is resized as the reference does, bicubic with
``scale_factor = ((H // 16 + 0.1) / 14, (W // 16 + 0.1) / 14)`` (the +0.1 and the scale-factor form decide
the sampling grid, so both are kept), and only when the patch count or the aspect differ from the table's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.models._state_dict import (
    identify_family,
    load_family,
    load_strict,
    read_state_dict,
)
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec

FAMILY = "dino"
# torch.hub's dino_vitb16 downloads this file (VBench's subject_consistency uses the hub copy, §12). No
# digest is published (the file name carries none), so the sha256 is recorded at fetch time, not pinned.
OFFICIAL_WEIGHTS = WeightSpec(
    FAMILY,
    "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    family="dino",
)


@dataclass(frozen=True)
class DinoConfig:
    """Width, depth and heads of a DINO ViT; patch 16 and the 224-px position table are the contract."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224
    in_chans: int = 3
    ln_eps: float = 1e-6

    @staticmethod
    def official() -> DinoConfig:
        """ViT-B/16 of dino_vitbase16_pretrain.pth (85,798,656 parameters)."""
        return DinoConfig()

    @staticmethod
    def tiny() -> DinoConfig:
        """Same topology and input contract (patch 16, 14 x 14 table), 32 wide, 2 blocks, 2 heads."""
        return DinoConfig(embed_dim=32, depth=2, num_heads=2)


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection (key ``proj``)."""

    def __init__(self, cfg: DinoConfig) -> None:
        super().__init__()
        self.patch_size = cfg.patch_size
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H/16 * W/16, D), row-major patches."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (keys ``qkv``, ``proj``)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax attention over all tokens."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's feed-forward."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block (no drop-path at inference)."""

    def __init__(self, cfg: DinoConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.attn = Attention(cfg.embed_dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.mlp = Mlp(cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + attn(norm1 x), then + mlp(norm2 x)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DinoViT(nn.Module):
    """pixels (B, 3, H, W), ImageNet-normalised, H and W multiples of 16 -> CLS feature (B, D) after the final LN."""

    def __init__(self, cfg: DinoConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DinoConfig.official()
        self.cfg = cfg
        grid = cfg.img_size // cfg.patch_size
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, cfg.embed_dim))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def position_table(self, n_patches: int, height: int, width: int) -> torch.Tensor:
        """Position embeddings for a height x width input (the reference's interpolate_pos_encoding)."""
        n = self.pos_embed.shape[1] - 1
        if n_patches == n and height == width:
            return self.pos_embed
        side = int(math.sqrt(n))
        dim = self.pos_embed.shape[-1]
        h0 = height // self.cfg.patch_size + 0.1
        w0 = width // self.cfg.patch_size + 0.1
        table = self.pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
        table = F.interpolate(table, scale_factor=(h0 / math.sqrt(n), w0 / math.sqrt(n)), mode="bicubic")
        if (table.shape[-2], table.shape[-1]) != (int(h0), int(w0)):
            raise ValueError(
                f"position table resized to {tuple(table.shape[-2:])}, expected {(int(h0), int(w0))}"
            )
        table = table.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((self.pos_embed[:, :1], table), dim=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """The 768-d CLS feature (unnormalised; VBench L2-normalises it)."""
        b, _, h, w = pixels.shape
        x = self.patch_embed(pixels)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        x = x + self.position_table(x.shape[1] - 1, int(h), int(w))
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]


def build(cfg: DinoConfig | None = None) -> DinoViT:
    """A DinoViT of `cfg` (default: official) with the reference's truncated-normal position/CLS init."""
    return DinoViT(cfg)


def load_official(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load ``dino_vitbase16_pretrain.pth`` (a plain state dict) into a full-size model, strictly."""
    load_strict(model, read_state_dict(Path(path)), f"DINO checkpoint {path}")


def _full() -> nn.Module:
    return build(DinoConfig.official())


def _tiny() -> nn.Module:
    return build(DinoConfig.tiny())


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[DinoViT, WeightsIdentity]:
    """(DinoViT in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
    model, ident = load_family(
        FAMILY,
        weights,
        seed,
        tiny=_tiny,
        full=_full,
        load_checkpoint=load_official,
        cache_dir=cache_dir,
        official=OFFICIAL_WEIGHTS,
    )
    assert isinstance(model, DinoViT)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    return identify_family(
        FAMILY, weights, seed, tiny=_tiny, full=_full, cache_dir=cache_dir, official=OFFICIAL_WEIGHTS
    )
