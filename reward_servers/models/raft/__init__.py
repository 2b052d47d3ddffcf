"""RAFT optical flow (raft-things) for VBench dynamic_degree and the static filter: config, build, loading."""

from omninft.reward_servers.models.raft.config import (
    OFFICIAL_KEY_PREFIX,
    OFFICIAL_KEYS,
    OFFICIAL_MEMBER,
    OFFICIAL_PARAMS,
    OFFICIAL_WEIGHTS,
    RAFTConfig,
)
from omninft.reward_servers.models.raft.load import FAMILY, OFFICIAL_FILE, identify, load, load_official
from omninft.reward_servers.models.raft.model import (
    RAFT,
    RAFTCore,
    build,
    count_parameters,
    padded_flow,
    strip_official_prefix,
)
from omninft.reward_servers.models.raft.vbench import (
    MotionDecision,
    dynamic_degree_video,
    pair_score,
    pair_scores,
    static_filter_video,
)

WEIGHTS = (OFFICIAL_WEIGHTS,)

__all__ = [
    "WEIGHTS",
    "FAMILY",
    "MotionDecision",
    "OFFICIAL_FILE",
    "OFFICIAL_KEYS",
    "OFFICIAL_KEY_PREFIX",
    "OFFICIAL_MEMBER",
    "OFFICIAL_PARAMS",
    "OFFICIAL_WEIGHTS",
    "RAFT",
    "RAFTConfig",
    "RAFTCore",
    "build",
    "count_parameters",
    "dynamic_degree_video",
    "identify",
    "load",
    "load_official",
    "padded_flow",
    "pair_score",
    "pair_scores",
    "static_filter_video",
    "strip_official_prefix",
]
