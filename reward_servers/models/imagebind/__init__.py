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
from omninft.reward_servers.weights import WeightSpec

# ImageBind-Huge (plain state dict, all six modalities) and the CLIP BPE vocabulary its text side uses.
WEIGHTS = (
    WeightSpec(
        "imagebind", "https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth", family="imagebind"
    ),
    WeightSpec(
        "imagebind_bpe",
        "https://raw.githubusercontent.com/facebookresearch/ImageBind/main/bpe/bpe_simple_vocab_16e6.txt.gz",
        family="imagebind",
    ),
)

__all__ = [
    "WEIGHTS",
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
