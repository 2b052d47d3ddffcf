"""State-dict key mapping between the official AesMultiOutput layout and this package's module names."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

# (official pattern, local replacement), applied in order to every key; the first match wins.
_RULES: tuple[tuple[str, str], ...] = (
    (r"^wavlm_model\.feature_extractor\.conv_layers\.(\d+)\.0\.", r"wavlm.feature_extractor.conv_layers.\1.conv."),
    (r"^wavlm_model\.feature_extractor\.conv_layers\.0\.2\.", "wavlm.feature_extractor.conv_layers.0.layer_norm."),
    (r"^wavlm_model\.layer_norm\.", "wavlm.feature_projection.layer_norm."),
    (r"^wavlm_model\.post_extract_proj\.", "wavlm.feature_projection.projection."),
    (r"^wavlm_model\.encoder\.pos_conv\.0\.weight_g$", "wavlm.encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"^wavlm_model\.encoder\.pos_conv\.0\.weight_v$", "wavlm.encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"^wavlm_model\.encoder\.pos_conv\.0\.bias$", "wavlm.encoder.pos_conv_embed.conv.bias"),
    (r"^wavlm_model\.encoder\.layer_norm\.", "wavlm.encoder.layer_norm."),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.", r"wavlm.encoder.layers.\1.attention.\2_proj."),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.self_attn\.grep_linear\.", r"wavlm.encoder.layers.\1.attention.gru_rel_pos_linear."),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.self_attn\.grep_a$", r"wavlm.encoder.layers.\1.attention.gru_rel_pos_const"),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight$",
     r"wavlm.encoder.layers.\1.attention.rel_attn_embed.weight"),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"wavlm.encoder.layers.\1.layer_norm."),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.fc1\.", r"wavlm.encoder.layers.\1.feed_forward.intermediate_dense."),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.fc2\.", r"wavlm.encoder.layers.\1.feed_forward.output_dense."),
    (r"^wavlm_model\.encoder\.layers\.(\d+)\.final_layer_norm\.", r"wavlm.encoder.layers.\1.final_layer_norm."),
    (r"^wavlm_model\.mask_emb$", "wavlm.masked_spec_embed"),
    (r"^(proj_layer\.[A-Z]{2}\.\d+\.(weight|bias))$", r"\1"),
    (r"^(layer_weights\.[A-Z]{2})$", r"\1"),
)
# local -> official: the same table read backwards (each rule's replacement is a literal prefix/name).
_INVERSE: tuple[tuple[str, str], ...] = (
    (r"^wavlm\.feature_extractor\.conv_layers\.(\d+)\.conv\.", r"wavlm_model.feature_extractor.conv_layers.\1.0."),
    (r"^wavlm\.feature_extractor\.conv_layers\.0\.layer_norm\.", "wavlm_model.feature_extractor.conv_layers.0.2."),
    (r"^wavlm\.feature_projection\.layer_norm\.", "wavlm_model.layer_norm."),
    (r"^wavlm\.feature_projection\.projection\.", "wavlm_model.post_extract_proj."),
    (r"^wavlm\.encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0$", "wavlm_model.encoder.pos_conv.0.weight_g"),
    (r"^wavlm\.encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1$", "wavlm_model.encoder.pos_conv.0.weight_v"),
    (r"^wavlm\.encoder\.pos_conv_embed\.conv\.bias$", "wavlm_model.encoder.pos_conv.0.bias"),
    (r"^wavlm\.encoder\.layer_norm\.", "wavlm_model.encoder.layer_norm."),
    (r"^wavlm\.encoder\.layers\.(\d+)\.attention\.(q|k|v|out)_proj\.", r"wavlm_model.encoder.layers.\1.self_attn.\2_proj."),
    (r"^wavlm\.encoder\.layers\.(\d+)\.attention\.gru_rel_pos_linear\.", r"wavlm_model.encoder.layers.\1.self_attn.grep_linear."),
    (r"^wavlm\.encoder\.layers\.(\d+)\.attention\.gru_rel_pos_const$", r"wavlm_model.encoder.layers.\1.self_attn.grep_a"),
    (r"^wavlm\.encoder\.layers\.(\d+)\.attention\.rel_attn_embed\.weight$",
     r"wavlm_model.encoder.layers.\1.self_attn.relative_attention_bias.weight"),
    (r"^wavlm\.encoder\.layers\.(\d+)\.layer_norm\.", r"wavlm_model.encoder.layers.\1.self_attn_layer_norm."),
    (r"^wavlm\.encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"wavlm_model.encoder.layers.\1.fc1."),
    (r"^wavlm\.encoder\.layers\.(\d+)\.feed_forward\.output_dense\.", r"wavlm_model.encoder.layers.\1.fc2."),
    (r"^wavlm\.encoder\.layers\.(\d+)\.final_layer_norm\.", r"wavlm_model.encoder.layers.\1.final_layer_norm."),
    (r"^wavlm\.masked_spec_embed$", "wavlm_model.mask_emb"),
    (r"^(proj_layer\.[A-Z]{2}\.\d+\.(weight|bias))$", r"\1"),
    (r"^(layer_weights\.[A-Z]{2})$", r"\1"),
)


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return None


def _apply(sd: Mapping[str, torch.Tensor], rules: tuple[tuple[str, str], ...], what: str) -> dict[str, torch.Tensor]:
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
