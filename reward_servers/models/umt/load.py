"""Loading UMT: tiny/random initialisation, or `l16_ptk710_ftk710_ftk400_f16_res224.pth` with the reference's
strict=False semantics made explicit.

The reference (vbench/human_action.py) calls `model.load_state_dict(torch.load(path), strict=False)`:
entries whose name the model lacks are ignored, model entries the file lacks keep their initial value,
and a shape mismatch still raises. We reproduce that, and refuse the one case where it would make results
depend on a random seed:
- unexpected entries: ignored, and reported (LoadReport.ignored, logged);
- missing `pos_embed`: allowed, it keeps its initial value, which is the deterministic sinusoid table
  (the reference detaches it in forward, so a file that has it holds that same table unless edited);
- any other missing entry: WeightsLoadError (the reference would run with a random initialisation);
- shape mismatch: WeightsLoadError, as in the reference.
Half-precision entries are upcast to float32, as copying them into the float32 model does in the reference.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.models.umt.model import UMTClassifier, UMTConfig, build
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)

FAMILY = "umt"
ARCHITECTURES = ("official", "tiny")
# The checkpoint VBench downloads (vbench/utils.py init_submodules). No digest is published; one third-party
# audit reports sha256 bfee78a03bf806fbc0c216309e8f92792011b7db6556fa860e9d869c1e69fecd for a ~579 MiB file
# (not verified here, so not pinned): the sha256 is recorded at fetch time.
OFFICIAL_WEIGHTS = WeightSpec(
    "umt",
    "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/l16_ptk710_ftk710_ftk400_f16_res224.pth",
    family="umt",
)
CHECKPOINT_NOTES = (
    "a bare state dict (patch_embed.*, pos_embed, blocks.<i>.*, fc_norm.*, head.*), loaded by the reference "
    "with strict=False: unexpected keys ignored, missing keys keep their init; see load.py."
)
# Model entries a checkpoint may lack without changing results (their initial value is deterministic).
OPTIONAL_KEYS = frozenset({"pos_embed"})


@dataclass(frozen=True)
class LoadReport:
    """What a strict=False load did: checkpoint entries ignored, model entries left at their initial value."""

    ignored: tuple[str, ...]
    kept_initial: tuple[str, ...]


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The tensor entries of a UMT checkpoint file (a bare state dict, as the reference passes it)."""
    try:
        obj: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or a pickle that needs arbitrary code
        raise WeightsLoadError(f"cannot read a UMT checkpoint from {path}: {e}") from e
    if not isinstance(obj, Mapping):
        raise WeightsLoadError(f"{path} does not hold a state dict")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_state_dict(model: UMTClassifier, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """The reference's strict=False load (see the module docstring); returns what was ignored or kept."""
    own = model.state_dict()
    ignored = tuple(sorted(set(state_dict) - set(own)))
    absent = sorted(set(own) - set(state_dict))
    fatal = [k for k in absent if k not in OPTIONAL_KEYS]
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if fatal or mismatched:
        parts = [
            f"{name}: {keys[:8]}{' ...' if len(keys) > 8 else ''} ({len(keys)})"
            for name, keys in (("missing", fatal), ("shape mismatch", mismatched))
            if keys
        ]
        raise WeightsLoadError("UMT checkpoint does not match the architecture: " + "; ".join(parts))
    wanted = {k: state_dict[k].float() for k in own if k in state_dict}
    model.load_state_dict(wanted, strict=False)
    model.eval()
    if ignored:
        logger.info(
            "umt: ignored %d checkpoint entries the model does not have: %s", len(ignored), ignored[:8]
        )
    return LoadReport(ignored=ignored, kept_initial=tuple(absent))


@functools.lru_cache(maxsize=1)
def kinetics400_classes() -> tuple[str, ...]:
    """The 400 class names in head order, lower-cased (package data kinetics400_classes.json)."""
    text = resources.files(__package__).joinpath("kinetics400_classes.json").read_text(encoding="utf-8")
    classes = tuple(json.loads(text)["classes"])
    if len(classes) != 400 or len(set(classes)) != 400:
        raise ValueError("kinetics400_classes.json must list 400 distinct names")
    return classes


def _random(cfg: UMTConfig, seed: int) -> UMTClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(cfg)


def load(
    weights: str,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    architecture: str = "official",
) -> tuple[UMTClassifier, WeightsIdentity, LoadReport]:
    """(model in eval mode, identity, load report) for "tiny", "random", "official" or a checkpoint path/URL.

    `architecture` ("official" or "tiny") is the config a checkpoint file is loaded into.
    """
    if weights in RANDOM_WEIGHTS:
        model = _random(UMTConfig.tiny() if weights == "tiny" else UMTConfig.official(), seed)
        ident = WeightsIdentity(tiny_weights_id(seed, weights), state_dict_sha256(model.state_dict()), True)
        return model, ident, LoadReport((), ())
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown UMT architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    spec = OFFICIAL_WEIGHTS if weights == "official" else as_spec(weights, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.main_file or resolved.path
    if not path.is_file():
        raise WeightsLoadError(f"no UMT checkpoint file under {resolved.path}")
    model = build(UMTConfig.official() if architecture == "official" else UMTConfig.tiny())
    report = load_state_dict(model, read_checkpoint(path))
    logger.info("umt: loaded %s (sha256 %s)", resolved.weights_id, resolved.sha256)
    return model, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False), report
