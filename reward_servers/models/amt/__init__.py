"""AMT-S frame interpolation for VBench motion_smoothness: config, build, official loading, exportable core."""

from omninft.reward_servers.models.amt.config import (
    OFFICIAL_ENTRY,
    OFFICIAL_FILE,
    OFFICIAL_KEYS,
    OFFICIAL_PARAMS,
    OFFICIAL_WEIGHTS,
    AMTConfig,
)
from omninft.reward_servers.models.amt.load import FAMILY, identify, load, load_official, read_official
from omninft.reward_servers.models.amt.model import (
    AMT,
    AMTCore,
    build,
    count_parameters,
    interpolate_midpoint,
)
from omninft.reward_servers.models.amt.vbench import MotionSmoothness, motion_smoothness_video

WEIGHTS = (OFFICIAL_WEIGHTS,)

__all__ = [
    "WEIGHTS",
    "AMT",
    "FAMILY",
    "MotionSmoothness",
    "OFFICIAL_ENTRY",
    "OFFICIAL_FILE",
    "OFFICIAL_KEYS",
    "OFFICIAL_PARAMS",
    "OFFICIAL_WEIGHTS",
    "AMTConfig",
    "AMTCore",
    "build",
    "count_parameters",
    "identify",
    "interpolate_midpoint",
    "load",
    "load_official",
    "motion_smoothness_video",
    "read_official",
]
