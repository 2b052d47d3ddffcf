"""ViCLIP ViT-L/14 (InternVid-10M-FLT) for VBench temporal_style and overall_consistency."""

from omninft.reward_servers.models.viclip.frames import viclip_frames
from omninft.reward_servers.models.viclip.load import (
    CHECKPOINT_NOTES,
    FAMILY,
    OFFICIAL_BPE,
    OFFICIAL_WEIGHTS,
    load,
    load_state_dict,
    param_counts,
    read_checkpoint,
    tiny_tokenizer,
    tokenizer,
)
from omninft.reward_servers.models.viclip.model import TextCore, ViCLIP, ViCLIPConfig, VideoCore, build

WEIGHTS = (OFFICIAL_WEIGHTS, OFFICIAL_BPE)

__all__ = [
    "WEIGHTS",
    "CHECKPOINT_NOTES",
    "FAMILY",
    "OFFICIAL_BPE",
    "OFFICIAL_WEIGHTS",
    "TextCore",
    "ViCLIP",
    "ViCLIPConfig",
    "VideoCore",
    "build",
    "load",
    "load_state_dict",
    "param_counts",
    "read_checkpoint",
    "tiny_tokenizer",
    "tokenizer",
    "viclip_frames",
]
