"""Qwen2-VL reward models (VideoAlign's VideoReward, HPSv3): backbone + reward head pooled at special tokens.

Both upstream models subclass transformers 4.45's ``Qwen2VLForConditionalGeneration`` and override its forward:
token embeddings, vision features scattered into the image/video placeholder positions, the text decoder
called with ``position_ids=None`` (so every token, visual ones included, gets the plain 1-D position
0..L-1 on all three M-RoPE axes, not the 3-D vision positions of generation), then a reward head on the
hidden states at the special reward tokens, in sequence order. This module re-hosts that on transformers 5's
``Qwen2VLModel`` (``visual`` + ``language_model``), reproducing the 1-D positions by calling the text model
without position ids. The unused ``lm_head`` is not built; its checkpoint key is checked and dropped.

Checkpoint layout (upstream ``state_dict()`` under transformers 4.45): ``model.*`` (text decoder),
``visual.*`` (vision tower), ``lm_head.weight``, ``rm_head.*``. Keys already in the transformers >= 4.52
layout (``model.language_model.*``, ``model.visual.*``) are accepted too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from omninft.reward_servers.functional.qwen2vl_frames import num_visual_tokens

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
ENDOFTEXT = "<|endoftext|>"
# Qwen2-VL's special tokens in id order after the byte-level vocabulary (ids 151643.. in the official tokenizer).
QWEN2VL_SPECIAL_TOKENS = (
    ENDOFTEXT,
    IM_START,
    IM_END,
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    VISION_START,
    VISION_END,
    "<|vision_pad|>",
    IMAGE_PAD,
    VIDEO_PAD,
)
DEFAULT_SYSTEM = "You are a helpful assistant."
DROPPED_KEYS = ("lm_head.weight",)


class CheckpointLayoutError(RuntimeError):
    """A state dict whose keys or shapes do not line up with the reward model."""


def chat_text(user_text: str, visual: str, *, visual_tokens: int) -> str:
    """The Qwen2-VL chat template for one user turn [visual, text] + generation prompt, placeholders expanded.

    `visual` is "image" or "video"; the single placeholder token is repeated once per LLM visual token, as the
    processor does before tokenising.
    """
    pad = {"image": IMAGE_PAD, "video": VIDEO_PAD}[visual]
    return (
        f"{IM_START}system\n{DEFAULT_SYSTEM}{IM_END}\n"
        f"{IM_START}user\n{VISION_START}{pad * visual_tokens}{VISION_END}{user_text}{IM_END}\n"
        f"{IM_START}assistant\n"
    )


@dataclass(frozen=True)
class TokenIds:
    """Token ids the reward forward needs."""

    pad: int
    visual: int  # image or video placeholder, whichever this model feeds
    special: tuple[int, ...]  # reward tokens, in the order the prompt contains them


@dataclass(frozen=True)
class RewardInput:
    """One preprocessed sample: token ids, patch rows, and the patch grid of its single visual input."""

    input_ids: np.ndarray  # (L,) int64
    pixel_values: np.ndarray  # (N, C * tp * p * p) float32
    grid_thw: tuple[int, int, int]


def encode(
    tokenizer: Any, text: str, ids: TokenIds, *, grid_thw: tuple[int, int, int], merge_size: int
) -> np.ndarray:
    """Token ids of a rendered chat text; checks the visual and reward-token counts (a prompt may not fake them)."""
    input_ids = np.asarray(tokenizer(text)["input_ids"], dtype=np.int64)
    n_visual = int((input_ids == ids.visual).sum())
    expected = num_visual_tokens(grid_thw, merge_size)
    if n_visual != expected:
        raise ValueError(
            f"prompt contains visual placeholder tokens ({n_visual} placeholders for {expected} features)"
        )
    got = [int(t) for t in input_ids if int(t) in ids.special]
    if got != list(ids.special):
        raise ValueError(
            "prompt contains reward special tokens; they may appear only where the template puts them"
        )
    return input_ids


class Qwen2VLRewardModel(nn.Module):
    """Qwen2VLModel + reward head applied at the reward special tokens -> (B, n_special, head outputs)."""

    def __init__(self, config: Any, head: nn.Module, *, head_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        from transformers import Qwen2VLModel

        self.config = config
        self.model = Qwen2VLModel(config)
        self.rm_head = head
        self.head_dtype = head_dtype

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor,
        grid_thw: torch.Tensor,
        visual_token_id: int,
        special_token_ids: Sequence[int],
    ) -> torch.Tensor:
        """input_ids/attention_mask (B, L), packed pixel rows (N, D), grid_thw (B, 3) -> rewards (B, n, out)."""
        lm = self.model.language_model
        embeds = lm.embed_tokens(input_ids)
        visual = self.model.visual(
            pixel_values.to(self.model.visual.get_dtype()), grid_thw=grid_thw
        ).pooler_output
        mask = (input_ids == visual_token_id).unsqueeze(-1).expand_as(embeds)
        if int(mask[..., 0].sum()) != visual.shape[0]:
            raise ValueError(
                f"{int(mask[..., 0].sum())} visual placeholders for {visual.shape[0]} visual features"
            )
        embeds = embeds.masked_scatter(mask, visual.to(embeds.dtype))
        # position_ids=None -> 1-D positions 0..L-1 on all M-RoPE axes, as the upstream reward forward.
        hidden = lm(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False).last_hidden_state
        special = torch.zeros_like(input_ids, dtype=torch.bool)
        for tid in special_token_ids:
            special |= input_ids == tid
        pooled = hidden[special].view(input_ids.shape[0], len(special_token_ids), hidden.shape[-1])
        if self.head_dtype is not None:
            pooled = pooled.to(self.head_dtype)
        return self.rm_head(pooled)


class RewardCore(nn.Module):
    """Backend graph: the reward model with its token ids fixed; numpy-friendly inputs only."""

    def __init__(self, model: Qwen2VLRewardModel, ids: TokenIds) -> None:
        super().__init__()
        self.reward = model
        self.visual_token_id = ids.visual
        self.special_token_ids = tuple(ids.special)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor,
        grid_thw: torch.Tensor,
    ) -> torch.Tensor:
        """Rewards (B, n_special, out) in float32."""
        out = self.reward(
            input_ids, attention_mask, pixel_values, grid_thw, self.visual_token_id, self.special_token_ids
        )
        return out.float()


def collate(items: Sequence[RewardInput], pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad token ids (as the upstream processors are configured), pack patch rows, stack grids."""
    length = max(it.input_ids.shape[0] for it in items)
    ids = np.full((len(items), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(items), length), dtype=np.int64)
    for i, it in enumerate(items):
        ids[i, : it.input_ids.shape[0]] = it.input_ids
        mask[i, : it.input_ids.shape[0]] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "pixel_values": np.concatenate([it.pixel_values for it in items], axis=0).astype(
            np.float32, copy=False
        ),
        "grid_thw": np.asarray([it.grid_thw for it in items], dtype=np.int64),
    }


