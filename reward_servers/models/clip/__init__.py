"""CLIP model family (transformers CLIPModel): tiny config, official loading (HF and OpenAI files), exportable cores."""

from omninft.reward_servers.models.clip.aesthetic import OFFICIAL_WEIGHTS as AESTHETIC_WEIGHTS
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

# The HF conversion of ViT-B/32 (the family's own layout: JavisBench's CLIP score); OpenAI's TorchScript files
# as VBench's `clip.load` reads them (sha256 pinned by their URLs: background_consistency, aesthetic_quality);
# the LAION aesthetic head on ViT-L/14 (aesthetic_quality). Scorers name the ones they load.
WEIGHTS = (
    WeightSpec(
        "clip", "openai/clip-vit-base-patch32", files=(*HF_TEXT_FILES, "*.safetensors"), family="clip"
    ),
    OPENAI_WEIGHTS["ViT-B/32"],
    OPENAI_WEIGHTS["ViT-L/14"],
    AESTHETIC_WEIGHTS,
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
