"""Synchformer (specs/models.md §2): the full model, construction, official loading and exportable cores.

Official weights: MMAudio's ``synchformer_state_dict.pth`` (a plain state dict of checkpoint
24-01-04T16-39-21, md5 5b2f5594b0730f70e41e549b7c94390c), loaded with strict=True. The original
``24-01-04T16-39-21.pt`` (weights under the key ``model``) loads too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.models._state_dict import load_torch_file
from omninft.reward_servers.models.synchformer.calibrate import calibrate_random
from omninft.reward_servers.models.synchformer.config import SynchformerConfig
from omninft.reward_servers.models.synchformer.streams import ASTFeatureExtractor, MotionFormer
from omninft.reward_servers.models.synchformer.sync import GlobalTransformer
from omninft.reward_servers.weights import WeightsIdentity, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)

FAMILY = "synchformer"
OFFICIAL_PARAMS = 237_460_245  # counted on the av-benchmark class (specs/models.md §2.1)
OFFICIAL_KEYS = 513


class Synchformer(nn.Module):
    """vfeat_extractor (MotionFormer), afeat_extractor (AST), vproj/aproj and the sync transformer."""

    def __init__(self, cfg: SynchformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vfeat_extractor = MotionFormer(cfg)
        self.afeat_extractor = ASTFeatureExtractor(cfg)
        self.vproj = nn.Linear(cfg.video_dim, cfg.sync_dim)
        self.aproj = nn.Linear(cfg.audio_dim, cfg.sync_dim)
        self.transformer = GlobalTransformer(cfg)

    def extract_vfeats(self, segments: torch.Tensor) -> torch.Tensor:
        """(N, 16, 3, 224, 224) -> (N, 8, D_video)."""
        return self.vfeat_extractor(segments)

    def extract_afeats(self, mel: torch.Tensor) -> torch.Tensor:
        """(N, 1, 128, 66) -> (N, 6, D_audio)."""
        return self.afeat_extractor(mel)

    def compare_v_a(self, vis: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        """vis (W, 14, 8, Dv), aud (W, 14, 6, Da) -> offset logits (W, 21)."""
        v = self.vproj(vis).flatten(1, 2)
        a = self.aproj(aud).flatten(1, 2)
        return self.transformer(v, a)


def _init_random(model: Synchformer) -> None:
    """Small random values for every learned token/table (zeros would make tiny models degenerate)."""
    for name, p in model.named_parameters():
        if name.endswith(
            (
                "cls_token",
                "pos_embed",
                "temp_embed",
                "OFF_tok",
                "MOD_tok",
                "pos_emb",
                "distillation_token",
                "position_embeddings",
            )
        ):
            nn.init.trunc_normal_(p, std=0.02)


def build(cfg: SynchformerConfig, *, seed: int | None = 0, device: str | torch.device = "cpu") -> Synchformer:
    """A Synchformer of `cfg` in eval mode; random init under `seed` (None: leave the global RNG alone)."""
    with torch.device(device):
        if seed is None or torch.device(device).type == "meta":
            model = Synchformer(cfg)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = Synchformer(cfg)
                _init_random(model)
    return model.eval()


def extract_state_dict(obj: Any) -> Mapping[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint: MMAudio's plain dict, or the original's under `model`."""
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsLoadError(
            "Synchformer checkpoint is not a state dict of tensors (nor one under 'model')"
        )
    return obj


def load_state_dict_strict(model: Synchformer, sd: Mapping[str, torch.Tensor], where: str) -> None:
    """load_state_dict(strict=True) with a WeightsLoadError naming the offending keys."""
    try:
        model.load_state_dict(dict(sd), strict=True, assign=True)
    except RuntimeError as e:
        raise WeightsLoadError(f"Synchformer weights at {where} do not match the architecture: {e}") from e
    meta = [n for n, p in model.state_dict().items() if p.is_meta]
    if meta:
        raise WeightsLoadError(f"Synchformer weights at {where} left parameters unset: {meta[:5]}")


def load_official(
    source: str = "official",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    cfg: SynchformerConfig | None = None,
) -> tuple[Synchformer, WeightsIdentity]:
    """Load the official checkpoint ("official" = the MMAudio release file) or a local path / URL, offline."""
    spec = official_spec(FAMILY) if source == "official" else as_spec(source, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.main_file or resolved.path
    if path.is_dir():
        raise WeightsLoadError(f"Synchformer weights must be a single .pth/.pt file, got directory {path}")
    sd = extract_state_dict(load_torch_file(path))
    model = build(cfg or SynchformerConfig.official(), device="meta")
    load_state_dict_strict(model, {k: v.float() for k, v in sd.items()}, str(path))
    return model.eval(), WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Synchformer, WeightsIdentity]:
    """(model, identity) for "tiny" (random, offset head calibrated), "random" (official size, raw random init),
    "official", a path or a URL."""
    if weights in RANDOM_WEIGHTS:
        cfg = SynchformerConfig.tiny() if weights == "tiny" else SynchformerConfig.official()
        model = build(cfg, seed=seed)
        if weights == "tiny":  # full-size random weights stay raw: calibrating them costs minutes on a CPU
            calibrate_random(model)
        ident = WeightsIdentity(
            tiny_weights_id(seed, weights), state_dict_sha256(model.state_dict()), tiny=True
        )
        logger.info("synchformer: built random weights (%s)", ident.weights_id)
        return model, ident
    return load_official(weights, cache_dir=cache_dir)


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements (works on the meta device)."""
    return sum(p.numel() for p in model.parameters())


class VideoCore(nn.Module):
    """Graph "video": segments (N, 16, 3, 224, 224) -> vfeats (N, 8, D)."""

    def __init__(self, model: Synchformer) -> None:
        super().__init__()
        self.vfeat_extractor = model.vfeat_extractor

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        """MotionFormer + spatial pooling."""
        return self.vfeat_extractor(segments)


class AudioCore(nn.Module):
    """Graph "audio": mel (N, 1, 128, 66) -> afeats (N, 6, D)."""

    def __init__(self, model: Synchformer) -> None:
        super().__init__()
        self.afeat_extractor = model.afeat_extractor

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """AST + frequency pooling."""
        return self.afeat_extractor(mel)


class SyncCore(nn.Module):
    """Graph "sync": vfeats (W, 14, 8, Dv), afeats (W, 14, 6, Da) -> logits (W, 21)."""

    def __init__(self, model: Synchformer) -> None:
        super().__init__()
        self.vproj = model.vproj
        self.aproj = model.aproj
        self.transformer = model.transformer

    def forward(self, vfeats: torch.Tensor, afeats: torch.Tensor) -> torch.Tensor:
        """Project both streams, run the sync transformer, return the offset logits."""
        return self.transformer(self.vproj(vfeats).flatten(1, 2), self.aproj(afeats).flatten(1, 2))
