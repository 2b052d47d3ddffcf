"""ImageBind (imagebind_huge) vision, text and audio towers, written for this project (specs/models.md §1).

Module attribute names reproduce the official state-dict layout, so the vision/text/audio part of
`imagebind_huge.pth` loads unchanged with strict=True:
  modality_preprocessors.{vision,text,audio}.*  modality_trunks.*.blocks.<i>.{attn,norm_1,mlp.fc1,mlp.fc2,norm_2}
  modality_heads.*  modality_postprocessors.{text,audio}.1.log_logit_scale
The trunks are pre-norm transformers over nn.MultiheadAttention in sequence-first layout; the audio trunk
has learned bias_k / bias_v; the text trunk is causal (the 77x77 mask is a persistent buffer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
from torch import nn

MODALITIES = ("vision", "text", "audio")


@dataclass(frozen=True)
class ImageBindConfig:
    """Sizes of the three towers; `huge()` is imagebind_huge, `tiny()` the same architecture, small."""

    vision_embed_dim: int = 1280
    vision_num_blocks: int = 32
    vision_num_heads: int = 16
    video_frames: int = 2
    kernel_size: tuple[int, int, int] = (2, 14, 14)
    image_size: int = 224
    text_embed_dim: int = 1024
    text_num_blocks: int = 24
    text_num_heads: int = 16
    vocab_size: int = 49408
    context_length: int = 77
    audio_embed_dim: int = 768
    audio_num_blocks: int = 12
    audio_num_heads: int = 12
    audio_kernel_size: int = 16
    audio_stride: int = 10
    audio_num_mel_bins: int = 128
    audio_target_len: int = 204
    out_embed_dim: int = 1024
    text_logit_scale_init: float = 1.0 / 0.07
    audio_logit_scale: float = 20.0
    max_logit_scale: float = 100.0
    mlp_ratio: int = 4

    @classmethod
    def huge(cls) -> ImageBindConfig:
        """imagebind_huge: ViT-H/14 vision (32 x 1280), text 24 x 1024, audio 12 x 768, 1024-d outputs."""
        return cls()

    @classmethod
    def tiny(cls, vocab_size: int = 1000) -> ImageBindConfig:
        """Small widths and depths with the official input contract (224^2 x 2 frames, 128 x 204 fbank, 77 tokens)."""
        return replace(
            cls(),
            vision_embed_dim=32,
            vision_num_blocks=2,
            vision_num_heads=2,
            text_embed_dim=32,
            text_num_blocks=2,
            text_num_heads=2,
            vocab_size=vocab_size,
            audio_embed_dim=32,
            audio_num_blocks=2,
            audio_num_heads=2,
            out_embed_dim=16,
        )

    @property
    def vision_patches(self) -> int:
        """Patch tokens of one 2-frame clip (256 for 224^2 and 2 x 14 x 14)."""
        kt, kh, kw = self.kernel_size
        return (self.video_frames // kt) * (self.image_size // kh) * (self.image_size // kw)

    @property
    def audio_patches(self) -> tuple[int, int]:
        """(frequency, time) patch grid of the fbank (12 x 19 for 128 x 204, kernel 16, stride 10)."""
        k, s = self.audio_kernel_size, self.audio_stride
        return (self.audio_num_mel_bins - k) // s + 1, (self.audio_target_len - k) // s + 1


class PadIm2Video(nn.Module):
    """Images (B, C, H, W) become 2-frame clips by repetition; clips (B, C, T, H, W) with T > 1 pass."""

    def __init__(self, ntimes: int) -> None:
        super().__init__()
        self.ntimes = ntimes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add and fill the time axis (dim 2)."""
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.shape[2] == 1:
            x = x.expand(-1, -1, self.ntimes, -1, -1)
        return x


class PatchStem(nn.Module):
    """Conv patchifier -> (B, tokens, D), with an optional LayerNorm over the tokens."""

    def __init__(self, proj: nn.Module, norm_layer: nn.Module | None = None) -> None:
        super().__init__()
        self.proj = proj
        self.norm_layer = norm_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, ...) -> (B, L, D)."""
        x = self.proj(x).flatten(2).transpose(1, 2)
        return self.norm_layer(x) if self.norm_layer is not None else x


class PosEmbedding(nn.Module):
    """Learned positional table (1, tokens, D), stored as `pos_embed`."""

    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * dim**-0.5)


class PatchPreprocessor(nn.Module):
    """Stem + CLS token + learned positions (the vision and audio preprocessors)."""

    def __init__(self, stem: PatchStem, num_patches: int, dim: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * dim**-0.5)
        self.rgbt_stem = stem
        self.pos_embedding_helper = PosEmbedding(num_patches + 1, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input tensor -> (B, 1 + patches, D) tokens."""
        tokens = self.rgbt_stem(x)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embedding_helper.pos_embed


