"""ImageBind model family (own implementation of imagebind_huge's vision, text and audio towers)."""

from omninft.reward_servers.models.imagebind.load import (
    describe,
    load,
    load_official,
    load_state_dict,
    load_tokenizer,
)
from omninft.reward_servers.models.imagebind.model import (
    MODALITIES,
    AudioCore,
    ImageBindConfig,
    ImageBindModel,
    TextCore,
    VisionCore,
    build,
)
from omninft.reward_servers.models.imagebind.tokenizer import ImageBindTokenizer

__all__ = [
    "MODALITIES",
    "AudioCore",
    "ImageBindConfig",
    "ImageBindModel",
    "ImageBindTokenizer",
    "TextCore",
    "VisionCore",
    "build",
    "describe",
    "load",
    "load_official",
    "load_state_dict",
    "load_tokenizer",
]
