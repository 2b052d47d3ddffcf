"""ViCLIP ViT-L/14 (InternVid-10M-FLT), the video-text model of VBench's temporal_style and overall_consistency.

Written for this project from the architecture of `vbench/third_party/ViCLIP` (specs/vbench.md §1.15). Module
attribute names reproduce the checkpoint layout under its `model` entry, so `ViClip-InternVid-10M-FLT.pth`
loads with strict=True, as the reference loads it:
  vision_encoder.{conv1,class_embedding,positional_embedding,temporal_positional_embedding,ln_pre,ln_post,proj}
  vision_encoder.transformer.resblocks.<i>.{attn.in_proj_*,attn.out_proj.*,ln_1,mlp.c_fc,mlp.c_proj,ln_2}
  text_encoder.{token_embedding,positional_embedding,ln_final,text_projection,transformer.resblocks.<i>.*}
  temp
Both towers are pre-norm CLIP transformers (QuickGELU, nn.MultiheadAttention, sequence-first). The vision
tower embeds every frame with a (1, 14, 14) Conv3d, adds the spatial then the temporal position embedding,
orders the tokens patch-major / frame-minor as the reference does, and projects the class token. The text
tower is causal over 32 tokens and pools at the EOT token (the largest id, found by argmax).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViCLIPConfig:
    """Sizes of ViCLIP; `official()` is ViClip-InternVid-10M-FLT, `tiny()` the same architecture, small."""

    image_size: int = 224
    patch_size: int = 14
    num_frames: int = 8
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    embed_dim: int = 768
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    context_length: int = 32
    vocab_size: int = 49408

    @classmethod
    def official(cls) -> ViCLIPConfig:
        """ViCLIP ViT-L/14: 8 frames of 224^2, 24 x 1024 vision, 12 x 768 text over 32 tokens, 768-d outputs."""
        return cls()

    @classmethod
    def tiny(cls, vocab_size: int = 1000) -> ViCLIPConfig:
        """Small widths and depths, 56^2 frames (4 x 4 patches), the official 8 frames and 32-token context."""
        return replace(
            cls(),
            image_size=56,
            vision_width=32,
            vision_layers=2,
            vision_heads=2,
            embed_dim=16,
            text_width=32,
            text_layers=2,
            text_heads=2,
            vocab_size=vocab_size,
        )

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), CLIP's activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the activation."""
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); sequence-first (L, B, D)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, width * 4)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(width * 4, width)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """One block."""
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of ResidualAttentionBlocks (keys `resblocks.<i>.*`)."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """All blocks in order."""
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class VisionEncoder(nn.Module):
    """video (B, 3, T, H, W), T = num_frames (or 1) -> (B, embed_dim) projected class token (not normalised)."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        w, p = cfg.vision_width, cfg.patch_size
        self.num_frames = cfg.num_frames
        self.conv1 = nn.Conv3d(3, w, (1, p, p), (1, p, p), bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.grid**2 + 1, w))
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, cfg.num_frames, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, cfg.vision_layers, cfg.vision_heads)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.zeros(w, cfg.embed_dim))
        nn.init.normal_(self.class_embedding, std=w**-0.5)
        nn.init.normal_(self.positional_embedding, std=w**-0.5)
        nn.init.normal_(self.temporal_positional_embedding, std=0.02)
        nn.init.normal_(self.proj, std=w**-0.5)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Tokens (class, then patch-major/frame-minor), transformer, projected class token."""
        x = self.conv1(video)
        b, c, t, h, w = x.shape
        if t not in (1, self.num_frames):
            raise ValueError(f"ViCLIP takes {self.num_frames} frames (or 1), got {t}")
        x = x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
        x = x + self.positional_embedding[1:]
        cls = (self.class_embedding + self.positional_embedding[0]).expand(b, 1, c)
        # (b t) n c -> b n t c: the temporal embedding is added per frame, then tokens run patch-major
        x = x.reshape(b, t, h * w, c).transpose(1, 2)
        temporal = self.temporal_positional_embedding
        x = x + (temporal.mean(1) if t == 1 else temporal)
        x = torch.cat([cls, x.reshape(b, h * w * t, c)], dim=1)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.ln_post(self.transformer(x))
        return x[0] @ self.proj


class TextEncoder(nn.Module):
    """ids (B, context_length) int -> (B, embed_dim) at the EOT position (argmax of ids), not normalised."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        w = cfg.text_width
        self.context_length = cfg.context_length
        self.transformer = Transformer(w, cfg.text_layers, cfg.text_heads)
        self.token_embedding = nn.Embedding(cfg.vocab_size, w)
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, w))
        self.ln_final = nn.LayerNorm(w)
        self.text_projection = nn.Parameter(torch.zeros(w, cfg.embed_dim))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=w**-0.5)
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)  # not in the checkpoint

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Causal transformer, final LayerNorm, EOT token, projection."""
        x = self.token_embedding(ids) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        eot = ids.argmax(dim=-1)
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection


class ViCLIP(nn.Module):
    """ViCLIP: `encode_video` on (B, T, 3, H, W) frames and `encode_text` on (B, 32) ids; raw embeddings."""

    def __init__(self, cfg: ViCLIPConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or ViCLIPConfig.official()
        self.vision_encoder = VisionEncoder(cfg)
        self.text_encoder = TextEncoder(cfg)
        self.temp = nn.Parameter(torch.tensor(1 / 100.0))  # training temperature; unused at inference

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) normalised frames -> (B, embed_dim), as `encode_vision(test=True)` (no token masking)."""
        return self.vision_encoder(frames.permute(0, 2, 1, 3, 4))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, context_length) token ids -> (B, embed_dim)."""
        return self.text_encoder(ids)


def build(cfg: ViCLIPConfig | None = None) -> ViCLIP:
    """A ViCLIP of `cfg` (default: official), randomly initialised, in eval mode."""
    return ViCLIP(cfg).eval()


class VideoCore(nn.Module):
    """Exportable graph: frames (B, T, 3, H, W) float32 -> L2-normalised video embeddings (B, embed_dim)."""

    def __init__(self, model: ViCLIP) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """The reference's get_vid_features."""
        return F.normalize(self.model.encode_video(frames), dim=-1)


class TextCore(nn.Module):
    """Exportable graph: ids (B, context_length) int64 -> L2-normalised text embeddings (B, embed_dim)."""

    def __init__(self, model: ViCLIP) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The reference's get_text_features."""
        return F.normalize(self.model.encode_text(input_ids), dim=-1)
