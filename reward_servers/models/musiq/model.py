"""MUSIQ (multi-scale image quality transformer) as pyiqa 0.1.10 implements it, SPAQ checkpoint layout.

Module attribute names equal the keys of ``musiq_spaq_ckpt-358bb6af.pth`` (``conv_root``, ``gn_root``,
``block1.{conv1,gn1,conv2,gn2,conv3,gn3,conv_proj,gn_proj}``, ``embedding``,
``transformer_encoder.{posembed_input.position_emb,scaleembed_input.scale_emb,cls,encoder_norm}``,
``transformer_encoder.transformer.encoderblock_<i>.{norm1,attention.{query,key,value,out},norm2,mlp.fc1,mlp.fc2}``,
``head``), so the file loads with strict=True (pyiqa strips a ``module.`` prefix first; so does this loader).

Numerics kept from the reference (VBench imaging_quality, §1.7): weight-standardised convolutions (unbiased
std, +1e-5) with TF SAME zero padding, GroupNorm eps 1e-4 (1e-6 at the root), LayerNorm eps 1e-6, exact GELU,
masked attention scores filled with -1e3 (not -inf), the CLS token without a position embedding, and the
SPAQ head's single output used as the MOS (num_class=1, roughly 0-100). The eval preprocessing
(``(x - 0.5) * 2`` and the multi-scale patches) is functional.musiq_patches; `MusiqNet.forward` takes its
tokens, `score_frames` takes [0, 1] frames.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.functional.musiq_patches import MUSIQ_HASH_GRID, MUSIQ_PATCH, musiq_input
from omninft.reward_servers.models._state_dict import (
    identify_family,
    load_family,
    load_strict,
    read_state_dict,
)
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec

FAMILY = "musiq_spaq"
# pyiqa's release asset; torch.hub's convention puts the first 8 hex digits of the file's sha256 in its name.
OFFICIAL_SHA256_PREFIX = "358bb6af"
OFFICIAL_WEIGHTS = WeightSpec(
    FAMILY,
    "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/musiq_spaq_ckpt-358bb6af.pth",
    sha256_prefix=OFFICIAL_SHA256_PREFIX,
    family="musiq",
)
PYIQA_VERSION = "0.1.10"  # the pyiqa whose MUSIQ (architecture and eval preprocessing) is reproduced
_RESNET_TOKEN_DIM = 64  # fixed in pyiqa's MUSIQ


@dataclass(frozen=True)
class MusiqConfig:
    """Transformer size of a MUSIQ; the ResNet stem, patch 32, 3 scales and the 10 x 10 hash grid are the contract."""

    hidden_size: int = 384
    mlp_dim: int = 1152
    num_heads: int = 6
    num_layers: int = 14
    num_scales: int = 3
    patch_size: int = MUSIQ_PATCH
    hash_grid: int = MUSIQ_HASH_GRID

    @staticmethod
    def official() -> MusiqConfig:
        """pyiqa's MUSIQ defaults, the SPAQ checkpoint's shape (num_class=1)."""
        return MusiqConfig()

    @staticmethod
    def tiny() -> MusiqConfig:
        """The same stem and input contract with a 32-wide, 2-layer, 2-head transformer."""
        return MusiqConfig(hidden_size=32, mlp_dim=64, num_heads=2, num_layers=2)


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow SAME zero padding (extra pixel at the bottom/right), as pyiqa's exact_padding_2d."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    pad_h = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pad_w = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))


class StdConv(nn.Conv2d):
    """Weight-standardised convolution with SAME padding (key ``weight``, no bias)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise the kernel per output channel, then convolve."""
        w = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
        w = w / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(_same_pad(x, self.kernel_size[0], self.stride[0]), w, None, self.stride)


class Bottleneck(nn.Module):
    """The single ResNet bottleneck of MUSIQ's stem (64 -> 256 channels, projection shortcut)."""

    def __init__(self, inplanes: int, outplanes: int) -> None:
        super().__init__()
        self.conv1 = StdConv(inplanes, inplanes, 1)
        self.gn1 = nn.GroupNorm(32, inplanes, eps=1e-4)
        self.conv2 = StdConv(inplanes, inplanes, 3)
        self.gn2 = nn.GroupNorm(32, inplanes, eps=1e-4)
        self.conv3 = StdConv(inplanes, outplanes, 1)
        self.gn3 = nn.GroupNorm(32, outplanes, eps=1e-4)
        self.conv_proj = StdConv(inplanes, outplanes, 1)
        self.gn_proj = nn.GroupNorm(32, outplanes, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(gn3(conv3(...)) + gn_proj(conv_proj(x)))."""
        identity = self.gn_proj(self.conv_proj(x))
        x = F.relu(self.gn1(self.conv1(x)))
        x = F.relu(self.gn2(self.conv2(x)))
        return F.relu(self.gn3(self.conv3(x)) + identity)


class MultiHeadAttention(nn.Module):
    """Self-attention with separate query/key/value/out projections and -1e3 masking."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`mask` (B, N) bool: a pair with either token masked gets score -1e3 before the softmax."""
        b, n, c = x.shape
        heads = self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, heads, c // heads).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        attn = (q @ k.transpose(-2, -1)) * self.scale
        pair = mask.reshape(b, 1, n, 1) & mask.reshape(b, 1, 1, n)
        attn = attn.masked_fill(~pair, -1e3).softmax(dim=-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, n, c))


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


