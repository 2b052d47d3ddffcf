"""I3D (Inception-v1 3-D, Kinetics-400) for FVD/KVD: config, official checkpoint loading, exportable core."""

from omninft.reward_servers.models.i3d.model import (
    FAMILY,
    I3DConfig,
    I3DCore,
    InceptionI3d,
    build,
    identify,
    load,
    load_official,
)
from omninft.reward_servers.weights import WeightSpec

# I3D Kinetics-400 (VideoGPT port of the TF-Hub model) at the Open-Sora-Plan HF Space commit JavisBench
# downloads; no digest is published, so the sha256 is recorded at fetch time, not pinned.
WEIGHTS = (
    WeightSpec(
        "i3d",
        "https://huggingface.co/spaces/LanguageBind/Open-Sora-Plan-v1.0.0/resolve/"
        "810fa8c4bdb3a4c8eec9bd57375c29bde6fb46de/opensora/eval/fvd/videogpt/i3d_pretrained_400.pt",
        family="i3d",
    ),
)

__all__ = [
    "WEIGHTS",
    "FAMILY",
    "I3DConfig",
    "I3DCore",
    "InceptionI3d",
    "build",
    "identify",
    "load",
    "load_official",
]
