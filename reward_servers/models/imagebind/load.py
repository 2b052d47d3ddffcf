"""Loading ImageBind weights: tiny/random initialisation, or the official `imagebind_huge.pth` (strict keys).

`weights`: "tiny" (small random model + tiny tokenizer), "random" (full-size architecture, random init),
"official" (models.imagebind.WEIGHTS, resolved offline), or any local path / URL holding a state dict
with the official key layout. Only the vision, text and audio entries are kept; the checkpoint's depth,
thermal and IMU entries are dropped, and every remaining key must match the model exactly.
The text side needs the CLIP BPE file ("imagebind_bpe" in models.imagebind.WEIGHTS, or `tokenizer_source`).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.models.imagebind.model import MODALITIES, ImageBindConfig, ImageBindModel, build
from omninft.reward_servers.models.imagebind.tokenizer import ImageBindTokenizer
from omninft.reward_servers.weights import WeightsIdentity, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)

FAMILY = "imagebind"
TOP_LEVEL = ("modality_preprocessors", "modality_trunks", "modality_heads", "modality_postprocessors")
ALL_MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")
ARCHITECTURES = ("huge", "tiny")


def select_modalities(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The vision/text/audio entries of an official-layout state dict; unknown key families are an error."""
    kept: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if len(parts) < 3 or parts[0] not in TOP_LEVEL or parts[1] not in ALL_MODALITIES:
            raise WeightsLoadError(f"unexpected key {key!r}: not an ImageBind state dict (official layout)")
        if parts[1] in MODALITIES:
            kept[key] = value
    return kept


def load_state_dict(
    model: ImageBindModel, state_dict: Mapping[str, torch.Tensor], *, assign: bool = False
) -> None:
    """Load the vision/text/audio part of an official-layout state dict with strict key and shape checks."""
    wanted = select_modalities(state_dict)
    own = model.state_dict()
    mismatched = [
        f"{k}: {tuple(v.shape)} != {tuple(own[k].shape)}"
        for k, v in wanted.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = sorted(set(own) - set(wanted))
    unexpected = sorted(set(wanted) - set(own))
    if mismatched or missing or unexpected:
        detail = "; ".join(
            f"{name}: {keys[:8]}{' ...' if len(keys) > 8 else ''}"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched))
            if keys
        )
        raise WeightsLoadError(f"ImageBind weights do not match the architecture: {detail}")
    model.load_state_dict({k: v.float() for k, v in wanted.items()}, strict=True, assign=assign)


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if path.is_dir():
        raise WeightsLoadError(f"ImageBind weights must be a single state-dict file, got directory {path}")
    try:
        try:  # mmap keeps the 4.5 GB file out of RAM until the tensors are used; legacy (non-zip) files refuse it
            sd = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as e:
        raise WeightsLoadError(f"cannot read an ImageBind state dict from {path}: {e}") from e
    if isinstance(sd, Mapping) and "model" in sd and isinstance(sd["model"], Mapping):
        sd = sd["model"]
    if not isinstance(sd, Mapping):
        raise WeightsLoadError(f"{path} does not hold a state dict")
    return sd


def load_official(
    source: str = "official",
    *,
    config: ImageBindConfig | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[ImageBindModel, WeightsIdentity]:
    """(model in eval mode, identity with the file's sha256) from "official", a local path or a URL (offline)."""
    spec = official_spec(FAMILY) if source == "official" else as_spec(source, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    sd = _read_state_dict(resolved.main_file or resolved.path)
    model = build(config or ImageBindConfig.huge(), device="meta")  # no second copy of 4.5 GB
    load_state_dict(model, sd, assign=True)
    model.eval()
    logger.info("imagebind: loaded %s (sha256 %s)", resolved.weights_id, resolved.sha256)
    return model, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def _tiny_config_for(source: str, cache_dir: str | os.PathLike[str] | None) -> ImageBindConfig:
    """The tiny config with the vocabulary size of a saved tiny state dict (it follows its tokenizer)."""
    resolved = resolve(as_spec(source, name=FAMILY), cache_dir=cache_dir, offline=True)
    sd = _read_state_dict(resolved.main_file or resolved.path)
    emb = sd.get("modality_preprocessors.text.token_embedding.weight")
    return ImageBindConfig.tiny(vocab_size=int(emb.shape[0])) if emb is not None else ImageBindConfig.tiny()


def load_tokenizer(
    source: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None, keep_eot: bool = False
) -> ImageBindTokenizer:
    """The official BPE tokenizer: `source` (a bpe .txt.gz path or URL) or "imagebind_bpe" in models.imagebind.WEIGHTS."""
    spec = (
        official_spec("imagebind_bpe")
        if source in (None, "", "official")
        else as_spec(str(source), name="imagebind_bpe")
    )
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    return ImageBindTokenizer.from_bpe_file(resolved.main_file or resolved.path, keep_eot=keep_eot)


def load(
    weights: str,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    tokenizer_source: str | None = None,
    keep_eot: bool = False,
    architecture: str = "huge",
) -> tuple[ImageBindModel, ImageBindTokenizer, WeightsIdentity]:
    """(model, tokenizer, identity) for any weights string (see the module docstring).

    `architecture` ("huge" or "tiny") is the config a weights file is loaded into; state dicts do not record
    head counts, so it cannot be inferred.
    """
    if weights == "tiny":
        tok = ImageBindTokenizer.tiny(keep_eot=keep_eot)
        model = build(ImageBindConfig.tiny(vocab_size=tok.vocab_size), seed=seed)
        return (
            model,
            tok,
            WeightsIdentity(tiny_weights_id(seed, "tiny"), state_dict_sha256(model.state_dict()), True),
        )
    if weights in RANDOM_WEIGHTS:  # "random": full size, random init (load/speed testing)
        try:
            tok = load_tokenizer(tokenizer_source, cache_dir=cache_dir, keep_eot=keep_eot)
        except FileNotFoundError:
            logger.warning("imagebind: CLIP BPE file not available; random weights use the tiny tokenizer")
            tok = ImageBindTokenizer.tiny(keep_eot=keep_eot)
        model = build(ImageBindConfig.huge(), seed=seed)
        return (
            model,
            tok,
            WeightsIdentity(tiny_weights_id(seed, "random"), state_dict_sha256(model.state_dict()), True),
        )
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown ImageBind architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    config = ImageBindConfig.huge() if architecture == "huge" else ImageBindConfig.tiny()
    if weights != "official" and architecture == "tiny":
        config = _tiny_config_for(weights, cache_dir)
    model, ident = load_official(weights, config=config, cache_dir=cache_dir)
    tok = load_tokenizer(tokenizer_source, cache_dir=cache_dir, keep_eot=keep_eot)
    if tok.vocab_size > model.config.vocab_size:
        raise WeightsLoadError(f"tokenizer has {tok.vocab_size} ids, the model {model.config.vocab_size}")
    return model, tok, ident


def describe(model: ImageBindModel) -> dict[str, Any]:
    """Parameter counts per modality (state-dict entries, buffers included, as specs/models.md §1.1 counts)."""
    sd = model.state_dict()
    return {m: sum(v.numel() for k, v in sd.items() if k.split(".")[1] == m) for m in MODALITIES}
