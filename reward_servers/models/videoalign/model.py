"""VideoAlign's VideoReward (KwaiVGI/VideoReward): Qwen2-VL-2B + Linear(1536 -> 1) at <|VQ|MQ|TA_reward|>.

specs/models.md §5.1, specs/javisbench.md §6.2. The checkpoint folder holds ``model_config.json`` (data_config,
model_config, inference_config) and ``checkpoint-<step>/model.pth`` (full state dict; the highest step is used,
as upstream ``load_model_from_checkpoint``). The tokenizer comes from the base model Qwen2-VL-2B-Instruct, with
the three reward tokens appended (ids 151657-151659, vocabulary 151660).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.functional.qwen2vl_frames import PATCH_SIZE, VIDEO_MIN_PIXELS
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, read_json, tiny_weights_id
from omninft.reward_servers.models.videoalign.prompt import VIDEOALIGN_DETAILED_SPECIAL
from omninft.reward_servers.weights import (
    WeightsIdentity,
    as_spec,
    cached_sha256,
    resolve_snapshot,
    state_dict_sha256,
)

logger = logging.getLogger(__name__)

OFFICIAL_ID = "KwaiVGI/VideoReward"
BASE_ID = "Qwen/Qwen2-VL-2B-Instruct"
REWARD_TOKENS = ("<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>")
EVAL_DIMS = ("VQ", "MQ", "TA")
SUPPORTED_TEMPLATES = ("detailed_special",)


@dataclass(frozen=True)
class VideoAlignConfig:
    """Architecture sizes plus the checkpoint's data/inference settings (model_config.json)."""

    vocab_size: int = 151660
    hidden_size: int = 1536
    intermediate_size: int = 8960
    num_layers: int = 28
    num_heads: int = 12
    num_kv_heads: int = 2
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    vision_depth: int = 32
    vision_embed_dim: int = 1280
    vision_heads: int = 16
    vision_mlp_ratio: int = 4
    patch_size: int = PATCH_SIZE
    merge_size: int = 2
    output_dim: int = 1
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    # data_config (class defaults of upstream DataConfig are fps 2.0 / 240x320; the checkpoint overrides them)
    fps: float | None = 2.0
    num_frames: int | None = None
    max_pixels: int = 200704
    min_pixels: int = VIDEO_MIN_PIXELS
    sample_type: str = "uniform"
    prompt_template_type: str = "detailed_special"
    # inference_config: per-head (mean, std) used when use_norm=True
    norm: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"VQ": (3.6757, 2.2476), "MQ": (1.1646, 1.3811), "TA": (2.8105, 2.5121)}
    )

    @staticmethod
    def official() -> VideoAlignConfig:
        """VideoReward's architecture and the settings a third-party audit read from its model_config.json."""
        return VideoAlignConfig()

    @staticmethod
    def tiny() -> VideoAlignConfig:
        """2-layer 64-wide LLM, 2-block 32-wide vision tower with 4-pixel patches, small frames (tests)."""
        return VideoAlignConfig(
            **q.TINY_BACKBONE,
            max_pixels=32 * 32,
            min_pixels=16 * 16,
        )

    @property
    def factor(self) -> int:
        """Frame sides are multiples of this (patch x merge)."""
        return self.patch_size * self.merge_size

    def hf_config(self, token_ids: dict[str, int]) -> Any:
        """The transformers Qwen2VLConfig of this architecture (2B ties its LM head to the embeddings)."""
        return q.backbone_config(self, token_ids, tie_word_embeddings=True)


def build_prompt(prompt: str, template_type: str = "detailed_special") -> str:
    """The user text VideoAlign builds around a generation prompt."""
    if template_type not in SUPPORTED_TEMPLATES:
        raise ValueError(f"prompt template {template_type!r} is not supported (only {SUPPORTED_TEMPLATES})")
    return VIDEOALIGN_DETAILED_SPECIAL.format(text_prompt=prompt)


def reward_head(cfg: VideoAlignConfig) -> nn.Module:
    """rm_head: Linear(hidden -> output_dim, bias=False)."""
    return nn.Linear(cfg.hidden_size, cfg.output_dim, bias=False)


@dataclass
class LoadedVideoAlign:
    """A loaded VideoReward: model, tokenizer, settings, token ids and weights identity."""

    model: q.Qwen2VLRewardModel
    tokenizer: Any
    config: VideoAlignConfig
    ids: q.TokenIds
    identity: WeightsIdentity


