"""The Synchformer sync module: a minGPT-style encoder over [OFF, video tokens, MOD, audio tokens]."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from omninft.reward_servers.models.synchformer.config import SynchformerConfig


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate key/query/value projections (checkpoint naming)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.key = nn.Linear(dim, dim)
        self.query = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, D), no mask."""
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)))
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-LN block: x + attn(ln1(x)); x + mlp(ln2(x)); mlp = Linear, GELU, Linear (keys mlp.0, mlp.2)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.ln2 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, D)."""
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class PositionTable(nn.Module):
    """Learned absolute positions for the whole fixed-length sequence (checkpoint key `pos_emb_cfg.pos_emb`)."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.pos_emb = nn.Parameter(torch.zeros(1, length, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the table (the sequence must have exactly `length` tokens)."""
        return x + self.pos_emb


class GlobalTransformer(nn.Module):
    """[OFF, LN(video), MOD, LN(audio)] + positions -> blocks -> ln_f -> off_head on the OFF token."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        d = cfg.sync_dim
        self.vis_in_lnorm = nn.LayerNorm(d)
        self.aud_in_lnorm = nn.LayerNorm(d)
        self.OFF_tok = nn.Parameter(torch.zeros(1, 1, d))
        self.MOD_tok = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_emb_cfg = PositionTable(cfg.sync_positions, d)
        self.blocks = nn.Sequential(*(Block(d, cfg.sync_heads) for _ in range(cfg.sync_depth)))
        self.ln_f = nn.LayerNorm(d)
        self.off_head = nn.Linear(d, cfg.num_classes)

    def forward(self, vis: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        """vis (B, Sv, D), aud (B, Sa, D) -> offset logits (B, classes)."""
        return self.off_head(self.features(vis, aud))

    def features(self, vis: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        """vis (B, Sv, D), aud (B, Sa, D) -> the OFF token's final feature (B, D), the input of `off_head`."""
        b = vis.shape[0]
        x = torch.cat(
            (
                self.OFF_tok.expand(b, -1, -1),
                self.vis_in_lnorm(vis),
                self.MOD_tok.expand(b, -1, -1),
                self.aud_in_lnorm(aud),
            ),
            dim=1,
        )
        x = self.ln_f(self.blocks(self.pos_emb_cfg(x)))
        return x[:, 0]
