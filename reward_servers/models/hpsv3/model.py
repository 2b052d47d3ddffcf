"""HPSv3 (MizzenAI/HPSv3): Qwen2-VL-7B + a 3-layer "ranknet" head in fp32, pooled at one <|Reward|> token.

specs/models.md §5.2. The head maps the hidden state to (mu, sigma) of the uncertainty-aware ranking loss; the
score is mu. Checkpoint: ``HPSv3.safetensors``, a full state dict (upstream loads it with strict=True); the
tokenizer is Qwen2-VL-7B-Instruct's plus ``<|Reward|>`` (id 151657, vocabulary 151658). Images are resized to
about 256 x 28 x 28 pixels (min_pixels = max_pixels = 200704).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.functional.qwen2vl_frames import PATCH_SIZE
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, read_json, tiny_weights_id
from omninft.reward_servers.models.hpsv3.prompt import HPSV3_INSTRUCTION, HPSV3_REWARD_SUFFIX
from omninft.reward_servers.weights import (
    WeightsIdentity,
    as_spec,
    resolve,
    resolve_snapshot,
    state_dict_sha256,
)

logger = logging.getLogger(__name__)

OFFICIAL_ID = "MizzenAI/HPSv3"
BASE_ID = "Qwen/Qwen2-VL-7B-Instruct"
CHECKPOINT_FILE = "HPSv3.safetensors"
REWARD_TOKENS = ("<|Reward|>",)
IMAGE_PIXELS = 256 * 28 * 28


@dataclass(frozen=True)
class HPSv3Config:
    """Architecture sizes, the ranknet head and the image pixel budget (min = max)."""

    vocab_size: int = 151658
    hidden_size: int = 3584
    intermediate_size: int = 18944
    num_layers: int = 28
    num_heads: int = 28
    num_kv_heads: int = 4
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    vision_depth: int = 32
    vision_embed_dim: int = 1280
    vision_heads: int = 16
    vision_mlp_ratio: int = 4
    patch_size: int = PATCH_SIZE
    merge_size: int = 2
    head_hidden: int = 1024
    head_bottleneck: int = 16
    head_dropout: float = 0.05
    output_dim: int = 2
    image_pixels: int = IMAGE_PIXELS
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0

    @staticmethod
    def official() -> HPSv3Config:
        """HPSv3_7B.yaml on Qwen2-VL-7B-Instruct."""
        return HPSv3Config()

    @staticmethod
    def tiny() -> HPSv3Config:
        """2-layer 64-wide LLM, 2-block vision tower with 4-pixel patches, small head and images (tests)."""
        return HPSv3Config(
            **q.TINY_BACKBONE,
            head_hidden=32,
            head_bottleneck=8,
            image_pixels=24 * 32,
        )

    @property
    def factor(self) -> int:
        """Image sides are multiples of this (patch x merge)."""
        return self.patch_size * self.merge_size

    def hf_config(self, token_ids: dict[str, int]) -> Any:
        """The transformers Qwen2VLConfig of this architecture (7B does not tie its LM head)."""
        return q.backbone_config(self, token_ids, tie_word_embeddings=False)


def build_prompt(prompt: str) -> str:
    """The user text HPSv3 builds around a generation prompt (instruction + reward-token suffix)."""
    return HPSV3_INSTRUCTION.format(text_prompt=prompt) + HPSV3_REWARD_SUFFIX


def reward_head(cfg: HPSv3Config) -> nn.Module:
    """The default "ranknet" head: Linear -> ReLU -> Dropout -> Linear -> ReLU -> Linear (keys rm_head.0/.3/.5)."""
    return nn.Sequential(
        nn.Linear(cfg.hidden_size, cfg.head_hidden),
        nn.ReLU(),
        nn.Dropout(cfg.head_dropout),
        nn.Linear(cfg.head_hidden, cfg.head_bottleneck),
        nn.ReLU(),
        nn.Linear(cfg.head_bottleneck, cfg.output_dim),
    )


@dataclass
class LoadedHPSv3:
    """A loaded HPSv3: model, tokenizer, settings, token ids and weights identity."""

    model: q.Qwen2VLRewardModel
    tokenizer: Any
    config: HPSv3Config
    ids: q.TokenIds
    identity: WeightsIdentity


def _token_ids(tokenizer: Any) -> tuple[dict[str, int], q.TokenIds]:
    named = q.token_ids_of(tokenizer, [*q.QWEN2VL_SPECIAL_TOKENS[:3], *q.QWEN2VL_SPECIAL_TOKENS[9:]])
    special = tuple(int(tokenizer.convert_tokens_to_ids(t)) for t in REWARD_TOKENS)
    return named, q.TokenIds(pad=int(tokenizer.pad_token_id), visual=named[q.IMAGE_PAD], special=special)


def load_random(seed: int, size: str = "tiny", dtype: torch.dtype = torch.float32) -> LoadedHPSv3:
    """Random weights in `dtype` (head float32): the tiny config (tests, demo) or the official architecture."""
    tokenizer = q.tiny_qwen2_tokenizer(REWARD_TOKENS, corpus=HPSV3_INSTRUCTION)
    named, ids = _token_ids(tokenizer)
    cfg = HPSv3Config.tiny() if size == "tiny" else HPSv3Config.official()
    cfg = replace(cfg, vocab_size=len(tokenizer) if size == "tiny" else cfg.vocab_size)
    model = q.build_model(
        cfg.hf_config(named), lambda: reward_head(cfg), seed, head_dtype=torch.float32, dtype=dtype
    )
    ident = WeightsIdentity(tiny_weights_id(seed, size), state_dict_sha256(model.state_dict()), tiny=True)
    return LoadedHPSv3(model, tokenizer, cfg, ids, ident)


def _tokenizer_dir(folder: Path, cache_dir: str | os.PathLike[str] | None) -> Path:
    """The checkpoint folder when it carries tokenizer files, else Qwen2-VL-7B-Instruct's text files."""
    if (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file():
        return folder
    return resolve_snapshot(official_spec("hpsv3_base"), cache_dir=cache_dir)


def _arch_from_folder(folder: Path) -> HPSv3Config | None:
    """The architecture of a Qwen2-VL `config.json` in `folder` (None when there is none)."""
    data = read_json(folder / "config.json")
    if data is None:
        return None
    try:
        fields = q.backbone_from_hf_config(data)
    except ValueError as e:
        raise WeightsLoadError(f"{folder / 'config.json'}: {e}") from e
    return replace(HPSv3Config.official(), **fields)


def load_pretrained(
    weights: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: torch.dtype = torch.bfloat16,
    arch: HPSv3Config | None = None,
) -> LoadedHPSv3:
    """HPSv3 from "official" (MizzenAI/HPSv3, offline), a local HPSv3.safetensors / folder, or an HF id.

    The architecture is `arch` if given, else the Qwen2-VL `config.json` beside the tokenizer files in the
    checkpoint folder (any size saved with save_pretrained), else the official 7B sizes.
    """
    import safetensors.torch
    from transformers import AutoTokenizer

    spec = official_spec("hpsv3") if weights == "official" else as_spec(weights, name="hpsv3")
    resolved = resolve(spec, cache_dir=cache_dir)
    ckpt = resolved.path / CHECKPOINT_FILE if resolved.path.is_dir() else resolved.path
    if not ckpt.is_file():
        ckpt = resolved.main_file or ckpt
    if ckpt.suffix == ".safetensors":
        state: dict[str, torch.Tensor] = safetensors.torch.load_file(str(ckpt), device="cpu")
    else:
        state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
        if "model" in state and isinstance(state["model"], dict):
            state = state["model"]
    folder = resolved.path if resolved.path.is_dir() else resolved.path.parent
    tok_dir = _tokenizer_dir(folder, cache_dir)
    if arch is None:
        arch = _arch_from_folder(tok_dir)
        if arch is not None and "rm_head.0.weight" in state and "rm_head.3.weight" in state:
            # the ranknet head sizes are HPSv3's own config, not Qwen2-VL's: take them from the checkpoint
            arch = replace(
                arch,
                head_hidden=int(state["rm_head.0.weight"].shape[0]),
                head_bottleneck=int(state["rm_head.3.weight"].shape[0]),
            )
    cfg = replace(arch or HPSv3Config.official(), vocab_size=q.checkpoint_vocab_size(state))
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    q.add_reward_tokens(tokenizer, REWARD_TOKENS)
    if len(tokenizer) != cfg.vocab_size:
        raise WeightsLoadError(
            f"tokenizer has {len(tokenizer)} tokens but the checkpoint embeds {cfg.vocab_size}"
        )
    named, ids = _token_ids(tokenizer)
    model = q.build_empty(cfg.hf_config(named), reward_head(cfg), dtype=dtype, head_dtype=torch.float32)
    try:
        q.load_official_state_dict(model, state)
    except q.CheckpointLayoutError as e:
        raise WeightsLoadError(f"HPSv3 checkpoint {ckpt}: {e}") from e
    ident = WeightsIdentity(
        resolved.weights_id, resolved.file_sha256.get(ckpt.name, resolved.sha256), tiny=False
    )
    logger.info("hpsv3: loaded %s (%s)", ckpt, ident.sha256[:12])
    return LoadedHPSv3(model, tokenizer, cfg, ids, ident)


def load(
    weights: str,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: torch.dtype = torch.bfloat16,
) -> LoadedHPSv3:
    """HPSv3 for "tiny", "random", "official" or a local file / folder / HF id (see load_pretrained)."""
    if weights in RANDOM_WEIGHTS:
        return load_random(seed, weights, torch.float32 if weights == "tiny" else dtype)
    return load_pretrained(weights, cache_dir=cache_dir, dtype=dtype)


def load_official(
    source: str = "official",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: torch.dtype = torch.bfloat16,
    arch: HPSv3Config | None = None,
) -> LoadedHPSv3:
    """The official checkpoint (or `source`: a local copy / HF id of the same layout), offline, strict keys."""
    return load_pretrained(source, cache_dir=cache_dir, dtype=dtype, arch=arch)


def fetch_official(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Download HPSv3.safetensors and Qwen2-VL-7B-Instruct's tokenizer files (the only step that uses the network)."""
    resolved = resolve(official_spec("hpsv3"), cache_dir=cache_dir, offline=False)
    resolve_snapshot(official_spec("hpsv3_base"), cache_dir=cache_dir, offline=False)
    return resolved.path
