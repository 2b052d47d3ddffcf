"""LTX-2 model components (diffusers 0.42.1): tiny random-weight instances for CPU tests, official loading code.

The tiny instances use the SAME classes as the official checkpoint, only smaller configs (spec §4.7):
``cross_attention_dim`` must equal the video inner dim and ``audio_cross_attention_dim`` the audio inner dim; the
transformer's ``vae_scale_factors`` must match the video VAE's compression; the audio VAE's ``base_channels``
(the size of its latent normalisation vectors) must equal latent_channels × latent mel bins, the packed audio
token width; the vocoder's input width is mel channels × mel bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

OFFICIAL_MODEL_ID = "Lightricks/LTX-2"


@dataclass
class LTX2Components:
    """The four networks the adapter drives; the text path is separate (``_ltx2_text``).

    Typed ``Any``: they are diffusers models whose config attributes and submodules are reached by name.
    """

    transformer: Any
    vae: Any
    audio_vae: Any
    vocoder: Any
    source: str = "tiny"
    revision: str | None = None


TINY_TRANSFORMER: dict[str, Any] = {
    "in_channels": 8,
    "out_channels": 8,
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 16,
    "vae_scale_factors": (4, 4, 4),
    "audio_in_channels": 8,
    "audio_out_channels": 8,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8,
    "audio_cross_attention_dim": 16,
    "num_layers": 2,
    "caption_channels": 12,
}

TINY_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 8,
    "block_out_channels": (8, 8),
    "down_block_types": ("LTX2VideoDownBlock3D", "LTX2VideoDownBlock3D"),
    "decoder_block_out_channels": (8, 8),
    "layers_per_block": (1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1),
    "spatio_temporal_scaling": (True, True),
    "decoder_spatio_temporal_scaling": (True, True),
    "decoder_inject_noise": (False, False, False),
    "downsample_type": ("spatiotemporal", "spatiotemporal"),
    "upsample_type": ("spatiotemporal", "spatiotemporal"),
    "upsample_residual": (False, False),
    "upsample_factor": (1, 1),
    "patch_size": 1,
    "patch_size_t": 1,
}

TINY_AUDIO_VAE: dict[str, Any] = {
    "base_channels": 8,
    "output_channels": 2,
    "ch_mult": (1, 2, 4),
    "num_res_blocks": 1,
    "latent_channels": 4,
    "mel_bins": 8,
}

TINY_VOCODER: dict[str, Any] = {
    "in_channels": 16,
    "hidden_channels": 16,
    "out_channels": 2,
    "upsample_kernel_sizes": [8, 8],
    "upsample_factors": [4, 4],
    "resnet_kernel_sizes": [3],
    "resnet_dilations": [[1]],
    "output_sampling_rate": 1600,
}


def build_meta_components(num_layers: int | None = None) -> LTX2Components:
    """Official-size architecture on the meta device (no memory, no weights): shape and count checks only.

    The video VAE's compression ratios are passed explicitly (32 spatial, 8 temporal) because the class defaults
    derive 64/16 from its default block layout; the checkpoint's config states the true ratios.
    """
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    kw = {} if num_layers is None else {"num_layers": num_layers}
    with torch.device("meta"):
        return LTX2Components(
            LTX2VideoTransformer3DModel(**kw),
            AutoencoderKLLTX2Video(spatial_compression_ratio=32, temporal_compression_ratio=8),
            AutoencoderKLLTX2Audio(),
            LTX2Vocoder(),
            source="meta",
        )


def build_tiny_components(seed: int = 0, **transformer_overrides: Any) -> LTX2Components:
    """Tiny random-weight transformer + video VAE + audio VAE + vocoder (CPU, float32, eval mode)."""
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    # Default initialisers draw from the global RNG; fork it so building is reproducible and side-effect free.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = LTX2VideoTransformer3DModel(**{**TINY_TRANSFORMER, **transformer_overrides})
        vae = AutoencoderKLLTX2Video(**TINY_VAE)
        audio_vae = AutoencoderKLLTX2Audio(**TINY_AUDIO_VAE)
        vocoder = LTX2Vocoder(**TINY_VOCODER)
    parts: list[Any] = [transformer, vae, audio_vae, vocoder]
    for m in parts:
        m.eval().requires_grad_(False)
    return LTX2Components(transformer, vae, audio_vae, vocoder, source="tiny")


def load_official_components(
    model_id: str = OFFICIAL_MODEL_ID,
    revision: str | None = None,
    dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cuda",
    vocoder_cls: str = "LTX2Vocoder",
) -> LTX2Components:
    """Official diffusers-format LTX-2 weights (HF id or local folder, subfolders as in ``LTX2Pipeline``)."""
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import vocoder as vocoder_mod

    kw: dict[str, Any] = {"revision": revision, "torch_dtype": dtype}
    transformer = LTX2VideoTransformer3DModel.from_pretrained(model_id, subfolder="transformer", **kw)
    vae = AutoencoderKLLTX2Video.from_pretrained(model_id, subfolder="vae", **kw)
    audio_vae = AutoencoderKLLTX2Audio.from_pretrained(model_id, subfolder="audio_vae", **kw)
    vocoder = getattr(vocoder_mod, vocoder_cls).from_pretrained(model_id, subfolder="vocoder", **kw)
    parts = [transformer, vae, audio_vae, vocoder]
    for m in parts:
        m.to(device).eval().requires_grad_(False)
    return LTX2Components(transformer, vae, audio_vae, vocoder, source=model_id, revision=revision)
