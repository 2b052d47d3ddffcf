"""DINO ViT-B/16 (VBench subject_consistency): config, official checkpoint loading, the CLS-feature network."""

from omninft.reward_servers.models.dino.model import (
    FAMILY,
    OFFICIAL_WEIGHTS,
    DinoConfig,
    DinoViT,
    build,
    identify,
    load,
    load_official,
)

WEIGHTS = (OFFICIAL_WEIGHTS,)

__all__ = [
    "WEIGHTS",
    "FAMILY",
    "OFFICIAL_WEIGHTS",
    "DinoConfig",
    "DinoViT",
    "build",
    "identify",
    "load",
    "load_official",
]