class TransformerBlock(nn.Module):
    """Pre-LN block (keys norm1, attention, norm2, mlp)."""

    def __init__(self, cfg: MusiqConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.attention = MultiHeadAttention(cfg.hidden_size, cfg.num_heads)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.mlp = Mlp(cfg.hidden_size, cfg.mlp_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x + attention(norm1 x), then + mlp(norm2 x)."""
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class AddHashSpatialPositionEmbs(nn.Module):
    """Learned embedding per hashed grid cell (key ``position_emb``, (1, grid**2, D))."""

    def __init__(self, grid: int, dim: int) -> None:
        super().__init__()
        self.position_emb = nn.Parameter(torch.empty(1, grid * grid, dim))
        nn.init.normal_(self.position_emb, std=0.02)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Add the embedding of each token's hashed position."""
        return x + self.position_emb.squeeze(0)[positions.long()]


class AddScaleEmbs(nn.Module):
    """Learned embedding per scale (key ``scale_emb``, (num_scales, D))."""

    def __init__(self, num_scales: int, dim: int) -> None:
        super().__init__()
        self.scale_emb = nn.Parameter(torch.empty(num_scales, dim))
        nn.init.normal_(self.scale_emb, std=0.02)

    def forward(self, x: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """Add the embedding of each token's scale index."""
        return x + self.scale_emb[scales.long()]


class TransformerEncoder(nn.Module):
    """Position and scale embeddings, CLS token, blocks (``transformer.encoderblock_<i>``), final LN."""

    def __init__(self, cfg: MusiqConfig) -> None:
        super().__init__()
        self.posembed_input = AddHashSpatialPositionEmbs(cfg.hash_grid, cfg.hidden_size)
        self.scaleembed_input = AddScaleEmbs(cfg.num_scales, cfg.hidden_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.hidden_size))
        self.encoder_norm = nn.LayerNorm(cfg.hidden_size, eps=1e-6)
        self.transformer = nn.ModuleDict(
            {f"encoderblock_{i}": TransformerBlock(cfg) for i in range(cfg.num_layers)}
        )

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor, scales: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Encoded tokens, CLS first."""
        x = self.scaleembed_input(self.posembed_input(x, positions), scales)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        for block in self.transformer.values():
            x = block(x, mask)
        return self.encoder_norm(x)


class MusiqNet(nn.Module):
    """MUSIQ tokens (B, n, 3 * 32 * 32 + 3) from functional.musiq_patches -> MOS (B,)."""

    def __init__(self, cfg: MusiqConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or MusiqConfig.official()
        self.cfg = cfg
        token_patch = cfg.patch_size // 4
        self.conv_root = StdConv(3, _RESNET_TOKEN_DIM, 7, 2)
        self.gn_root = nn.GroupNorm(32, _RESNET_TOKEN_DIM, eps=1e-6)
        self.block1 = Bottleneck(_RESNET_TOKEN_DIM, _RESNET_TOKEN_DIM * 4)
        self.embedding = nn.Linear(_RESNET_TOKEN_DIM * 4 * token_patch**2, cfg.hidden_size)
        self.transformer_encoder = TransformerEncoder(cfg)
        self.head = nn.Linear(cfg.hidden_size, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Stem per patch, embedding, encoder, head on CLS: the MOS of each image."""
        b, n, _ = tokens.shape
        positions, scales, mask = tokens[:, :, -3], tokens[:, :, -2], tokens[:, :, -1].bool()
        p = self.cfg.patch_size
        x = tokens[:, :, :-3].reshape(-1, 3, p, p)
        x = F.relu(self.gn_root(self.conv_root(x)))
        x = F.max_pool2d(_same_pad(x, 3, 2), 3, 2)
        x = self.block1(x)
        x = x.permute(0, 2, 3, 1).reshape(b, n, -1)  # TensorFlow channel order
        x = self.transformer_encoder(self.embedding(x), positions, scales, mask)
        return self.head(x[:, 0]).reshape(b)


def score_frames(model: MusiqNet, frames01: torch.Tensor) -> torch.Tensor:
    """MOS (N,) of [0, 1] frames (N, 3, H, W) of one size, with pyiqa's eval preprocessing."""
    return model(musiq_input(frames01))


def build(cfg: MusiqConfig | None = None) -> MusiqNet:
    """A MusiqNet of `cfg` (default: official) with PyTorch's default initialisation."""
    return MusiqNet(cfg)


def load_official(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load ``musiq_spaq_ckpt-358bb6af.pth`` strictly, after pyiqa's ``module.`` prefix strip."""
    raw = read_state_dict(Path(path))
    sd = OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in raw.items())
    load_strict(model, sd, f"MUSIQ checkpoint {path}")


def _full() -> nn.Module:
    return build(MusiqConfig.official())


def _tiny() -> nn.Module:
    return build(MusiqConfig.tiny())


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[MusiqNet, WeightsIdentity]:
    """(MusiqNet in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
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
    assert isinstance(model, MusiqNet)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    return identify_family(
        FAMILY, weights, seed, tiny=_tiny, full=_full, cache_dir=cache_dir, official=OFFICIAL_WEIGHTS
    )
