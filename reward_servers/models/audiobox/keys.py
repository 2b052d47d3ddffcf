"""State-dict key mapping between the official AesMultiOutput layout and this package's module names."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

# (official name, local name) pairs; "{...}" are placeholders that appear in the same order on both sides. A name
# ending in "." is a prefix (applies to every parameter under it); otherwise it is a whole key. The first match
# wins, in either direction, so both mappings come from this one table.
_NAME_PAIRS: tuple[tuple[str, str], ...] = (
    ("wavlm_model.feature_extractor.conv_layers.{i}.0.", "wavlm.feature_extractor.conv_layers.{i}.conv."),
    ("wavlm_model.feature_extractor.conv_layers.0.2.", "wavlm.feature_extractor.conv_layers.0.layer_norm."),
    ("wavlm_model.layer_norm.", "wavlm.feature_projection.layer_norm."),
    ("wavlm_model.post_extract_proj.", "wavlm.feature_projection.projection."),
    (
        "wavlm_model.encoder.pos_conv.0.weight_g",
        "wavlm.encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    ),
    (
        "wavlm_model.encoder.pos_conv.0.weight_v",
        "wavlm.encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    ),
    ("wavlm_model.encoder.pos_conv.0.bias", "wavlm.encoder.pos_conv_embed.conv.bias"),
    ("wavlm_model.encoder.layer_norm.", "wavlm.encoder.layer_norm."),
    (
        "wavlm_model.encoder.layers.{i}.self_attn.{qkvo}_proj.",
        "wavlm.encoder.layers.{i}.attention.{qkvo}_proj.",
    ),
    (
        "wavlm_model.encoder.layers.{i}.self_attn.grep_linear.",
        "wavlm.encoder.layers.{i}.attention.gru_rel_pos_linear.",
    ),
    (
        "wavlm_model.encoder.layers.{i}.self_attn.grep_a",
        "wavlm.encoder.layers.{i}.attention.gru_rel_pos_const",
    ),
    (
        "wavlm_model.encoder.layers.{i}.self_attn.relative_attention_bias.weight",
        "wavlm.encoder.layers.{i}.attention.rel_attn_embed.weight",
    ),
    ("wavlm_model.encoder.layers.{i}.self_attn_layer_norm.", "wavlm.encoder.layers.{i}.layer_norm."),
    ("wavlm_model.encoder.layers.{i}.fc1.", "wavlm.encoder.layers.{i}.feed_forward.intermediate_dense."),
    ("wavlm_model.encoder.layers.{i}.fc2.", "wavlm.encoder.layers.{i}.feed_forward.output_dense."),
    ("wavlm_model.encoder.layers.{i}.final_layer_norm.", "wavlm.encoder.layers.{i}.final_layer_norm."),
    ("wavlm_model.mask_emb", "wavlm.masked_spec_embed"),
    ("proj_layer.{axis}.{i}.{wb}", "proj_layer.{axis}.{i}.{wb}"),
    ("layer_weights.{axis}", "layer_weights.{axis}"),
)
_PLACEHOLDERS = {"{i}": r"(\d+)", "{qkvo}": "(q|k|v|out)", "{axis}": "([A-Z]{2})", "{wb}": "(weight|bias)"}
_PLACEHOLDER_RE = re.compile("(" + "|".join(re.escape(p) for p in _PLACEHOLDERS) + ")")


def _rule(src: str, dst: str) -> tuple[str, str]:
    """(regex matching name `src`, replacement building name `dst`) with placeholders as numbered groups."""
    pieces = _PLACEHOLDER_RE.split(src)  # literal, placeholder, literal, ...
    holes = pieces[1::2]
    pattern = "".join(_PLACEHOLDERS[x] if k % 2 else re.escape(x) for k, x in enumerate(pieces))
    repl = _PLACEHOLDER_RE.sub(lambda m: "\\" + str(holes.index(m.group(0)) + 1), dst)
    return "^" + pattern + ("" if src.endswith(".") else "$"), repl


_RULES = tuple(_rule(official, local) for official, local in _NAME_PAIRS)
_INVERSE = tuple(_rule(local, official) for official, local in _NAME_PAIRS)


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return None


def _apply(
    sd: Mapping[str, torch.Tensor], rules: tuple[tuple[str, str], ...], what: str
) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in sd.items():
        new = _rename(key, rules)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise KeyError(f"{len(unknown)} {what} key(s) have no mapping: {unknown[:10]}")
    return out


def official_to_local(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official AesMultiOutput state dict (prefix `model.` already stripped) to this package's names."""
    return _apply(sd, _RULES, "official")


def local_to_official(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename this package's state dict to the official AesMultiOutput layout (for fixtures and round trips)."""
    return _apply(sd, _INVERSE, "local")
