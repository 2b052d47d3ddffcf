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
from omninft.reward_servers.weights import HF_TEXT_FILES, WeightSpec

WEIGHTS = (
    WeightSpec("clip", "openai/clip-vit-base-patch32", files=(*HF_TEXT_FILES, "*.safetensors"), family="clip"),
)

__all__ = [
    "WEIGHTS",
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