def _token_ids(tokenizer: Any) -> tuple[dict[str, int], q.TokenIds]:
    named = q.token_ids_of(tokenizer, [*q.QWEN2VL_SPECIAL_TOKENS[:3], *q.QWEN2VL_SPECIAL_TOKENS[9:]])
    special = tuple(int(tokenizer.convert_tokens_to_ids(t)) for t in REWARD_TOKENS)
    return named, q.TokenIds(pad=int(tokenizer.pad_token_id), visual=named[q.VIDEO_PAD], special=special)


def load_random(seed: int, size: str = "tiny", dtype: torch.dtype = torch.float32) -> LoadedVideoAlign:
    """Random weights in `dtype`: the tiny config (tests, demo) or the official architecture ("random")."""
    tokenizer = q.tiny_qwen2_tokenizer(REWARD_TOKENS, corpus=VIDEOALIGN_DETAILED_SPECIAL)
    named, ids = _token_ids(tokenizer)
    cfg = VideoAlignConfig.tiny() if size == "tiny" else VideoAlignConfig.official()
    cfg = replace(cfg, vocab_size=len(tokenizer) if size == "tiny" else cfg.vocab_size)
    model = q.build_model(cfg.hf_config(named), lambda: reward_head(cfg), seed, dtype=dtype)
    ident = WeightsIdentity(tiny_weights_id(seed, size), state_dict_sha256(model.state_dict()), tiny=True)
    return LoadedVideoAlign(model, tokenizer, cfg, ids, ident)


def latest_checkpoint(folder: Path, step: int | None = None) -> Path:
    """checkpoint-<step>/model.pth: the requested step, else the highest one (upstream rule)."""
    found = {}
    for d in folder.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", d.name)
        if m and d.is_dir():
            found[int(m.group(1))] = d
    if not found:
        raise WeightsLoadError(f"no checkpoint-<step> folder in {folder}")
    chosen = found.get(step) if step is not None else None
    if chosen is None:
        chosen = found[max(found)]
    full = chosen / "model.pth"
    if not full.is_file():
        if (chosen / "adapter_model.safetensors").is_file():
            raise WeightsLoadError(
                f"{chosen} holds a LoRA adapter, not a full model.pth; only full checkpoints are supported"
            )
        raise WeightsLoadError(f"no model.pth in {chosen}")
    return full


def config_from_json(data: dict[str, Any], arch: VideoAlignConfig | None = None) -> VideoAlignConfig:
    """`arch` (default VideoAlignConfig.official()) with the data/inference settings of a model_config.json."""
    cfg = arch or VideoAlignConfig.official()
    data_cfg = data.get("data_config", {})
    model_cfg = data.get("model_config", {})
    if not model_cfg.get("use_special_tokens", True) or model_cfg.get("reward_token", "special") != "special":
        raise WeightsLoadError(
            "only VideoReward checkpoints with special reward tokens (reward_token='special') are supported"
        )
    dims = data_cfg.get("eval_dim", list(EVAL_DIMS))
    if list(dims) != list(EVAL_DIMS):
        raise WeightsLoadError(f"eval_dim {dims} is not supported; expected {list(EVAL_DIMS)}")
    if data_cfg.get("sample_type", "uniform") != "uniform":
        raise WeightsLoadError(
            f"sample_type {data_cfg.get('sample_type')!r} is not supported (only 'uniform')"
        )
    template = data_cfg.get("prompt_template_type", cfg.prompt_template_type)
    if template not in SUPPORTED_TEMPLATES:
        raise WeightsLoadError(
            f"prompt_template_type {template!r} is not supported (only {SUPPORTED_TEMPLATES})"
        )
    inf = data.get("inference_config") or {}
    norm = dict(cfg.norm)
    for d in EVAL_DIMS:
        if f"{d}_mean" in inf and f"{d}_std" in inf:
            norm[d] = (float(inf[f"{d}_mean"]), float(inf[f"{d}_std"]))
    num_frames = data_cfg.get("num_frames")
    return replace(
        cfg,
        output_dim=int(model_cfg.get("output_dim", 1)),
        fps=None if num_frames is not None else float(data_cfg.get("fps", 2.0)),
        num_frames=None if num_frames is None else int(num_frames),
        max_pixels=int(data_cfg.get("max_frame_pixels", 240 * 320)),
        sample_type="uniform",
        prompt_template_type=template,
        norm=norm,
    )


