"""Loading Audiobox Aesthetics weights: "tiny", "random", "official", or a local/HF/URL source.

Accepted layouts (specs/models.md §3.3):
- the HF repository `facebook/audiobox-aesthetics` (what `initialize_predictor()` loads): a directory with
  `config.json` (AesMultiOutput fields incl. `target_transform`) and `model.safetensors`;
- the original `checkpoint.pt`: a dict with `state_dict` (keys prefixed `model.`), `model_cfg` and
  `target_transform`.
Keys are mapped to this package's names and loaded with strict checks.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.models._state_dict import load_torch_file
from omninft.reward_servers.models.audiobox import config as cfgmod
from omninft.reward_servers.models.audiobox.config import AudioboxConfig
from omninft.reward_servers.models.audiobox.keys import official_to_local
from omninft.reward_servers.models.audiobox.model import AudioboxAesthetics, build
from omninft.reward_servers.weights import WeightsIdentity, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)

FAMILY = "audiobox_aesthetics"
OFFICIAL_ID = "facebook/audiobox-aesthetics"


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(official-layout state dict, AesMultiOutput config fields) from a directory or a checkpoint file."""
    if path.is_dir():
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise WeightsLoadError(f"no config.json (with target_transform) in {path}")
        st = sorted(path.glob("*.safetensors"))
        if not st:
            raise WeightsLoadError(f"no *.safetensors weights in {path}")
        from safetensors import safe_open

        sd: dict[str, torch.Tensor] = {}
        for f in st:  # memory-mapped: tensors are read when the model copies them
            with safe_open(str(f), framework="pt", device="cpu") as fh:
                sd.update({k: fh.get_tensor(k) for k in fh.keys()})  # noqa: SIM118 (safe_open has no __iter__)
        return sd, json.loads(cfg_file.read_text())
    if path.suffix == ".safetensors":
        return _read_checkpoint(path.parent)
    try:
        ckpt = load_torch_file(path)
    except Exception as e:  # pickles with non-allowlisted classes are refused rather than executed
        raise WeightsLoadError(f"cannot read Audiobox checkpoint {path} safely (weights_only): {e}") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise WeightsLoadError(f"{path} is not an Audiobox checkpoint.pt (no 'state_dict' entry)")
    sd = {re.sub(r"^model\.", "", k): v for k, v in ckpt["state_dict"].items()}
    keep = (*cfgmod.SUPPORTED_HEAD_KEYS, cfgmod.WAVLM_CONFIG_KEY)
    fields = {k: v for k, v in dict(ckpt.get("model_cfg") or {}).items() if k in keep}
    fields["target_transform"] = ckpt.get("target_transform")
    return sd, fields


def load_official(
    source: str = "official", *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[dict[str, torch.Tensor], AudioboxConfig, WeightsIdentity]:
    """(state dict in this package's names, config, identity) from the official weights or another source."""
    spec = official_spec(FAMILY) if source == "official" else as_spec(source, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    raw, fields = _read_checkpoint(resolved.path)
    try:
        config = cfgmod.from_checkpoint_config(fields)
    except ValueError as e:
        raise WeightsLoadError(f"Audiobox checkpoint at {resolved.path}: {e}") from e
    try:
        sd = official_to_local(raw)
    except KeyError as e:
        raise WeightsLoadError(
            f"Audiobox weights at {resolved.path} do not match the architecture: unexpected_keys {e}"
        ) from e
    return sd, config, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def load_state(model: AudioboxAesthetics, sd: dict[str, torch.Tensor]) -> None:
    """Strict load: any missing, unexpected or mis-shaped key is a WeightsLoadError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    mismatched = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    problems = {"missing_keys": missing, "unexpected_keys": unexpected, "mismatched_keys": mismatched}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        detail = "; ".join(f"{k}: {v[:10]}{' ...' if len(v) > 10 else ''}" for k, v in problems.items())
        raise WeightsLoadError(f"Audiobox weights do not match the architecture: {detail}")
    model.load_state_dict(sd, strict=True)


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[AudioboxAesthetics, WeightsIdentity]:
    """(model in eval mode, identity) for "tiny", "random", "official" or a local path / HF id / URL."""
    if weights in RANDOM_WEIGHTS:
        config = cfgmod.tiny() if weights == "tiny" else cfgmod.official()
        model = build(config, seed)
        ident = WeightsIdentity(
            tiny_weights_id(seed, weights), state_dict_sha256(model.state_dict()), tiny=True
        )
        logger.info("%s: built random weights (%s)", FAMILY, ident.weights_id)
        return model, ident
    sd, config, ident = load_official(weights, cache_dir=cache_dir)
    if config.precision not in ("32", "64"):
        logger.warning(
            "%s checkpoint asks for precision %s (autocast upstream); running float32",
            FAMILY,
            config.precision,
        )
    with torch.device("meta"):
        model = AudioboxAesthetics(config)
    model = model.to_empty(device="cpu")
    load_state(model, sd)
    return model.eval(), ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report; pretrained weights are resolved and hashed, not loaded."""
    if weights in RANDOM_WEIGHTS:
        return load(weights, seed)[1]
    spec = official_spec(FAMILY) if weights == "official" else as_spec(weights, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    return WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)
