"""RAFT weights: "tiny" | "random" | "official" (raft-things, OFFICIAL_WEIGHTS, resolved offline) | path/URL.

A path may be raft-things.pth itself, the folder VBench unzips it into (``~/.cache/vbench/raft_model/models``),
or the authors' models.zip (read in place). Keys lose DataParallel's ``module.`` prefix, then load strictly.
"""

from __future__ import annotations

import logging
import os

from torch import nn

from omninft.reward_servers.models._checkpoint_file import CheckpointFile, locate, read_tensors
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS
from omninft.reward_servers.models._state_dict import build_random, load_strict
from omninft.reward_servers.models.raft.config import OFFICIAL_WEIGHTS, RAFTConfig
from omninft.reward_servers.models.raft.model import RAFT, build, strip_official_prefix
from omninft.reward_servers.weights import WeightsIdentity

logger = logging.getLogger(__name__)

FAMILY = "raft"
OFFICIAL_FILE = "raft-things.pth"


def load_official(model: nn.Module, ckpt: CheckpointFile) -> None:
    """Load raft-things.pth (keys with or without "module.") into a full-size RAFT, strictly."""
    state = strip_official_prefix(read_tensors(ckpt))
    load_strict(model, state, f"RAFT checkpoint {ckpt.path}{'!' + ckpt.member if ckpt.member else ''}")


def _factory(weights: str) -> RAFTConfig:
    return RAFTConfig.tiny() if weights == "tiny" else RAFTConfig.official()


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[RAFT, WeightsIdentity]:
    """(RAFT in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
    if weights in RANDOM_WEIGHTS:
        model, ident = build_random(lambda: build(_factory(weights)), seed, weights)
        logger.info("raft: built random weights (%s)", ident.weights_id)
    else:
        ckpt = locate(FAMILY, weights, OFFICIAL_WEIGHTS, OFFICIAL_FILE, cache_dir=cache_dir)
        model = build(RAFTConfig.official())
        load_official(model, ckpt)
        ident = ckpt.identity
    assert isinstance(model, RAFT)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    if weights in RANDOM_WEIGHTS:
        return build_random(lambda: build(_factory(weights)), seed, weights)[1]
    return locate(FAMILY, weights, OFFICIAL_WEIGHTS, OFFICIAL_FILE, cache_dir=cache_dir).identity
