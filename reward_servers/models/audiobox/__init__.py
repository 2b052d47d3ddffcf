"""Audiobox Aesthetics model family (JavisBench audio quality, OmniNFT audio reward): config, network, loading."""

from omninft.reward_servers.models.audiobox.config import (
    AXES,
    SAMPLE_RATE,
    AudioboxConfig,
    from_checkpoint_config,
    official,
    tiny,
    to_checkpoint_config,
)
from omninft.reward_servers.models.audiobox.inference import (
    CHUNK_SAMPLES,
    Chunks,
    aggregate,
    denormalize,
    make_chunks,
)
from omninft.reward_servers.models.audiobox.keys import local_to_official, official_to_local
from omninft.reward_servers.models.audiobox.load import FAMILY, OFFICIAL_ID, identify, load, load_official
from omninft.reward_servers.models.audiobox.model import AudioboxAesthetics, build, frame_validity
from omninft.reward_servers.weights import WeightSpec

# AesMultiOutput.from_pretrained("facebook/audiobox-aesthetics") (config.json holds the per-axis
# target_transform); no digest is published, so the sha256 is recorded at fetch time, not pinned.
WEIGHTS = (
    WeightSpec(
        "audiobox_aesthetics",
        "facebook/audiobox-aesthetics",
        files=("config.json", "*.safetensors"),
        family="audiobox",
    ),
)

__all__ = [
    "WEIGHTS",
    "AXES",
    "CHUNK_SAMPLES",
    "FAMILY",
    "OFFICIAL_ID",
    "SAMPLE_RATE",
    "AudioboxAesthetics",
    "AudioboxConfig",
    "Chunks",
    "aggregate",
    "build",
    "denormalize",
    "frame_validity",
    "from_checkpoint_config",
    "identify",
    "load",
    "load_official",
    "local_to_official",
    "make_chunks",
    "official",
    "official_to_local",
    "tiny",
    "to_checkpoint_config",
]
