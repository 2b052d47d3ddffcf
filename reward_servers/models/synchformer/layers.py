"""Building blocks shared by the Synchformer streams: divided space-time attention, CLS aggregation layer.

Module attribute names follow the official state dict (specs/models.md §2.1) so checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (timm naming)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., dim) -> (..., dim)."""
        return self.fc2(self.act(self.fc1(x)))


class DividedAttention(nn.Module):
    """Multi-head attention along one factor (time or space) of a (CLS + frames x patches) token sequence.

    The CLS query attends to every token; each patch query attends to the CLS key/value plus the tokens of its
    own group (same spatial position across frames for "time", same frame for "space").
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, frames: int, patches: int, axis: str) -> torch.Tensor:
        """x (B, 1 + frames·patches, D), frame-major; axis "time" or "space"."""
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)  # each (B, H, N, d)
        cls_out = F.scaled_dot_product_attention(q[:, :, :1], k, v)  # (B, H, 1, d)

        def grouped(t: torch.Tensor) -> torch.Tensor:
            t = t[:, :, 1:].reshape(b, h, frames, patches, d // h)
            if axis == "time":
                t = t.transpose(2, 3)  # groups = patches, sequence = frames
            return t.reshape(b, h * t.shape[2], t.shape[3], d // h)  # 4-D: what ONNX attention accepts

        groups = patches if axis == "time" else frames
        qg, kg, vg = grouped(q), grouped(k), grouped(v)
        cls_k = k[:, :, :1].unsqueeze(2).expand(b, h, groups, 1, d // h).reshape(b, h * groups, 1, d // h)
        cls_v = v[:, :, :1].unsqueeze(2).expand(b, h, groups, 1, d // h).reshape(b, h * groups, 1, d // h)
        out = F.scaled_dot_product_attention(qg, torch.cat((cls_k, kg), 2), torch.cat((cls_v, vg), 2))
        out = out.reshape(b, h, groups, -1, d // h)
        if axis == "time":
            out = out.transpose(2, 3)
        out = torch.cat((cls_out, out.reshape(b, h, frames * patches, d // h)), dim=2)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class DividedSpaceTimeBlock(nn.Module):
    """TimeSformer block: time attention (norm3), then space attention (norm1), then MLP (norm2)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = DividedAttention(dim, heads)
        self.timeattn = DividedAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, frames: int, patches: int) -> torch.Tensor:
        """(B, 1 + frames·patches, D) -> same shape."""
        x = x + self.timeattn(self.norm3(x), frames, patches, "time")
        x = x + self.attn(self.norm1(x), frames, patches, "space")
        return x + self.mlp(self.norm2(x))


class ClsAggregationLayer(nn.TransformerEncoderLayer):
    """One pre-norm encoder layer over [CLS, tokens]; returns the CLS output (spatial / frequency pooling)."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__(
            d_model=dim,
            nhead=heads,
            dim_feedforward=ffn,
            dropout=0.0,
            activation=nn.GELU(),
            layer_norm_eps=1e-6,
            batch_first=True,
            norm_first=True,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:  # type: ignore[override]
        """(N, L, D) -> (N, D)."""
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return super().forward(torch.cat((cls, x), dim=1))[:, 0]