# ------------------------------------------------------------------------------------------ checkpoint keys


def from_official_key(key: str) -> str | None:
    """Module key of an upstream checkpoint key; None for keys that are checked and dropped (lm_head)."""
    if key in DROPPED_KEYS:
        return None
    if key.startswith(("model.language_model.", "model.visual.", "rm_head.")):
        return key
    if key.startswith("visual."):
        return "model." + key
    if key.startswith("model."):
        return "model.language_model." + key[len("model.") :]
    raise CheckpointLayoutError(f"unexpected checkpoint key {key!r}")


def to_official_key(key: str) -> str:
    """Upstream (transformers 4.45 layout) key of a module key."""
    if key.startswith("model.language_model."):
        return "model." + key[len("model.language_model.") :]
    if key.startswith("model.visual."):
        return key[len("model.") :]
    return key


def to_official_state_dict(
    model: Qwen2VLRewardModel, *, tied_lm_head: bool = True
) -> dict[str, torch.Tensor]:
    """The state dict the upstream code would save for this model (lm_head = embeddings when tied)."""
    sd = {to_official_key(k): v for k, v in model.state_dict().items()}
    embed = model.model.language_model.embed_tokens.weight.detach()
    sd["lm_head.weight"] = embed if tied_lm_head else torch.zeros_like(embed)
    return sd