def _base_dir(folder: Path, data: dict[str, Any], cache_dir: str | os.PathLike[str] | None) -> Path:
    """Where the tokenizer files are: the checkpoint folder itself, a local base path, or Qwen2-VL-2B-Instruct."""
    if (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file():
        return folder
    base = str(data.get("model_config", {}).get("model_name_or_path") or "")
    if base and Path(base).expanduser().is_dir():
        return Path(base).expanduser()
    return resolve_snapshot(official_spec("videoalign_base"), cache_dir=cache_dir)


def arch_from_folder(folder: Path) -> VideoAlignConfig | None:
    """The architecture of a Qwen2-VL `config.json` in `folder` (None when there is none)."""
    data = read_json(folder / "config.json")
    if data is None:
        return None
    try:
        fields = q.backbone_from_hf_config(data)
    except ValueError as e:
        raise WeightsLoadError(f"{folder / 'config.json'}: {e}") from e
    return replace(VideoAlignConfig.official(), **fields)


def load_pretrained(
    weights: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    step: int | None = None,
    dtype: torch.dtype = torch.bfloat16,
    arch: VideoAlignConfig | None = None,
) -> LoadedVideoAlign:
    """VideoReward from "official" (KwaiVGI/VideoReward, offline) or a local folder / HF id of the same layout.

    The architecture is, in order: `arch` if given; else the Qwen2-VL `config.json` next to the tokenizer (the
    checkpoint folder or its model_config.json `model_name_or_path`, as the reference builds the model from
    that path), so any Qwen2-VL size saved with save_pretrained loads; else the official 2B sizes.
    """
    from transformers import AutoTokenizer

    spec = official_spec("videoalign") if weights == "official" else as_spec(weights, name="videoalign")
    folder = resolve_snapshot(spec, cache_dir=cache_dir)
    data = read_json(folder / "model_config.json")
    if data is None:
        raise WeightsLoadError(f"no model_config.json in {folder}")
    base_dir = _base_dir(folder, data, cache_dir)
    if arch is None:
        arch = arch_from_folder(base_dir)
    cfg = config_from_json(data, arch)
    ckpt = latest_checkpoint(folder, step)
    state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    cfg = replace(cfg, vocab_size=q.checkpoint_vocab_size(state))
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    q.add_reward_tokens(tokenizer, REWARD_TOKENS)
    if len(tokenizer) != cfg.vocab_size:
        raise WeightsLoadError(
            f"tokenizer has {len(tokenizer)} tokens but the checkpoint embeds {cfg.vocab_size}"
        )
    named, ids = _token_ids(tokenizer)
    model = q.build_empty(cfg.hf_config(named), reward_head(cfg), dtype=dtype)
    try:
        q.load_official_state_dict(model, state)
    except q.CheckpointLayoutError as e:
        raise WeightsLoadError(f"VideoReward checkpoint {ckpt}: {e}") from e
    ident = WeightsIdentity(f"{spec.display}:{ckpt.parent.name}", cached_sha256(ckpt), tiny=False)
    logger.info("videoalign: loaded %s (%s)", ckpt, ident.sha256[:12])
    return LoadedVideoAlign(model, tokenizer, cfg, ids, ident)


def load(
    weights: str,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    step: int | None = None,
    dtype: torch.dtype = torch.bfloat16,
) -> LoadedVideoAlign:
    """VideoReward for "tiny", "random", "official" or a local folder / HF id (see load_pretrained)."""
    if weights in RANDOM_WEIGHTS:
        return load_random(seed, weights, torch.float32 if weights == "tiny" else dtype)
    return load_pretrained(weights, cache_dir=cache_dir, step=step, dtype=dtype)


def load_official(
    source: str = "official",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    step: int | None = None,
    dtype: torch.dtype = torch.bfloat16,
    arch: VideoAlignConfig | None = None,
) -> LoadedVideoAlign:
    """The official checkpoint (or `source`: a local copy / HF id of the same layout), offline, strict keys."""
    return load_pretrained(source, cache_dir=cache_dir, step=step, dtype=dtype, arch=arch)


def fetch_official(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Download VideoReward and Qwen2-VL-2B-Instruct's tokenizer files (the only step that uses the network)."""
    folder = resolve_snapshot(official_spec("videoalign"), cache_dir=cache_dir, offline=False)
    resolve_snapshot(official_spec("videoalign_base"), cache_dir=cache_dir, offline=False)
    return folder
