"""Loading ViCLIP: tiny/random initialisation, or `ViClip-InternVid-10M-FLT.pth` (state under `model`, strict).

`weights`: "tiny" (small random model + tiny CLIP-layout tokenizer), "random" (official size, random init),
"official" (OFFICIAL_WEIGHTS, resolved offline) or any local path / URL of a checkpoint in the official layout
(the `model` entry, or a bare state dict). The reference builds `ViCLIP(...)` and calls
`load_state_dict(torch.load(path)["model"])` with the default strict=True; so do we.
The tokenizer is CLIP's BPE (`bpe_simple_vocab_16e6.txt.gz`, OFFICIAL_BPE or `tokenizer_source`) framed
as the reference frames it: 32 tokens, SOT ... EOT, zero padding, the last token forced to EOT on truncation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.models._state_dict import load_strict
from omninft.reward_servers.models.imagebind.tokenizer import ImageBindTokenizer
from omninft.reward_servers.models.viclip.model import ViCLIP, ViCLIPConfig, build
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec, as_spec, resolve, state_dict_sha256

logger = logging.getLogger(__name__)

FAMILY = "viclip"
ARCHITECTURES = ("official", "tiny")
# The checkpoint VBench downloads (vbench/utils.py init_submodules). No digest is published, so the sha256
# is recorded at fetch time, not pinned.
OFFICIAL_WEIGHTS = WeightSpec(
    "viclip",
    "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/ViClip-InternVid-10M-FLT.pth",
    family="viclip",
)
# The BPE vocabulary VBench downloads next to it (the same bytes as the imagebind family's "imagebind_bpe").
OFFICIAL_BPE = WeightSpec(
    "viclip_bpe",
    "https://raw.githubusercontent.com/openai/CLIP/main/clip/bpe_simple_vocab_16e6.txt.gz",
    # sha256 of the file in openai/CLIP (unchanged since its first commit; checked at d05afc4)
    sha256={
        "bpe_simple_vocab_16e6.txt.gz": "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
    },
    family="viclip",
)
CHECKPOINT_NOTES = (
    "torch.load(path)['model'] holds the state dict (vision_encoder.*, text_encoder.*, temp); fp32; "
    "loaded with strict=True by the reference (vbench/third_party/ViCLIP/viclip.py)."
)


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a ViCLIP checkpoint: its `model` entry, or the file itself if it is a bare state dict."""
    try:
        obj: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or a pickle that needs arbitrary code
        raise WeightsLoadError(f"cannot read a ViCLIP checkpoint from {path}: {e}") from e
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsLoadError(
            f"{path} does not hold a ViCLIP state dict (expected a 'model' entry of tensors)"
        )
    return {str(k): v.float() for k, v in obj.items()}


def load_state_dict(model: ViCLIP, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Strict load of an official-layout state dict (every mismatch named in one WeightsLoadError)."""
    load_strict(model, state_dict, "ViCLIP checkpoint")


def tokenizer(
    source: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None, context_length: int = 32
) -> ImageBindTokenizer:
    """ViCLIP's text framing over CLIP's BPE: `source` (bpe .txt.gz path/URL) or OFFICIAL_BPE (offline)."""
    spec = OFFICIAL_BPE if source in (None, "", "official") else as_spec(str(source), name="viclip_bpe")
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    return ImageBindTokenizer.from_bpe_file(
        resolved.main_file or resolved.path, context_length=context_length, keep_eot=True
    )


def tiny_tokenizer(context_length: int = 32, vocab_size: int = 1000) -> ImageBindTokenizer:
    """The tiny CLIP-layout BPE with ViCLIP's framing (tests, offline demo)."""
    return ImageBindTokenizer.tiny(vocab_size, context_length=context_length, keep_eot=True)


def _random(cfg: ViCLIPConfig, seed: int) -> ViCLIP:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(cfg)


def load(
    weights: str,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    tokenizer_source: str | None = None,
    architecture: str = "official",
) -> tuple[ViCLIP, ImageBindTokenizer, WeightsIdentity]:
    """(model in eval mode, tokenizer, identity) for "tiny", "random", "official" or a checkpoint path/URL.

    `architecture` ("official" or "tiny") is the config a checkpoint file is loaded into (head counts are not
    in a state dict); a tiny file's vocabulary size is read from its token embedding.
    """
    if weights == "tiny":
        tok = tiny_tokenizer()
        model = _random(ViCLIPConfig.tiny(vocab_size=tok.vocab_size), seed)
        return (
            model,
            tok,
            WeightsIdentity(tiny_weights_id(seed, "tiny"), state_dict_sha256(model.state_dict()), True),
        )
    if weights in RANDOM_WEIGHTS:
        try:
            tok = tokenizer(tokenizer_source, cache_dir=cache_dir)
        except FileNotFoundError:
            logger.warning("viclip: CLIP BPE file not available; random weights use the tiny tokenizer")
            tok = tiny_tokenizer()
        model = _random(ViCLIPConfig.official(), seed)
        ident = WeightsIdentity(tiny_weights_id(seed, "random"), state_dict_sha256(model.state_dict()), True)
        return model, tok, ident
    spec = OFFICIAL_WEIGHTS if weights == "official" else as_spec(weights, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.main_file or resolved.path
    if not path.is_file():
        raise WeightsLoadError(f"no ViCLIP checkpoint file under {resolved.path}")
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown ViCLIP architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    sd = read_checkpoint(path)
    if architecture == "tiny":
        emb = sd.get("text_encoder.token_embedding.weight")
        cfg = ViCLIPConfig.tiny(vocab_size=int(emb.shape[0])) if emb is not None else ViCLIPConfig.tiny()
    else:
        cfg = ViCLIPConfig.official()
    model = build(cfg)
    load_state_dict(model, sd)
    tok = tokenizer(tokenizer_source, cache_dir=cache_dir)
    if tok.vocab_size > cfg.vocab_size:
        raise WeightsLoadError(f"tokenizer has {tok.vocab_size} ids, the model {cfg.vocab_size}")
    logger.info("viclip: loaded %s (sha256 %s)", resolved.weights_id, resolved.sha256)
    return model, tok, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def param_counts(model: ViCLIP) -> dict[str, int]:
    """Parameters per tower and in total (the `temp` scalar counts in the total only)."""
    vision = sum(p.numel() for p in model.vision_encoder.parameters())
    text = sum(p.numel() for p in model.text_encoder.parameters())
    return {"vision": vision, "text": text, "total": sum(p.numel() for p in model.parameters())}
