"""Shared loading rules for transformers-backed model families (CLAP, CLIP).

`weights` is one of: "tiny" (random init of the family's tiny config under a seed, in memory),
"official" (the family's official HF repository, resolved offline through weights.resolve), or any other
source weights.resolve understands that yields an HF-format directory (a local directory or
`org/name[@revision]`). State dicts load with strict key checks: any missing, unexpected or mismatched key
is an error.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.weights import WeightsIdentity, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)


class WeightsLoadError(RuntimeError):
    """Weights exist but do not fit the architecture (missing/unexpected/mismatched keys, wrong model type)."""


# Weights values that build a randomly initialised model instead of loading one (scores mean nothing):
# "tiny" = a small config of the same architecture (tests, offline demo); "random" = the official architecture
# at full size (load and speed testing without a download).
RANDOM_WEIGHTS = ("tiny", "random")


def tiny_weights_id(seed: int, size: str = "tiny") -> str:
    """The weights id a randomly initialised model reports."""
    return (
        f"tiny-random(seed={seed})" if size == "tiny" else f"random-init(official-architecture, seed={seed})"
    )


def build_tiny(
    model_cls: type, config: Any, seed: int, size: str = "tiny"
) -> tuple[torch.nn.Module, WeightsIdentity]:
    """Randomly initialise model_cls(config) under `seed` without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.eval()
    ident = WeightsIdentity(tiny_weights_id(seed, size), state_dict_sha256(model.state_dict()), tiny=True)
    return model, ident


# transformers swaps torch.nn.init's functions process-wide while from_pretrained builds a model and puts back
# what it found on the way out; two overlapping loads in different threads (a server loads scorers in parallel)
# could leave the no-op versions in place for good, so loads take turns.
_FROM_PRETRAINED_LOCK = threading.Lock()


def load_strict(model_cls: Any, path: Path) -> torch.nn.Module:
    """model_cls.from_pretrained(path) in float32, failing on any key that does not line up."""
    try:
        with _FROM_PRETRAINED_LOCK:
            model, info = model_cls.from_pretrained(str(path), output_loading_info=True, dtype=torch.float32)
    except RuntimeError as e:  # transformers raises itself on shape mismatches
        raise WeightsLoadError(
            f"{model_cls.__name__} weights at {path} do not match the architecture: mismatched_keys ({e})"
        ) from e
    problems = {k: list(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems or info.get("error_msgs"):
        detail = "; ".join(f"{k}: {v[:10]}{' ...' if len(v) > 10 else ''}" for k, v in problems.items())
        raise WeightsLoadError(
            f"{model_cls.__name__} weights at {path} do not match the architecture: {detail}"
        )
    model.eval()
    return model


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it does not exist."""
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def resolve_pretrained(
    family: str, weights: str, *, model_type: str, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, WeightsIdentity]:
    """Resolve "official" or a source to a local HF-format directory whose config.json has model_type."""
    spec = official_spec(family) if weights == "official" else as_spec(weights, name=family)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    if not resolved.path.is_dir():
        raise WeightsLoadError(
            f"{family} weights must be a Hugging Face format directory (config.json + weights), got file {resolved.path}"
        )
    config = read_json(resolved.path / "config.json")
    if config is None:
        raise WeightsLoadError(f"no config.json in {resolved.path}")
    if config.get("model_type") != model_type:
        raise WeightsLoadError(
            f"{resolved.path} holds a {config.get('model_type')!r} model, expected {model_type!r} for {family}"
        )
    return resolved.path, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def load_family(
    family: str,
    weights: str,
    seed: int,
    *,
    model_cls: Any,
    model_type: str,
    tiny: Callable[[int, str], tuple[torch.nn.Module, Any, WeightsIdentity]],
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[torch.nn.Module, Any, WeightsIdentity, Path | None]:
    """(model, tokenizer, identity, directory or None for tiny) for any weights string of a family."""
    if weights in RANDOM_WEIGHTS:
        model, tokenizer, ident = tiny(seed, weights)
        logger.info("%s: built random weights (%s)", family, ident.weights_id)
        return model, tokenizer, ident, None
    from transformers import AutoTokenizer

    path, ident = resolve_pretrained(family, weights, model_type=model_type, cache_dir=cache_dir)
    model = load_strict(model_cls, path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return model, tokenizer, ident, path


def identify_family(
    family: str,
    weights: str,
    seed: int,
    *,
    model_type: str,
    tiny: Callable[[int, str], tuple[torch.nn.Module, Any, WeightsIdentity]],
    cache_dir: str | os.PathLike[str] | None = None,
) -> WeightsIdentity:
    """The identity `load_family` would report, without loading pretrained weights into a model."""
    if weights in RANDOM_WEIGHTS:
        return tiny(seed, weights)[2]
    return resolve_pretrained(family, weights, model_type=model_type, cache_dir=cache_dir)[1]


class ProjectedTextCore(nn.Module):
    """input_ids, attention_mask (B, L) int64 -> projected text embeddings (B, projection_dim), unnormalised.

    The text half of a transformers dual encoder (ClapModel, CLIPModel): its text tower's pooler output through
    its text projection (RoBERTa pooler for CLAP, EOT pooling for CLIP).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.text_model: nn.Module = model.text_model
        self.text_projection: nn.Module = model.text_projection

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Text tower pooler output -> projection."""
        out = self.text_model(input_ids=input_ids, attention_mask=attention_mask)
        return self.text_projection(out.pooler_output)
