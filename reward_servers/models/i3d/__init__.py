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

__all__ = ["FAMILY", "I3DConfig", "I3DCore", "InceptionI3d", "build", "identify", "load", "load_official"]
