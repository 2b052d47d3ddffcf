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

__all__ = [
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
