"""UMT ViT-L/16 Kinetics-400 classifier for VBench human_action."""

from omninft.reward_servers.models.umt.frames import umt_clip
from omninft.reward_servers.models.umt.load import (
    CHECKPOINT_NOTES,
    FAMILY,
    OFFICIAL_WEIGHTS,
    OPTIONAL_KEYS,
    LoadReport,
    kinetics400_classes,
    load,
    load_state_dict,
    read_checkpoint,
)
from omninft.reward_servers.models.umt.model import (
    UMTClassifier,
    UMTConfig,
    UMTCore,
    build,
    umt_position_table,
)

WEIGHTS = (OFFICIAL_WEIGHTS,)

__all__ = [
    "WEIGHTS",
    "CHECKPOINT_NOTES",
    "FAMILY",
    "OFFICIAL_WEIGHTS",
    "OPTIONAL_KEYS",
    "LoadReport",
    "UMTClassifier",
    "UMTConfig",
    "UMTCore",
    "build",
    "kinetics400_classes",
    "load",
    "load_state_dict",
    "read_checkpoint",
    "umt_clip",
    "umt_position_table",
]
