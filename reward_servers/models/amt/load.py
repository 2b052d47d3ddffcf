"""AMT weights: "tiny" | "random" | "official" (amt-s.pth, OFFICIAL_WEIGHTS, resolved offline) | path/URL.

The official file is a training checkpoint: the weights are ckpt['state_dict'] (read with weights_only
unpickling), loaded strictly. A plain state dict (no 'state_dict' entry) is accepted too.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from omninft.reward_servers.models._checkpoint_file import CheckpointFile, locate, read_tensors
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError
from omninft.reward_servers.models._state_dict import build_random, load_strict
from omninft.reward_servers.models.amt.config import (
    OFFICIAL_ENTRY,
    OFFICIAL_FILE,
    OFFICIAL_WEIGHTS,
    AMTConfig,
)
from omninft.reward_servers.models.amt.model import AMT, build
from omninft.reward_servers.weights import WeightsIdentity

logger = logging.getLogger(__name__)

FAMILY = "amt"


def read_official(ckpt: CheckpointFile) -> dict[str, torch.Tensor]:
    """ckpt['state_dict'] of amt-s.pth (or the file itself when it is already a plain state dict)."""
    try:
        return read_tensors(ckpt, entry=OFFICIAL_ENTRY)
    except WeightsLoadError as nested:
        try:
            return read_tensors(ckpt)
        except WeightsLoadError:
            raise nested from None


def load_official(model: nn.Module, ckpt: CheckpointFile) -> None:
    """Load amt-s.pth's state dict into a full-size AMT-S, strictly."""
    load_strict(model, read_official(ckpt), f"AMT checkpoint {ckpt.path}")


def _config(weights: str) -> AMTConfig:
    return AMTConfig.tiny() if weights == "tiny" else AMTConfig.official()


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[AMT, WeightsIdentity]:
    """(AMT in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
    if weights in RANDOM_WEIGHTS:
        model, ident = build_random(lambda: build(_config(weights)), seed, weights)
        logger.info("amt: built random weights (%s)", ident.weights_id)
    else:
        ckpt = locate(FAMILY, weights, OFFICIAL_WEIGHTS, OFFICIAL_FILE, cache_dir=cache_dir)
        model = build(AMTConfig.official())
        load_official(model, ckpt)
        ident = ckpt.identity
    assert isinstance(model, AMT)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    if weights in RANDOM_WEIGHTS:
        return build_random(lambda: build(_config(weights)), seed, weights)[1]
    return locate(FAMILY, weights, OFFICIAL_WEIGHTS, OFFICIAL_FILE, cache_dir=cache_dir).identity
