"""OpenAI CLIP checkpoints (``ViT-B-32.pt``, ``ViT-L-14.pt``) in the family's transformers CLIPModel layout.

VBench loads OpenAI's own files (``clip.load``): TorchScript archives whose state dict uses OpenAI's names
(``visual.conv1.weight``, ``visual.transformer.resblocks.<i>.attn.in_proj_weight``, ``visual.proj``, ...), plus
three bookkeeping entries (``input_resolution``, ``context_length``, ``vocab_size``) that ``build_model``
drops. Here the archive (or a plain state dict with the same names) is read, the architecture is inferred
from the shapes exactly as ``build_model`` does (heads = width // 64), every key is mapped to CLIPModel's
name (fused in_proj split into q/k/v, the two projections transposed), and the result is loaded strictly:
a key left over or missing on either side is an error.

Precision (§0.2, §12): the files hold fp16 weights. On CPU the reference casts them to fp32 (fp16-rounded
weights computed in fp32, which is what loading them into an fp32 model gives); on CUDA it runs them in fp16
with LayerNorm computed in fp32. `set_precision(model, "fp16")` is the model side of that protocol: the
whole model in fp16; torch's half LayerNorm accumulates in fp32, as OpenAI's fp32-upcasting LayerNorm does.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, build_tiny
from omninft.reward_servers.models._state_dict import load_strict, read_state_dict, resolve_checkpoint
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec

_OPENAI_BASE = "https://openaipublic.azureedge.net/clip/models"
# The URL path segment is the file's sha256 (openai/CLIP clip.py verifies it after download).
OPENAI_WEIGHTS: dict[str, WeightSpec] = {
    "ViT-B/32": WeightSpec(
        "clip_openai_vit_b32",
        f"{_OPENAI_BASE}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
        sha256={"ViT-B-32.pt": "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"},
        family="clip",
    ),
    "ViT-L/14": WeightSpec(
        "clip_openai_vit_l14",
        f"{_OPENAI_BASE}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
        sha256={"ViT-L-14.pt": "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"},
        family="clip",
    ),
}
# The same weights converted by Hugging Face (the family's HF layout).
HF_IDS = {"ViT-B/32": "openai/clip-vit-base-patch32", "ViT-L/14": "openai/clip-vit-large-patch14"}
# (embed_dim, vision width, vision layers, patch, text width, text layers) of OpenAI's two ViT checkpoints.
_ARCHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "ViT-B/32": (512, 768, 12, 32, 512, 12),
    "ViT-L/14": (768, 1024, 24, 14, 768, 12),
}
_BOOKKEEPING = ("input_resolution", "context_length", "vocab_size")
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}
_HEAD_WIDTH = 64  # OpenAI CLIP: heads = width // 64 on both towers


def clip_config(
    embed_dim: int,
    image_size: int,
    vision_width: int,
    vision_layers: int,
    patch: int,
    context_length: int,
    vocab_size: int,
    text_width: int,
    text_layers: int,
) -> Any:
    """A CLIPConfig of an OpenAI CLIP ViT (QuickGELU, LayerNorm eps 1e-5, MLP 4x, heads = width // 64).

    OpenAI's start/end-of-text ids are the two largest (vocab - 2, vocab - 1) and encode_text pools at the
    arg-max id, i.e. the first EOT; CLIPModel with eos_token_id = vocab - 1 pools at the first EOT too.
    """
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    for name, width in (("vision", vision_width), ("text", text_width)):
        if width % _HEAD_WIDTH:
            raise WeightsLoadError(f"OpenAI CLIP {name} width {width} is not a multiple of {_HEAD_WIDTH}")
    vision = CLIPVisionConfig(
        hidden_size=vision_width,
        intermediate_size=4 * vision_width,
        num_hidden_layers=vision_layers,
        num_attention_heads=vision_width // _HEAD_WIDTH,
        image_size=image_size,
        patch_size=patch,
        projection_dim=embed_dim,
    )
    text = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=text_width,
        intermediate_size=4 * text_width,
        num_hidden_layers=text_layers,
        num_attention_heads=text_width // _HEAD_WIDTH,
        max_position_embeddings=context_length,
        projection_dim=embed_dim,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=embed_dim)


def openai_config(arch: str) -> Any:
    """The CLIPConfig of OpenAI's "ViT-B/32" or "ViT-L/14" (224 px, 77 tokens, 49408 ids)."""
    try:
        embed, vw, vl, patch, tw, tl = _ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown OpenAI CLIP architecture {arch!r}; known: {', '.join(_ARCHS)}") from None
    return clip_config(embed, 224, vw, vl, patch, 77, 49408, tw, tl)


def tiny_openai_config() -> Any:
    """The smallest config OpenAI's layout can express (width 64 = one head), 64 px, patch 32, 2+2 layers."""
    return clip_config(16, 64, 64, 2, 32, 77, 128, 64, 2)


def config_from_openai_state_dict(sd: dict[str, torch.Tensor]) -> Any:
    """Infer the CLIPConfig from OpenAI-layout shapes, as openai/CLIP's build_model does (ViT models only)."""
    if "visual.proj" not in sd:
        raise WeightsLoadError(
            "not an OpenAI CLIP ViT state dict (no visual.proj; ResNet CLIPs are not supported)"
        )

    def layers(prefix: str) -> int:
        pat = re.compile(rf"^{re.escape(prefix)}(\d+)\.")
        return len({m.group(1) for k in sd if (m := pat.match(k))})

    conv = sd["visual.conv1.weight"]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    return clip_config(
        embed_dim=int(sd["text_projection"].shape[1]),
        image_size=int(conv.shape[-1]) * grid,
        vision_width=int(conv.shape[0]),
        vision_layers=layers("visual.transformer.resblocks."),
        patch=int(conv.shape[-1]),
        context_length=int(sd["positional_embedding"].shape[0]),
        vocab_size=int(sd["token_embedding.weight"].shape[0]),
        text_width=int(sd["ln_final.weight"].shape[0]),
        text_layers=layers("transformer.resblocks."),
    )


# OpenAI name -> CLIPModel name, for everything outside the blocks that is a plain rename.
_PLAIN = {
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "logit_scale": "logit_scale",
    **{f"visual.ln_pre.{p}": f"vision_model.pre_layrnorm.{p}" for p in ("weight", "bias")},
    **{f"visual.ln_post.{p}": f"vision_model.post_layernorm.{p}" for p in ("weight", "bias")},
    **{f"ln_final.{p}": f"text_model.final_layer_norm.{p}" for p in ("weight", "bias")},
}
_BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")
_BLOCK_RENAMES = {
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
_TRANSPOSED = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}


def openai_to_hf(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an OpenAI-layout CLIP state dict to CLIPModel names; an unknown key is a WeightsLoadError."""
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in sd.items():
        if key in _BOOKKEEPING:
            continue
        if key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = value.t().contiguous()
            continue
        m = _BLOCK.match(key)
        if m:
            tower = "vision_model" if m.group(1) else "text_model"
            base = f"{tower}.encoder.layers.{m.group(2)}."
            rest = m.group(3)
            if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = "weight" if rest.endswith("weight") else "bias"
                for name, part in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                    out[f"{base}self_attn.{name}_proj.{kind}"] = part.contiguous()
            elif rest in _BLOCK_RENAMES:
                out[base + _BLOCK_RENAMES[rest]] = value
            else:
                unknown.append(key)
            continue
        if key in _PLAIN:
            out[_PLAIN[key]] = value
        else:
            unknown.append(key)
    if unknown:
        raise WeightsLoadError(
            f"OpenAI CLIP state dict has keys with no CLIPModel counterpart: {sorted(unknown)[:8]}"
        )
    return out


def hf_to_openai(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse mapping (CLIPModel names -> OpenAI names), for tests and re-export."""
    inv_block = {v: k for k, v in _BLOCK_RENAMES.items()}
    inv_t = {v: k for k, v in _TRANSPOSED.items()}
    inv_plain = {v: k for k, v in _PLAIN.items()}
    out: dict[str, torch.Tensor] = {}
    layer = re.compile(r"^(vision_model|text_model)\.encoder\.layers\.(\d+)\.(.+)$")
    for key, value in sd.items():
        if key in inv_t:
            out[inv_t[key]] = value.t().contiguous()
            continue
        m = layer.match(key)
        if m:
            base = (
                "visual." if m.group(1) == "vision_model" else ""
            ) + f"transformer.resblocks.{m.group(2)}."
            rest = m.group(3)
            qkv = re.match(r"^self_attn\.q_proj\.(weight|bias)$", rest)
            if qkv:
                kind = qkv.group(1)
                parts = [
                    sd[f"{m.group(1)}.encoder.layers.{m.group(2)}.self_attn.{n}_proj.{kind}"] for n in "qkv"
                ]
                out[f"{base}attn.in_proj_{kind}"] = torch.cat(parts, dim=0)
            elif re.match(r"^self_attn\.[kv]_proj\.", rest):
                continue
            else:
                out[base + inv_block[rest]] = value
            continue
        if key not in inv_plain:
            raise KeyError(f"no OpenAI name for {key}")
        out[inv_plain[key]] = value
    return out


def _is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip holding code/ and constants.pkl)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def read_openai_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict of an OpenAI CLIP file: a TorchScript archive (as published) or a plain state dict."""
    p = Path(path)
    if _is_torchscript(p):
        try:
            module = torch.jit.load(str(p), map_location="cpu")
        except Exception as e:  # corrupt archive
            raise WeightsLoadError(f"cannot read the TorchScript archive {p}: {e}") from e
        return {k: v for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}
    return read_state_dict(p)


def load_openai_state_dict(sd: dict[str, torch.Tensor], what: str = "OpenAI CLIP checkpoint") -> nn.Module:
    """A CLIPModel (fp32, eval) built from the shapes of an OpenAI-layout state dict and loaded strictly."""
    from transformers import CLIPModel

    model = CLIPModel(config_from_openai_state_dict(sd))
    mapped = {k: v.to(torch.float32) for k, v in openai_to_hf(sd).items()}
    load_strict(model, mapped, what)
    return model


def load_openai(
    weights: str,
    seed: int = 0,
    *,
    arch: str = "ViT-B/32",
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[nn.Module, WeightsIdentity]:
    """(CLIPModel in eval mode, identity) from OpenAI's files: "tiny", "random" (arch's shape), "official" or a path/URL."""
    from transformers import CLIPModel

    if weights in RANDOM_WEIGHTS:
        config = tiny_openai_config() if weights == "tiny" else openai_config(arch)
        return build_tiny(CLIPModel, config, seed, weights)
    if arch not in OPENAI_WEIGHTS:
        raise ValueError(f"unknown OpenAI CLIP architecture {arch!r}; known: {', '.join(OPENAI_WEIGHTS)}")
    path, ident = resolve_checkpoint(
        OPENAI_WEIGHTS[arch].name, weights, cache_dir=cache_dir, official=OPENAI_WEIGHTS[arch]
    )
    model = load_openai_state_dict(read_openai_checkpoint(path), f"OpenAI CLIP checkpoint {path}")
    return model, ident


def set_precision(model: nn.Module, precision: str) -> nn.Module:
    """Cast a CLIPModel to the reference's precision: "fp32" (CPU reference) or "fp16" (CUDA reference)."""
    try:
        dtype = PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}") from None
    return model.to(dtype)
