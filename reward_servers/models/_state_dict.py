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
    """model.load_state_dict(state_dict, strict=True), reporting every kind of mismatch in one error.

    A model built on the meta device (build_for_checkpoint) takes the checkpoint's tensors as its own
    (`assign=True`, cast to the model's dtypes as a copy would be), so no second copy of the weights is made.
    """
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
    if any(t.is_meta for t in own.values()):
        model.load_state_dict(
            {k: v.to(own[k].dtype) for k, v in state_dict.items()}, strict=True, assign=True
        )
    else:
        model.load_state_dict(dict(state_dict), strict=True)
    model.eval()


def _has_meta(model: nn.Module) -> bool:
    """Whether any parameter, buffer or tensor attribute of the model is still on the meta device."""
    for module in model.modules():
        tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        tensors += [v for v in vars(module).values() if isinstance(v, torch.Tensor)]
        if any(t.is_meta for t in tensors):
            return True
    return False


def build_for_checkpoint(
    factory: Callable[[], nn.Module], load_checkpoint: Callable[[nn.Module, Path], None], path: Path
) -> nn.Module:
    """factory() with the checkpoint at `path` loaded, without computing a random init the checkpoint replaces.

    The model is built on the meta device and takes the checkpoint's (memory-mapped) tensors. A model whose
    state the checkpoint does not fully hold (a non-persistent buffer or a tensor attribute computed at
    construction) is built again normally and loaded by copy; so is one whose loader cannot work on the meta
    device. Either way the loaded values are the checkpoint's.
    """
    try:
        with torch.device("meta"):
            model = factory()
        load_checkpoint(model, path)
        if not _has_meta(model):
            return model
        reason = "state outside the checkpoint"
    except (WeightsLoadError, RuntimeError, NotImplementedError, TypeError, ValueError) as e:
        reason = f"{type(e).__name__}: {e}"[:200]
    logger.debug("building %s normally before loading %s (%s)", type(model).__name__, path, reason)
    model = factory()
    load_checkpoint(model, path)
    return model


def load_torch_file(path: str | os.PathLike[str]) -> Any:
    """torch.load(weights_only) memory-mapped: tensors stay in the page cache until used, nothing is copied.

    Legacy (non-zip) checkpoints cannot be mapped and are read whole.
    """
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e) and "zip" not in str(e):
            raise
        return torch.load(str(path), map_location="cpu", weights_only=True)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain tensor state dict from a .pt/.pth file (weights_only unpickling: no code runs)."""
    try:
        obj: Any = load_torch_file(path)
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
    return build_for_checkpoint(full, load_checkpoint, path), ident


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
