"""AudioCLIP audio branch (ESResNeXt-fbsp) for JavisBench's FAD: config, official loading, exportable core."""

from omninft.reward_servers.models.audioclip.model import (
    CHECKPOINT_PREFIX,
    FAMILY,
    AudioClipAudioCore,
    ESResNeXtConfig,
    ESResNeXtFBSP,
    audio_state_dict,
    build,
    identify,
    load,
    load_official,
)
from omninft.reward_servers.weights import WeightSpec

# Full AudioCLIP (CLIP RN50 + ESResNeXt-fbsp); only the `audio.*` keys are used. The git-LFS copy in the
# AudioCLIP repository (assets/, 537,302,068 bytes) has sha256
# 2441d35b353352c8b1bbfb8f7c687f46314c3d2909e940eaf763b8c17f632c44; that the release asset is the same file
# is not verified, so it is not pinned.
WEIGHTS = (
    WeightSpec(
        "audioclip",
        "https://github.com/AndreyGuzhov/AudioCLIP/releases/download/v0.1/AudioCLIP-Full-Training.pt",
        family="audioclip",
    ),
)

__all__ = [
    "WEIGHTS",
    "CHECKPOINT_PREFIX",
    "FAMILY",
    "AudioClipAudioCore",
    "ESResNeXtConfig",
    "ESResNeXtFBSP",
    "audio_state_dict",
    "build",
    "identify",
    "load",
    "load_official",
]
