"""CLIP model family (transformers CLIPModel): tiny config, official loading, exportable cores."""

from omninft.reward_servers.models.clip.model import (
    IMAGE_SIZE,
    MAX_TEXT_TOKENS,
    OFFICIAL_ID,
    PATCH_SIZE,
    ClipImageCore,
    identify,
    load,
    tiny_config,
)

__all__ = [
    "IMAGE_SIZE",
    "MAX_TEXT_TOKENS",
    "OFFICIAL_ID",
    "PATCH_SIZE",
    "ClipImageCore",
    "identify",
    "load",
    "tiny_config",
]