class TextPreprocessor(nn.Module):
    """Token + learned position embeddings; the causal mask is a persistent buffer (it is in the checkpoint)."""

    mask: torch.Tensor

    def __init__(self, vocab_size: int, context_length: int, dim: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, context_length, dim) * 0.01)
        self.register_buffer("mask", torch.full((context_length, context_length), float("-inf")).triu_(1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, 77) ids -> (B, 77, D)."""
        return self.token_embedding(ids) + self.pos_embed


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Position-wise feed-forward."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm block on (L, B, D): x + Attn(LN1 x), then x + MLP(LN2 x); LayerNorm eps 1e-6."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, add_bias_kv: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, bias=True, add_bias_kv=add_bias_kv)
        self.norm_1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.norm_2 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """One block; attn_mask is the additive (L, L) mask or None."""
        h = self.norm_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.norm_2(x))


class Trunk(nn.Module):
    """(B, L, D) -> (B, L, D) through the blocks in sequence-first layout; optional pre-LayerNorm (vision)."""

    def __init__(
        self, dim: int, depth: int, heads: int, mlp_ratio: int, *, pre_ln: bool, add_bias_kv: bool
    ) -> None:
        super().__init__()
        self.pre_transformer_layer = nn.Sequential(nn.LayerNorm(dim, eps=1e-6) if pre_ln else nn.Identity())
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, add_bias_kv) for _ in range(depth))

    def forward(self, tokens: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the blocks."""
        x = self.pre_transformer_layer(tokens).transpose(0, 1)
        for blk in self.blocks:
            x = blk(x, attn_mask)
        return x.transpose(0, 1)


class SelectToken(nn.Module):
    """x[:, index] (the CLS token)."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pick one token."""
        return x[:, self.index]


class TextHead(nn.Module):
    """The token at the EOS position -> LayerNorm -> Linear (no bias), stored under `proj`."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, out_dim, bias=False))

    def forward(self, x: torch.Tensor, eos: torch.Tensor) -> torch.Tensor:
        """(B, L, D), (B,) positions -> (B, out_dim)."""
        return self.proj(x[torch.arange(x.shape[0], device=x.device), eos])


class Normalize(nn.Module):
    """L2 normalisation along the last axis (F.normalize)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x / max(||x||, 1e-12)."""
        return nn.functional.normalize(x, dim=-1, p=2)


class LogitScale(nn.Module):
    """x * min(exp(log_logit_scale), max); a Parameter when learnable (text), else a buffer (audio)."""

    def __init__(self, init: float, learnable: bool, max_scale: float = 100.0) -> None:
        super().__init__()
        self.max_scale = max_scale
        value = torch.tensor(math.log(init), dtype=torch.float32)
        if learnable:
            self.log_logit_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_logit_scale", value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale."""
        return torch.clamp(self.log_logit_scale.exp(), max=self.max_scale) * x


def _head(dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim, eps=1e-6), SelectToken(0), nn.Linear(dim, out_dim, bias=False))


