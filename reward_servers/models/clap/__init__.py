"""CLAP model family (transformers ClapModel): tiny config, official loading, exportable cores."""

from omninft.reward_servers.models.clap.model import (
    NUM_FRAMES,
    NUM_MEL_BINS,
    OFFICIAL_ID,
    SAMPLE_RATE,
    ClapAudioCore,
    identify,
    load,
    tiny_config,
)

__all__ = [
    "NUM_FRAMES",
    "NUM_MEL_BINS",
    "OFFICIAL_ID",
    "SAMPLE_RATE",
    "ClapAudioCore",
    "identify",
    "load",
    "tiny_config",
]
