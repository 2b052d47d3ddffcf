"""CLIP (transformers CLIPModel): official/tiny loading and the two exportable neural cores.

Official checkpoint for JavisBench: ``openai/clip-vit-base-patch32`` (ViT-B/32, 224 px, 77 tokens;
specs/models.md §7). Pixel preprocessing is numpy (functional.image) and stays outside the graphs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.functional.image import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from omninft.reward_servers.models._hf import (
    WeightsLoadError,
    build_tiny,
    identify_family,
    load_family,
    read_json,
)
from omninft.reward_servers.models.tiny_tokenizers import tiny_clip_tokenizer
from omninft.reward_servers.weights import WeightsIdentity

OFFICIAL_ID = "openai/clip-vit-base-patch32"
IMAGE_SIZE = 224
PATCH_SIZE = 32
MAX_TEXT_TOKENS = 77


def tiny_config(tokenizer: Any) -> Any:
    """A small CLIPConfig of the official architecture with the official contract (224 px, patch 32, 77 tokens)."""
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    text = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=MAX_TEXT_TOKENS,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
    )
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)


def _tiny(seed: int, size: str = "tiny") -> tuple[nn.Module, Any, WeightsIdentity]:
    from transformers import CLIPConfig, CLIPModel

    tokenizer = tiny_clip_tokenizer()
    if size == "tiny":
        config = tiny_config(tokenizer)
    else:  # CLIPConfig()'s defaults are ViT-B/32's architecture; special tokens follow the tokenizer in use
        config = CLIPConfig()
        for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
            setattr(config.text_config, key, getattr(tokenizer, key))
    model, ident = build_tiny(CLIPModel, config, seed, size)
    return model, tokenizer, ident


def _as_int(value: Any, key: str) -> int | None:
    """An int from an HF size field (int or {key: int})."""
    if isinstance(value, dict):
        value = value.get(key)
    return int(value) if value is not None else None


def check_image_processor(path: Path, image_size: int) -> None:
    """Refuse checkpoints whose preprocessor_config.json differs from the implemented CLIP preprocessing."""
    cfg = read_json(path / "preprocessor_config.json")
    if cfg is None:
        return
    wrong: dict[str, Any] = {}
    if _as_int(cfg.get("size"), "shortest_edge") not in (None, image_size):
        wrong["size"] = cfg.get("size")
    if _as_int(cfg.get("crop_size"), "height") not in (None, image_size):
        wrong["crop_size"] = cfg.get("crop_size")
    if cfg.get("resample", 3) != 3:  # PIL BICUBIC
        wrong["resample"] = cfg["resample"]
    for key, ref in (("image_mean", OPENAI_CLIP_MEAN), ("image_std", OPENAI_CLIP_STD)):
        if key in cfg and any(abs(a - b) > 1e-6 for a, b in zip(cfg[key], ref, strict=True)):
            wrong[key] = cfg[key]
    if not cfg.get("do_center_crop", True):
        wrong["do_center_crop"] = False
    if wrong:
        raise WeightsLoadError(
            f"CLIP checkpoint at {path} needs image preprocessing {wrong}, which is not implemented"
        )


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[nn.Module, Any, WeightsIdentity]:
    """(CLIPModel in eval mode, tokenizer, identity) for "tiny", "official" or a local HF directory / HF id."""
    from transformers import CLIPModel, CLIPVisionConfig

    model, tokenizer, ident, path = load_family(
        "clip", weights, seed, model_cls=CLIPModel, model_type="clip", tiny=_tiny, cache_dir=cache_dir
    )
    assert isinstance(model, CLIPModel)  # what load_family built; gives its config a type
    vision = model.config.vision_config
    assert isinstance(vision, CLIPVisionConfig)  # CLIPConfig builds it from a dict or a config
    if not isinstance(vision.image_size, int):
        raise WeightsLoadError(
            f"CLIP vision config has image_size {vision.image_size!r}; only square inputs are supported"
        )
    if path is not None:
        check_image_processor(path, vision.image_size)
    return model, tokenizer, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """Weights id and sha256 that load() would report (pretrained weights are hashed, not loaded)."""
    return identify_family("clip", weights, seed, model_type="clip", tiny=_tiny, cache_dir=cache_dir)


class ClipImageCore(nn.Module):
    """pixel_values (B, 3, S, S) float32 -> projected image embeddings (B, projection_dim)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.vision_model: nn.Module = model.vision_model
        self.visual_projection: nn.Module = model.visual_projection

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Run the ViT (pooled CLS after post-LN) and the visual projection (unnormalised)."""
        out = self.vision_model(pixel_values=pixel_values)
        return self.visual_projection(out.pooler_output)
