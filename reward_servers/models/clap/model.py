"""CLAP (transformers ClapModel): official/tiny loading and the two exportable neural cores.

Official checkpoint: ``laion/clap-htsat-unfused`` (HTSAT-tiny + RoBERTa, 512-d projections; specs/models.md
§4). The log-mel front end is numpy (functional.audio.clap_log_mel) and stays outside the graphs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.models._hf import (
    WeightsLoadError,
    build_tiny,
    identify_family,
    load_family,
    read_json,
)
from omninft.reward_servers.models.tiny_tokenizers import tiny_roberta_tokenizer
from omninft.reward_servers.weights import WeightsIdentity

OFFICIAL_ID = "laion/clap-htsat-unfused"
NUM_MEL_BINS = 64
NUM_FRAMES = 1001
SAMPLE_RATE = 48_000

# preprocessor_config.json values the numpy front end implements; other values are refused at load.
EXPECTED_FEATURE_EXTRACTOR = {
    "feature_size": 64,
    "sampling_rate": 48_000,
    "hop_length": 480,
    "fft_window_size": 1024,
    "frequency_min": 50,
    "frequency_max": 14_000,
    "max_length_s": 10,
    "truncation": "rand_trunc",
    "padding": "repeatpad",
    "top_db": None,
}


def tiny_config(vocab_size: int) -> Any:
    """A small ClapConfig of the official architecture with the official input contract (64 mels, spec 256)."""
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    audio = ClapAudioConfig(
        window_size=8,
        num_mel_bins=NUM_MEL_BINS,
        spec_size=256,
        patch_size=4,
        patch_stride=(4, 4),
        patch_embeds_hidden_size=16,
        depths=(1, 1, 1, 1),
        num_attention_heads=(2, 2, 4, 4),
        num_hidden_layers=4,
        hidden_size=16 * 8,  # last stage width: patch_embeds_hidden_size * 2**(stages - 1)
        enable_fusion=False,
    )
    text = ClapTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=32)


def _tiny(seed: int, size: str = "tiny") -> tuple[nn.Module, Any, WeightsIdentity]:
    from transformers import ClapConfig, ClapModel

    tokenizer = tiny_roberta_tokenizer()
    # ClapConfig()'s defaults are laion/clap-htsat-unfused's architecture (HTSAT-tiny unfused + RoBERTa-base).
    config = tiny_config(len(tokenizer)) if size == "tiny" else ClapConfig()
    model, ident = build_tiny(ClapModel, config, seed, size)
    return model, tokenizer, ident


def check_feature_extractor(path: Path) -> None:
    """Refuse checkpoints whose preprocessor_config.json asks for a front end other than the implemented one."""
    cfg = read_json(path / "preprocessor_config.json")
    if cfg is None:
        return
    wrong = {k: cfg[k] for k, v in EXPECTED_FEATURE_EXTRACTOR.items() if k in cfg and cfg[k] != v}
    if wrong:
        raise WeightsLoadError(
            f"CLAP checkpoint at {path} needs feature-extractor settings {wrong}; only "
            f"{EXPECTED_FEATURE_EXTRACTOR} (laion/clap-htsat-unfused) is implemented"
        )


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[nn.Module, Any, WeightsIdentity]:
    """(ClapModel in eval mode, tokenizer, identity) for "tiny", "official" or a local HF directory / HF id."""
    from transformers import ClapAudioConfig, ClapModel

    model, tokenizer, ident, path = load_family(
        "clap", weights, seed, model_cls=ClapModel, model_type="clap", tiny=_tiny, cache_dir=cache_dir
    )
    assert isinstance(model, ClapModel)  # what load_family built; gives its config a type
    audio_cfg = model.config.audio_config
    assert isinstance(audio_cfg, ClapAudioConfig)  # ClapConfig builds it from a dict or a config
    if audio_cfg.enable_fusion:
        raise WeightsLoadError(
            "fused CLAP checkpoints (enable_fusion=True) are not supported; use an unfused one"
        )
    if audio_cfg.num_mel_bins != NUM_MEL_BINS:
        raise WeightsLoadError(
            f"CLAP audio config has {audio_cfg.num_mel_bins} mel bins, expected {NUM_MEL_BINS}"
        )
    if path is not None:
        check_feature_extractor(path)
    return model, tokenizer, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """Weights id and sha256 that load() would report (pretrained weights are hashed, not loaded)."""
    return identify_family("clap", weights, seed, model_type="clap", tiny=_tiny, cache_dir=cache_dir)


class BicubicTimeResize(nn.Module):
    """Bicubic (align_corners=True) resize of axis 2 from t_in to t_out as a 4-tap gather.

    Same numbers as F.interpolate (its taps are read off interpolating an identity matrix), but ONNX Runtime runs
    Gather/Mul/ReduceSum ~10x faster than its cubic Resize op, which was 40 % of the tiny HTSAT graph.
    """

    idx: torch.Tensor
    weight: torch.Tensor

    def __init__(self, t_in: int, t_out: int) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        eye = torch.eye(t_in, dtype=torch.float32)[
            None, None
        ]  # float32: the same coefficients F.interpolate uses
        dense = nn.functional.interpolate(eye, (t_out, t_in), mode="bicubic", align_corners=True)[0, 0]
        idx = torch.zeros(t_out, 4, dtype=torch.long)
        weight = torch.zeros(t_out, 4, dtype=torch.float32)
        for row in range(t_out):
            cols = torch.nonzero(dense[row]).flatten()
            idx[row, : cols.numel()] = cols
            weight[row, : cols.numel()] = dense[row, cols]
        self.register_buffer("idx", idx, persistent=False)
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, t_in, F) -> (B, C, t_out, F)."""
        taps = x[:, :, self.idx, :]  # (B, C, t_out, 4, F)
        return (taps * self.weight[None, None, :, :, None]).sum(dim=3)


def _use_gather_resize(encoder: Any, t_in: int) -> BicubicTimeResize:
    """Swap this encoder instance's mel-to-image step for one using BicubicTimeResize on the time axis."""
    original = encoder.reshape_mel2img
    ratio = int(encoder.freq_ratio)
    width, height = int(encoder.spec_size * ratio), int(encoder.spec_size // ratio)
    resize = BicubicTimeResize(t_in, width)

    def reshape_mel2img(features: torch.Tensor) -> torch.Tensor:
        b, c, t, f = features.shape
        if t != t_in or f != height or t >= width:
            return original(features)
        x = resize(features)  # (B, C, width, height)
        # time is folded into `ratio` stacked bands: (B, C, ratio * height, width / ratio)
        x = x.reshape(b, c * ratio, width // ratio, f).permute(0, 1, 3, 2).contiguous()
        return x.reshape(b, c, f * ratio, width // ratio)

    encoder.reshape_mel2img = reshape_mel2img
    return resize


class ClapAudioCore(nn.Module):
    """input_features (B, 1, 1001, 64) float32 -> projected audio embeddings (B, projection_dim)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.audio_model: nn.Module = model.audio_model
        self.audio_projection: nn.Module = model.audio_projection
        self.time_resize = _use_gather_resize(self.audio_model.audio_encoder, NUM_FRAMES)

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        """Run HTSAT and the projection MLP (unnormalised)."""
        out = self.audio_model(input_features=input_features)
        return self.audio_projection(out.pooler_output)
