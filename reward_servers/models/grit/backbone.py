"""GRiT's ViTDet-style ViT backbone and its simple feature pyramid (strides 8..128).

Layout of `backbone.bottom_up.*` (the ViT) and `backbone.fpn_*` / `backbone.top_block.*` (the pyramid) in
`grit_b_densecap_objectdet.pth`. Facts reproduced from GRiT's `grit/modeling/backbone/{vit,utils}.py`:
- windowed blocks attend inside zero-padded 14x14 windows, global blocks (2, 5, 8, 11) over the whole map;
- decomposed relative positions (MViTv2) from unscaled queries; tables sized for a 1024 px input
  (127 rows) in global blocks and 27 rows in windowed ones, linearly resized when the map differs;
- the MAE absolute positions (14x14 plus a class-token slot, dropped) are bicubically resized to the map;
- LayerNorm eps 1e-6 in the blocks, exact (erf) GELU;
- pyramid: stride 8 from a 2x2 transposed conv, stride 16 as is, stride 32 from a 2x2 max-pool, each
  through 1x1 conv + LayerNorm + 3x3 conv + LayerNorm (channels-last LayerNorm, eps 1e-5, no bias in the
  convs); p6 = conv3x3/2(p5), p7 = conv3x3/2(relu(p6)) (CenterNet2's LastLevelP6P7_P5).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.models.grit.config import GRiTConfig


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B * nW, window, window, C), zero-padding H and W up to multiples of window."""
    b, h, w, c = x.shape
    pad_h = (window - h % window) % window
    pad_w = (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window: int, padded: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of window_partition, dropping the padding."""
    hp, wp = padded
    h, w = hw
    b = windows.shape[0] // (hp * wp // window // window)
    x = windows.view(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, :h, :w, :].contiguous()


def relative_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """(q_size, k_size, C) embeddings of the relative offsets, the table linearly resized if needed."""
    max_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_dist:
        rel_pos = F.interpolate(rel_pos.t()[None], size=max_dist, mode="linear")[0].t()
    q = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    rel = (q - k) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[rel.long()]


def absolute_positions(pos_embed: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(1, 1 + n*n, C) MAE table -> (1, H, W, C): class slot dropped, bicubic resize if the grid differs."""
    table = pos_embed[:, 1:]
    size = int(math.sqrt(table.shape[1]))
    grid = table.reshape(1, size, size, -1)
    if (size, size) == hw:
        return grid
    resized = F.interpolate(grid.permute(0, 3, 1, 2), size=hw, mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1)


class Attention(nn.Module):
    """Multi-head self-attention over a (B, H, W, C) map with decomposed relative positions."""

    def __init__(self, dim: int, heads: int, rel_size: int) -> None:
        super().__init__()
        self.heads = heads
        head_dim = dim // heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_size - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_size - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention with the additive relative-position bias of the reference."""
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.heads, h * w, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        rh = relative_table(h, h, self.rel_pos_h)
        rw = relative_table(w, w, self.rel_pos_w)
        rq = q.reshape(b * self.heads, h, w, -1)
        rel_h = torch.einsum("bhwc,hkc->bhwk", rq, rh)
        rel_w = torch.einsum("bhwc,wkc->bhwk", rq, rw)
        attn = (attn.view(-1, h, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).view(
            -1, h * w, h * w
        )
        out = (
            (attn.softmax(dim=-1) @ v)
            .view(b, self.heads, h, w, -1)
            .permute(0, 2, 3, 1, 4)
            .reshape(b, h, w, -1)
        )
        return self.proj(out)


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2 (timm Mlp key names)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The two-layer perceptron."""
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block; window > 0 makes it a windowed-attention block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, window: int, map_size: int) -> None:
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, window if window > 0 else map_size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + attn(norm1 x) (inside windows if windowed), then x + mlp(norm2 x)."""
        shortcut = x
        x = self.norm1(x)
        if self.window > 0:
            h, w = x.shape[1], x.shape[2]
            x, padded = window_partition(x, self.window)
            x = window_unpartition(self.attn(x), self.window, padded, (h, w))
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection to a channels-last map."""

    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H/p, W/p, C)."""
        return self.proj(x).permute(0, 2, 3, 1)


class ViT(nn.Module):
    """Plain ViT: patch embedding + resized absolute positions + windowed/global blocks, stride 16 output."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.embed_dim)
        n = cfg.pretrain_img_size // cfg.patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, n * n + 1, cfg.embed_dim))
        map_size = cfg.img_size // cfg.patch_size
        self.blocks = nn.ModuleList(
            Block(
                cfg.embed_dim,
                cfg.num_heads,
                cfg.mlp_ratio,
                0 if i in cfg.global_blocks else cfg.window_size,
                map_size,
            )
            for i in range(cfg.depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16)."""
        x = self.patch_embed(x)
        x = x + absolute_positions(self.pos_embed, (x.shape[1], x.shape[2]))
        for blk in self.blocks:
            x = blk(x)
        return x.permute(0, 3, 1, 2)


def _channels_last_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class TopBlock(nn.Module):
    """p6 = conv(p5), p7 = conv(relu(p6)), both 3x3 stride 2 (LastLevelP6P7_P5)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(channels, channels, 3, 2, 1)
        self.p7 = nn.Conv2d(channels, channels, 3, 2, 1)

    def forward(self, p5: torch.Tensor) -> list[torch.Tensor]:
        """[p6, p7]."""
        p6 = self.p6(p5)
        return [p6, self.p7(F.relu(p6))]


class ViTFPN(nn.Module):
    """Backbone + simple pyramid: image (B, 3, H, W), H and W multiples of 32 -> [p3, p4, p5, p6, p7]."""

    size_divisibility = 32

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        d, c = cfg.embed_dim, cfg.fpn_channels
        self.bottom_up = ViT(cfg)
        self.top_block = TopBlock(c)
        self.maxpool = nn.MaxPool2d(2, stride=2)
        self.fpn_stride_16_8 = nn.ConvTranspose2d(d, d, 2, stride=2, bias=False)
        for s in (8, 16, 32):
            self.add_module(f"fpn_stride{s}_conv1", nn.Conv2d(d, c, 1, bias=False))
            self.add_module(f"fpn_stride{s}_norm1", nn.LayerNorm(c))
            self.add_module(f"fpn_stride{s}_conv2", nn.Conv2d(c, c, 3, padding=1, bias=False))
            self.add_module(f"fpn_stride{s}_norm2", nn.LayerNorm(c))

    def _level(self, stride: int, x: torch.Tensor) -> torch.Tensor:
        conv1, norm1 = getattr(self, f"fpn_stride{stride}_conv1"), getattr(self, f"fpn_stride{stride}_norm1")
        conv2, norm2 = getattr(self, f"fpn_stride{stride}_conv2"), getattr(self, f"fpn_stride{stride}_norm2")
        return _channels_last_norm(norm2, conv2(_channels_last_norm(norm1, conv1(x))))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Five maps at strides 8, 16, 32, 64, 128."""
        feat = self.bottom_up(x)
        p3 = self._level(8, self.fpn_stride_16_8(feat))
        p4 = self._level(16, feat)
        p5 = self._level(32, self.maxpool(feat))
        return [p3, p4, p5, *self.top_block(p5)]
