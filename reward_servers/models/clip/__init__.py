"""CLIP model family (transformers CLIPModel): tiny config, official loading (HF and OpenAI files), exportable cores."""

from omninft.reward_servers.models.clip.aesthetic import AestheticCore
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
from omninft.reward_servers.models.clip.openai import (
    HF_IDS,
    OPENAI_WEIGHTS,
    load_openai,
    openai_config,
    set_precision,
)

__all__ = [
    "HF_IDS",
    "OPENAI_WEIGHTS",
    "AestheticCore",
    "load_openai",
    "openai_config",
    "set_precision",
    "IMAGE_SIZE",
    "MAX_TEXT_TOKENS",
    "OFFICIAL_ID",
    "PATCH_SIZE",
    "ClipImageCore",
    "identify",
    "load",
    "tiny_config",
]
