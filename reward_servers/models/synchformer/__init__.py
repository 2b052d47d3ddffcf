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

__all__ = [
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
