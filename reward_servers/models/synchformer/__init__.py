"""Synchformer family (MotionFormer + AST + sync transformer): config, build, official loading, graph cores."""

from omninft.reward_servers.models.synchformer.config import SynchformerConfig
from omninft.reward_servers.models.synchformer.model import (
    FAMILY,
    OFFICIAL_KEYS,
    OFFICIAL_PARAMS,
    AudioCore,
    SyncCore,
    Synchformer,
    VideoCore,
    build,
    count_parameters,
    extract_state_dict,
    load,
    load_official,
)
from omninft.reward_servers.weights import WeightSpec

# Synchformer 24-01-04T16-39-21 as re-saved by MMAudio (used by av-benchmark, JavisBench, OmniNFT); only the
# md5 is published (5b2f5594b0730f70e41e549b7c94390c), so the sha256 is recorded at fetch time, not pinned.
WEIGHTS = (
    WeightSpec(
        "synchformer",
        "https://github.com/hkchengrex/MMAudio/releases/download/v0.1/synchformer_state_dict.pth",
        family="synchformer",
    ),
)

__all__ = [
    "WEIGHTS",
    "FAMILY",
    "OFFICIAL_KEYS",
    "OFFICIAL_PARAMS",
    "AudioCore",
    "SyncCore",
    "Synchformer",
    "SynchformerConfig",
    "VideoCore",
    "build",
    "count_parameters",
    "extract_state_dict",
    "load",
    "load_official",
]
