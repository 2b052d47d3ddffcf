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
from omninft.reward_servers.weights import HF_TEXT_FILES, WeightSpec

WEIGHTS = (
    WeightSpec("clap", "laion/clap-htsat-unfused", files=(*HF_TEXT_FILES, "*.safetensors"), family="clap"),
)

__all__ = [
    "WEIGHTS",
    "NUM_FRAMES",
    "NUM_MEL_BINS",
    "OFFICIAL_ID",
    "SAMPLE_RATE",
    "ClapAudioCore",
    "identify",
    "load",
    "tiny_config",
]
