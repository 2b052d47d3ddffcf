"""The serving runtime: gRPC RewardService over batched scorers, with health, reflection, metrics and auth.

Public entry points: ServerConfig (typed config, YAML with camelCase keys), create_server / RewardServer
(in-process, tests and embedding), serve (blocking, with signal handling). Submodules import lazily-heavy
dependencies (grpc, prometheus_client) only when imported themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omninft.reward_servers.serving.app import RewardServer, create_server, serve
    from omninft.reward_servers.serving.config import ServerConfig, TLSConfig

__all__ = ["RewardServer", "ServerConfig", "TLSConfig", "create_server", "serve"]

_LOCATIONS = {
    "RewardServer": "app",
    "create_server": "app",
    "serve": "app",
    "ServerConfig": "config",
    "TLSConfig": "config",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so `import ...serving.config` stays light."""
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LOCATIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
