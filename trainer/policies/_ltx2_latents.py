"""Latent layout of LTX-2 samples: sizes from the VAEs' compression ratios, token packing (patch size 1).

Video latents (B, C, F, H, W) become F·H·W tokens of width C in F-H-W order; audio latents (B, C, L, M) become L
tokens of width C·M, one per latent audio frame. This is the layout ``LTX2Pipeline`` feeds the transformer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._ltx2_components import LTX2Components


@dataclass(frozen=True)
class LatentGeometry:
    """Latent grid of one sample: video (C, F, H, W) tokens in F-H-W order, audio (C, L, M) tokens per frame L."""

    channels: int
    frames: int
    height: int
    width: int
    audio_channels: int
    audio_frames: int
    audio_mel: int

    @property
    def video_tokens(self) -> int:
        """Number of video tokens."""
        return self.frames * self.height * self.width

    @property
    def audio_token_width(self) -> int:
        """Packed audio token width (latent channels × latent mel bins)."""
        return self.audio_channels * self.audio_mel


def pack_video(z: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) → (B, F·H·W, C) (patch size 1, the LTX-2 setting)."""
    return z.permute(0, 2, 3, 4, 1).flatten(1, 3)


def unpack_video(x: torch.Tensor, geo: LatentGeometry) -> torch.Tensor:
    """(B, F·H·W, C) → (B, C, F, H, W)."""
    return x.unflatten(1, (geo.frames, geo.height, geo.width)).permute(0, 4, 1, 2, 3)


def pack_audio(z: torch.Tensor) -> torch.Tensor:
    """(B, C, L, M) → (B, L, C·M) (one token per latent audio frame)."""
    return z.transpose(1, 2).flatten(2, 3)


def unpack_audio(x: torch.Tensor, geo: LatentGeometry) -> torch.Tensor:
    """(B, L, C·M) → (B, C, L, M)."""
    return x.unflatten(2, (geo.audio_channels, geo.audio_mel)).transpose(1, 2)


def latent_geometry(
    comp: LTX2Components, height: int, width: int, num_frames: int, fps: float
) -> LatentGeometry:
    """Latent sizes implied by the VAEs' compression ratios and the requested media size."""
    tf_cfg, vae, avae = comp.transformer.config, comp.vae, comp.audio_vae
    if tf_cfg.patch_size != 1 or tf_cfg.patch_size_t != 1:
        raise ValueError("only transformer patch size 1 (LTX-2) is supported")
    s, t = vae.spatial_compression_ratio, vae.temporal_compression_ratio
    if height % s or width % s or (num_frames - 1) % t:
        raise ValueError(f"height/width must be multiples of {s} and num_frames ≡ 1 (mod {t})")
    acfg = avae.config
    per_second = acfg.sample_rate / acfg.mel_hop_length / avae.temporal_compression_ratio
    geo = LatentGeometry(
        channels=vae.config.latent_channels,
        frames=(num_frames - 1) // t + 1,
        height=height // s,
        width=width // s,
        audio_channels=acfg.latent_channels,
        audio_frames=max(1, round(num_frames / fps * per_second)),
        audio_mel=acfg.mel_bins // avae.mel_compression_ratio,
    )
    if tf_cfg.in_channels != geo.channels or tf_cfg.audio_in_channels != geo.audio_token_width:
        raise ValueError(
            f"transformer expects {tf_cfg.in_channels}/{tf_cfg.audio_in_channels} input channels, VAEs give "
            f"{geo.channels}/{geo.audio_token_width}"
        )
    return geo