def load_official_state_dict(model: Qwen2VLRewardModel, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load an upstream-layout state dict with strict key and shape checks (lm_head checked, then dropped)."""
    own = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state_dict.items():
        if key.startswith("base_model.") or ".lora_" in key:
            raise CheckpointLayoutError(
                f"checkpoint holds unmerged PEFT/LoRA keys ({key!r}); merge the adapter first"
            )
        try:
            target = from_official_key(key)
        except CheckpointLayoutError:
            unexpected.append(key)
            continue
        if target is None:
            embed = state_dict.get(
                "model.embed_tokens.weight", state_dict.get("model.language_model.embed_tokens.weight")
            )
            if embed is not None and tuple(value.shape) != tuple(embed.shape):
                raise CheckpointLayoutError(
                    f"lm_head.weight {tuple(value.shape)} does not match the embeddings {tuple(embed.shape)}"
                )
            continue
        if target not in own:
            unexpected.append(key)
            continue
        if tuple(own[target].shape) != tuple(value.shape):
            raise CheckpointLayoutError(
                f"{key}: checkpoint shape {tuple(value.shape)} != model shape {tuple(own[target].shape)}"
            )
        mapped[target] = value
    missing = sorted(set(own) - set(mapped))
    if missing or unexpected:
        raise CheckpointLayoutError(
            f"checkpoint does not match the reward model: missing {missing[:8]}{' ...' if len(missing) > 8 else ''}, "
            f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    model.load_state_dict(mapped, strict=True)


def checkpoint_vocab_size(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Rows of the token embedding in a checkpoint (the tokenizer length after the reward tokens were added)."""
    for key in ("model.embed_tokens.weight", "model.language_model.embed_tokens.weight"):
        if key in state_dict:
            return int(state_dict[key].shape[0])
    raise CheckpointLayoutError("checkpoint has no token embedding (model.embed_tokens.weight)")


# ------------------------------------------------------------------------------------------ configs


# The small Qwen2-VL shared by the tiny VideoReward and HPSv3 configs (2-layer 64-wide LLM, 2-block 32-wide vision
# tower with 4-pixel patches): the same architecture classes at test size.
TINY_BACKBONE: dict[str, Any] = {
    "vocab_size": 0,  # the tiny tokenizer's length, filled in at build time
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_layers": 2,
    "num_heads": 4,
    "num_kv_heads": 2,
    "mrope_section": (2, 3, 3),
    "vision_depth": 2,
    "vision_embed_dim": 32,
    "vision_heads": 2,
    "vision_mlp_ratio": 2,
    "patch_size": 4,
}


def backbone_config(arch: Any, token_ids: Mapping[str, int], *, tie_word_embeddings: bool) -> Any:
    """qwen2vl_config from any config object carrying the backbone size fields (VideoAlignConfig, HPSv3Config)."""
    sizes = {k: getattr(arch, k) for k in TINY_BACKBONE}
    return qwen2vl_config(
        **sizes,
        token_ids=token_ids,
        tie_word_embeddings=tie_word_embeddings,
        rms_norm_eps=getattr(arch, "rms_norm_eps", 1e-6),
        rope_theta=getattr(arch, "rope_theta", 1_000_000.0),
    )


def backbone_from_hf_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Backbone fields (TINY_BACKBONE keys plus rms_norm_eps, rope_theta, merge_size) of a Qwen2-VL config.json.

    Reads both layouts: transformers 4.x (text fields at the top level, `rope_scaling.mrope_section`) and 5.x
    (`text_config`, `rope_parameters`). The vocabulary size is left to the checkpoint (reward tokens are added).
    """
    if data.get("model_type") not in ("qwen2_vl", None):
        raise ValueError(f"not a Qwen2-VL config (model_type {data.get('model_type')!r})")
    text = dict(data.get("text_config") or {})
    top = {k: v for k, v in data.items() if k not in ("text_config", "vision_config")}
    text = {**top, **text}
    vision = dict(data.get("vision_config") or {})
    rope = text.get("rope_parameters") or text.get("rope_scaling") or {}
    try:
        fields: dict[str, Any] = {
            "hidden_size": int(text["hidden_size"]),
            "intermediate_size": int(text["intermediate_size"]),
            "num_layers": int(text["num_hidden_layers"]),
            "num_heads": int(text["num_attention_heads"]),
            "num_kv_heads": int(text.get("num_key_value_heads") or text["num_attention_heads"]),
            "mrope_section": tuple(int(v) for v in rope["mrope_section"]),
            "vision_depth": int(vision["depth"]),
            "vision_embed_dim": int(vision["embed_dim"]),
            "vision_heads": int(vision["num_heads"]),
            "vision_mlp_ratio": int(vision["mlp_ratio"]),
            "patch_size": int(vision["patch_size"]),
            "merge_size": int(vision.get("spatial_merge_size", 2)),
            "rms_norm_eps": float(text.get("rms_norm_eps", 1e-6)),
            "rope_theta": float(rope.get("rope_theta") or text.get("rope_theta") or 1_000_000.0),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"incomplete Qwen2-VL config.json: {e!r}") from e
    if int(vision.get("temporal_patch_size", 2)) != 2 or fields["merge_size"] != 2:
        raise ValueError("only temporal_patch_size 2 and spatial_merge_size 2 are supported")
    if int(vision.get("hidden_size", fields["hidden_size"])) != fields["hidden_size"]:
        raise ValueError("the vision merger must project to the language model's hidden size")
    return fields


def qwen2vl_config(
    *,
    vocab_size: int,
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
    mrope_section: tuple[int, int, int],
    vision_depth: int,
    vision_embed_dim: int,
    vision_heads: int,
    vision_mlp_ratio: int,
    patch_size: int,
    token_ids: Mapping[str, int],
    tie_word_embeddings: bool,
    rms_norm_eps: float = 1e-6,
    rope_theta: float = 1_000_000.0,
) -> Any:
    """A transformers Qwen2VLConfig from explicit sizes (official values or tiny ones)."""
    from transformers import Qwen2VLConfig

    text = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "rms_norm_eps": rms_norm_eps,
        "max_position_embeddings": 32768,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": rope_theta,
            "mrope_section": list(mrope_section),
        },
        "bos_token_id": token_ids[ENDOFTEXT],
        "eos_token_id": token_ids[IM_END],
        "pad_token_id": None,
    }
    vision = {
        "depth": vision_depth,
        "embed_dim": vision_embed_dim,
        "hidden_size": hidden_size,
        "num_heads": vision_heads,
        "mlp_ratio": vision_mlp_ratio,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "in_channels": 3,
    }
    return Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=token_ids[IMAGE_PAD],
        video_token_id=token_ids[VIDEO_PAD],
        vision_start_token_id=token_ids[VISION_START],
        vision_end_token_id=token_ids[VISION_END],
        tie_word_embeddings=tie_word_embeddings,
    )


def official_token_ids() -> dict[str, int]:
    """Ids of the Qwen2-VL special tokens in the official tokenizer (151643..151656)."""
    return {tok: 151643 + i for i, tok in enumerate(QWEN2VL_SPECIAL_TOKENS)}


def build_model(
    config: Any,
    make_head: Callable[[], nn.Module],
    seed: int,
    *,
    head_dtype: torch.dtype | None = None,
    dtype: torch.dtype = torch.float32,
) -> Qwen2VLRewardModel:
    """A randomly initialised reward model (head included) under `seed`, without disturbing the global RNG.

    Parameters are created directly in `dtype` (a full-size 7B model in float32 would need 33 GB of RAM).
    """
    previous = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_default_dtype(dtype)
        try:
            model = Qwen2VLRewardModel(config, make_head(), head_dtype=head_dtype)
        finally:
            torch.set_default_dtype(previous)
    if head_dtype is not None:
        model.rm_head.to(head_dtype)
    return model.eval()


# ------------------------------------------------------------------------------------------ tokenizers


@functools.lru_cache(maxsize=4)
def _tiny_bpe(
    n_merges: int, extra_lines: tuple[str, ...]
) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    from tokenizers import pre_tokenizers

    from omninft.reward_servers.models.tiny_tokenizers import corpus_lines, learn_bpe_merges

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counts: dict[tuple[str, ...], int] = {}
    for line in (*corpus_lines(), *extra_lines):
        for piece, _ in pre.pre_tokenize_str(line):
            counts[tuple(piece)] = counts.get(tuple(piece), 0) + 1
    vocab = {s: i for i, s in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    kept: list[tuple[str, str]] = []
    for a, b in learn_bpe_merges(counts, n_merges):
        kept.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    return tuple(sorted(vocab.items(), key=lambda kv: kv[1])), tuple(kept)


def tiny_qwen2_tokenizer(extra_special: Sequence[str], *, corpus: str = "", n_merges: int = 400) -> Any:
    """A Qwen2Tokenizer over a tiny byte-level BPE, with Qwen2-VL's special tokens and then `extra_special`.

    `corpus` (e.g. the family's prompt template) is learned from too, so tiny test sequences stay short.
    """
    from transformers import Qwen2Tokenizer

    vocab, merges = _tiny_bpe(n_merges, tuple(line for line in corpus.splitlines() if line.strip()))
    merge_list: Any = list(merges)
    tok = Qwen2Tokenizer(vocab=dict(vocab), merges=merge_list)
    tok.add_tokens([t for t in QWEN2VL_SPECIAL_TOKENS if t not in tok.get_vocab()], special_tokens=True)
    tok.add_tokens(list(extra_special), special_tokens=True)
    tok.padding_side = "right"
    return tok


def add_reward_tokens(tokenizer: Any, tokens: Sequence[str]) -> tuple[int, ...]:
    """Add the reward special tokens to an official Qwen2-VL tokenizer (appended, as upstream) -> their ids."""
    tokenizer.add_tokens(list(tokens), special_tokens=True)
    tokenizer.padding_side = "right"
    return tuple(int(i) for i in tokenizer.convert_tokens_to_ids(list(tokens)))


def token_ids_of(tokenizer: Any, names: Sequence[str]) -> dict[str, int]:
    """Ids of named tokens; fails if any is unknown."""
    ids = {n: tokenizer.convert_tokens_to_ids(n) for n in names}
    unknown = [
        n for n, i in ids.items() if i is None or i == tokenizer.unk_token_id and n != tokenizer.unk_token
    ]
    if unknown:
        raise ValueError(f"tokenizer lacks tokens {unknown}")
    return {n: int(i) for n, i in ids.items()}


def run_reward(backend: Any, items: Sequence[RewardInput], pad_id: int, chunk: int) -> np.ndarray:
    """Rewards (len(items), n_special, out) through the backend's "reward" graph, one sample per call.

    A batched call pads every prompt to the longest of its batch and packs the vision tokens of all its
    samples, so a sample's reward changed in the last bits with its batch-mates (issue 13: resumed runs must
    equal clean ones). `chunk` is kept for the callers' signature.
    """
    del chunk
    parts = [
        np.asarray(backend.run("reward", collate([item], pad_id))["rewards"], dtype=np.float32)
        for item in items
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def build_empty(
    config: Any, head: nn.Module, *, dtype: torch.dtype, head_dtype: torch.dtype | None = None
) -> Qwen2VLRewardModel:
    """An uninitialised reward model in `dtype` on CPU (no random init of billions of weights), to load into.

    The rotary tables are non-persistent buffers no checkpoint holds, so they are rebuilt for real.
    """
    from transformers.models.qwen2_vl import modeling_qwen2_vl as hf

    with torch.device("meta"):
        model = Qwen2VLRewardModel(config, head, head_dtype=head_dtype)
    model.to(dtype)
    if head_dtype is not None:
        model.rm_head.to(head_dtype)
    model.to_empty(device="cpu")
    model.model.language_model.rotary_emb = hf.Qwen2VLRotaryEmbedding(config=config.text_config)
    model.model.visual.rotary_pos_emb = hf.Qwen2VLVisionRotaryEmbedding(config.vision_config)
    return model.eval()
