"""MUSIQ (pyiqa architecture, SPAQ checkpoint) for VBench imaging_quality: config, loading, network."""

from omninft.reward_servers.models.musiq.model import (
    FAMILY,
    OFFICIAL_SHA256_PREFIX,
    OFFICIAL_WEIGHTS,
    PYIQA_VERSION,
    MusiqConfig,
    MusiqNet,
    build,
    identify,
    load,
    load_official,
    score_frames,
)

WEIGHTS = (OFFICIAL_WEIGHTS,)

__all__ = [
    "WEIGHTS",
    "FAMILY",
    "OFFICIAL_SHA256_PREFIX",
    "OFFICIAL_WEIGHTS",
    "PYIQA_VERSION",
    "MusiqConfig",
    "MusiqNet",
    "build",
    "identify",
    "load",
    "load_official",
    "score_frames",
]