class ImageBindModel(nn.Module):
    """Vision, text and audio towers of ImageBind; each embed_* returns postprocessed per-input embeddings."""

    def __init__(self, config: ImageBindConfig) -> None:
        super().__init__()
        c = self.config = config
        vision_stem = PatchStem(
            nn.Sequential(
                PadIm2Video(c.video_frames),
                nn.Conv3d(3, c.vision_embed_dim, kernel_size=c.kernel_size, stride=c.kernel_size, bias=False),
            )
        )
        audio_stem = PatchStem(
            nn.Conv2d(
                1, c.audio_embed_dim, kernel_size=c.audio_kernel_size, stride=c.audio_stride, bias=False
            ),
            norm_layer=nn.LayerNorm(c.audio_embed_dim),  # default eps 1e-5 here, as in the reference
        )
        fa, ta = c.audio_patches
        self.modality_preprocessors = nn.ModuleDict(
            {
                "vision": PatchPreprocessor(vision_stem, c.vision_patches, c.vision_embed_dim),
                "text": TextPreprocessor(c.vocab_size, c.context_length, c.text_embed_dim),
                "audio": PatchPreprocessor(audio_stem, fa * ta, c.audio_embed_dim),
            }
        )
        self.modality_trunks = nn.ModuleDict(
            {
                "vision": Trunk(
                    c.vision_embed_dim,
                    c.vision_num_blocks,
                    c.vision_num_heads,
                    c.mlp_ratio,
                    pre_ln=True,
                    add_bias_kv=False,
                ),
                "text": Trunk(
                    c.text_embed_dim,
                    c.text_num_blocks,
                    c.text_num_heads,
                    c.mlp_ratio,
                    pre_ln=False,
                    add_bias_kv=False,
                ),
                "audio": Trunk(
                    c.audio_embed_dim,
                    c.audio_num_blocks,
                    c.audio_num_heads,
                    c.mlp_ratio,
                    pre_ln=False,
                    add_bias_kv=True,
                ),
            }
        )
        self.modality_heads = nn.ModuleDict(
            {
                "vision": _head(c.vision_embed_dim, c.out_embed_dim),
                "text": TextHead(c.text_embed_dim, c.out_embed_dim),
                "audio": _head(c.audio_embed_dim, c.out_embed_dim),
            }
        )
        self.modality_postprocessors = nn.ModuleDict(
            {
                "vision": Normalize(),
                "text": nn.Sequential(
                    Normalize(), LogitScale(c.text_logit_scale_init, True, c.max_logit_scale)
                ),
                "audio": nn.Sequential(
                    Normalize(), LogitScale(c.audio_logit_scale, False, c.max_logit_scale)
                ),
            }
        )

    def embed_vision(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images or (B, 3, 2, H, W) clips -> unit (B, out_dim) embeddings."""
        x = self.modality_preprocessors["vision"](pixels)
        x = self.modality_trunks["vision"](x)
        return self.modality_postprocessors["vision"](self.modality_heads["vision"](x))

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, 77) int64 ids (0-padded; EOT is the largest id) -> (B, out_dim), norm = text logit scale."""
        x = self.modality_preprocessors["text"](ids)
        x = self.modality_trunks["text"](x, self.modality_preprocessors["text"].mask)
        return self.modality_postprocessors["text"](self.modality_heads["text"](x, ids.argmax(dim=-1)))

    def embed_audio(self, fbank: torch.Tensor) -> torch.Tensor:
        """(B, 1, 128, 204) normalised fbank -> (B, out_dim) embeddings of norm 20."""
        x = self.modality_preprocessors["audio"](fbank)
        x = self.modality_trunks["audio"](x)
        return self.modality_postprocessors["audio"](self.modality_heads["audio"](x))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Official calling convention: inputs of >= 5 dims are (B, S, ...) clip sets, averaged over S."""
        out = {}
        embed = {"vision": self.embed_vision, "text": self.embed_text, "audio": self.embed_audio}
        for key, value in inputs.items():
            if value.ndim >= 5:  # the reference's rule, also for vision: clips come as (B, S, 3, 2, H, W)
                b, s = value.shape[:2]
                out[key] = embed[key](value.reshape(b * s, *value.shape[2:])).reshape(b, s, -1).mean(dim=1)
            else:
                out[key] = embed[key](value)
        return out


def build(
    config: ImageBindConfig, *, seed: int | None = None, device: str | torch.device = "cpu"
) -> ImageBindModel:
    """A randomly initialised model in eval mode; `seed` makes it reproducible without touching the global RNG."""
    if seed is None:
        with torch.device(device):
            return ImageBindModel(config).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.device(device):
            return ImageBindModel(config).eval()


class VisionCore(nn.Module):
    """Exportable graph: pixels (B, 3, 2, H, W) -> vision embeddings (B, out_dim)."""

    def __init__(self, model: ImageBindModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Postprocessed (unit) embeddings."""
        return self.model.embed_vision(pixel_values)


class TextCore(nn.Module):
    """Exportable graph: input_ids (B, 77) int64 -> text embeddings (B, out_dim)."""

    def __init__(self, model: ImageBindModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Postprocessed (scaled) embeddings."""
        return self.model.embed_text(input_ids)


class AudioCore(nn.Module):
    """Exportable graph: fbank (B, 1, 128, 204) -> audio embeddings (B, out_dim)."""

    def __init__(self, model: ImageBindModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """Postprocessed (x20) embeddings."""
        return self.model.embed_audio(fbank)
