"""Loading rules for re-implemented (non-transformers) model families whose checkpoints are torch state dicts.

`weights` is "tiny" (small config, random init under a seed), "random" (official config, random init),
"official" (the family's OFFICIAL WeightSpec, resolved offline) or any source weights.resolve understands
(local file or directory, URL already in the cache). Loading is strict: a missing, unexpected or
shape-mismatched key is a WeightsLoadError naming the keys.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)


def build_random(factory: Callable[[], nn.Module], seed: int, size: str) -> tuple[nn.Module, WeightsIdentity]:
    """Randomly initialise factory() under `seed` without touching the global RNG; eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory()
    model.eval()
    return model, WeightsIdentity(
        tiny_weights_id(seed, size), state_dict_sha256(model.state_dict()), tiny=True
    )


def _describe(keys: list[str]) -> str:
    return f"{keys[:8]}{' ...' if len(keys) > 8 else ''} ({len(keys)})"


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """model.load_state_dict(state_dict, strict=True), reporting every kind of mismatch in one error."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = sorted(
        k for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )
    problems = [
        f"{name}: {_describe(keys)}"
        for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
        if keys
    ]
    if problems:
        raise WeightsLoadError(f"{what} does not match the architecture: " + "; ".join(problems))
    model.load_state_dict(dict(state_dict), strict=True)
    model.eval()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain tensor state dict from a .pt/.pth file (weights_only unpickling: no code runs)."""
    try:
        obj: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or a pickle that needs arbitrary code
        raise WeightsLoadError(f"cannot read a torch state dict from {path}: {e}") from e
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsLoadError(f"{path} does not hold a tensor state dict")
    return {str(k): v for k, v in obj.items()}


def resolve_checkpoint(
    family: str,
    weights: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    official: WeightSpec | None = None,
) -> tuple[Path, WeightsIdentity]:
    """Resolve "official" or a source to one local checkpoint file (offline) and its identity.

    `official` is the family's own spec for "official" (families declared in their package); without it the
    central table of weights.py is used.
    """
    if weights == "official":
        spec = official if official is not None else official_spec(family)
    else:
        spec = as_spec(weights, name=family)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.main_file if resolved.path.is_dir() else resolved.path
    if path is None or not path.is_file():
        raise WeightsLoadError(f"no checkpoint file for {family} under {resolved.path}")
    return path, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def load_family(
    family: str,
    weights: str,
    seed: int,
    *,
    tiny: Callable[[], nn.Module],
    full: Callable[[], nn.Module],
    load_checkpoint: Callable[[nn.Module, Path], None],
    cache_dir: str | os.PathLike[str] | None = None,
    official: WeightSpec | None = None,
) -> tuple[nn.Module, WeightsIdentity]:
    """(model in eval mode, identity) for any weights string of a state-dict family."""
    if weights in RANDOM_WEIGHTS:
        model, ident = build_random(tiny if weights == "tiny" else full, seed, weights)
        logger.info("%s: built random weights (%s)", family, ident.weights_id)
        return model, ident
    path, ident = resolve_checkpoint(family, weights, cache_dir=cache_dir, official=official)
    model = full()
    load_checkpoint(model, path)
    return model, ident


def identify_family(
    family: str,
    weights: str,
    seed: int,
    *,
    tiny: Callable[[], nn.Module],
    full: Callable[[], nn.Module],
    cache_dir: str | os.PathLike[str] | None = None,
    official: WeightSpec | None = None,
) -> WeightsIdentity:
    """The identity load_family would report, without loading a checkpoint."""
    if weights in RANDOM_WEIGHTS:
        return build_random(tiny if weights == "tiny" else full, seed, weights)[1]
    return resolve_checkpoint(family, weights, cache_dir=cache_dir, official=official)[1]
