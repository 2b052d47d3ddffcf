"""Lazy scorer registry: name -> "module:build" target, materialised on first use."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable

from omninft.reward_servers.scorers._shared import sharing
from omninft.reward_servers.scorers.base import Scorer, ScorerConfig

__all__ = ["UnknownScorerError", "available", "build", "builder", "register", "sharing", "target",
           "unknown_scorer_message"]

# Heavy modules (transformers) load only when a scorer is actually built.
_TARGETS: dict[str, str] = {
    "clap": "omninft.reward_servers.scorers.clap:build",
    "clap_text": "omninft.reward_servers.scorers.clap:build_text",
    "clip": "omninft.reward_servers.scorers.clip:build",
    "video_stats": "omninft.reward_servers.scorers.media_stats:build_video",
    "audio_stats": "omninft.reward_servers.scorers.media_stats:build_audio",
    # JavisBench (issue 3); each module is owned by one model family.
    "imagebind": "omninft.reward_servers.scorers.imagebind:build",
    "imagebind_avh": "omninft.reward_servers.scorers.imagebind:build_avh",
    "desync": "omninft.reward_servers.scorers.desync:build",
    "i3d": "omninft.reward_servers.scorers.i3d:build",
    "audioclip": "omninft.reward_servers.scorers.audioclip:build",
    "audiobox_aesthetics": "omninft.reward_servers.scorers.audiobox:build",
    "av_align": "omninft.reward_servers.scorers.av_align:build",
    "videoalign": "omninft.reward_servers.scorers.videoalign:build",
    # OmniNFT training rewards (issue 4).
    "hpsv3": "omninft.reward_servers.scorers.hpsv3:build",
    "hpsv3_video": "omninft.reward_servers.scorers.hpsv3:build_video",
    "videoalign_reward": "omninft.reward_servers.scorers.omninft_rewards:build_videoalign",
    "audiobox_reward": "omninft.reward_servers.scorers.omninft_rewards:build_audiobox",
    "clap_reward": "omninft.reward_servers.scorers.omninft_rewards:build_clap",
    "desync_reward": "omninft.reward_servers.scorers.omninft_rewards:build_desync",
    "toy_video": "omninft.reward_servers.scorers.toy:build_video",
    "toy_audio": "omninft.reward_servers.scorers.toy:build_audio",
    "toy_sync": "omninft.reward_servers.scorers.toy:build_sync",
}


class UnknownScorerError(KeyError):
    """Raised for a scorer name that is not registered; the message lists the close matches."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown scorer"


def available() -> list[str]:
    """Names of every registered scorer, sorted."""
    return sorted(_TARGETS)


def unknown_scorer_message(name: str) -> str:
    """A 'did you mean' message for an unregistered scorer name."""
    close = difflib.get_close_matches(name, _TARGETS, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"unknown scorer {name!r}.{hint} Available: {', '.join(available())}"


def target(name: str) -> str:
    """The "module:function" target registered for `name`."""
    if name not in _TARGETS:
        raise UnknownScorerError(unknown_scorer_message(name))
    return _TARGETS[name]


def builder(name: str) -> Callable[[str, ScorerConfig], Scorer]:
    """The build function for `name`: build(name, cfg) -> Scorer."""
    if name not in _TARGETS:
        raise UnknownScorerError(unknown_scorer_message(name))
    module_name, attr = _TARGETS[name].split(":")
    fn: Callable[[str, ScorerConfig], Scorer] = getattr(importlib.import_module(module_name), attr)
    return fn


def build(name: str, cfg: ScorerConfig) -> Scorer:
    """Build and load scorer `name` with `cfg` (weights resolved, backend created)."""
    return builder(name)(name, cfg)


def register(name: str, target: str) -> None:
    """Register an extra scorer as "module:function" (used by plugins and tests)."""
    _TARGETS[name] = target
