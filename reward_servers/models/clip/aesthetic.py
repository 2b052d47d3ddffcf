"""LAION aesthetic predictor v1 (``sa_0_4_vit_l_14_linear.pth``): a linear head on CLIP ViT-L/14 embeddings.

VBench's aesthetic_quality (§1.6) loads the file into ``nn.Linear(768, 1)`` (keys ``weight`` (1, 768) and
``bias`` (1,), strict) and scores ``head(normalize(encode_image(frames).float()))``; the per-video value is the
mean of score / 10 (functional.vbench_quality.aesthetic_video_score). `AestheticCore` is that graph from
CLIP pixels to the raw head score: the image tower in whatever precision the model is in (fp16 on CUDA in
the reference), the embedding cast to fp32 before the L2 normalisation and the fp32 head.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from omninft.reward_servers.functional.vbench_quality import l2_normalize
from omninft.reward_servers.models._state_dict import (
    identify_family,
    load_family,
    load_strict,
    read_state_dict,
)
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec

FAMILY = "laion_aesthetic_l14"
EMBED_DIM = 768  # CLIP ViT-L/14 projection width
# The URL VBench uses since commit f346596 (the earlier `blob/...?raw=true` form broke: issues #133, #187).
# No digest is published, so the sha256 is recorded at fetch time, not pinned.
OFFICIAL_WEIGHTS = WeightSpec(
    FAMILY,
    "https://raw.githubusercontent.com/LAION-AI/aesthetic-predictor/main/sa_0_4_vit_l_14_linear.pth",
    family="clip",
)
TINY_EMBED_DIM = 16  # projection width of clip.openai.tiny_openai_config()


def build(embed_dim: int = EMBED_DIM) -> nn.Linear:
    """The head: nn.Linear(embed_dim, 1), the module the reference loads the file into."""
    return nn.Linear(embed_dim, 1)


def load_official(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load ``sa_0_4_vit_l_14_linear.pth`` (a {weight, bias} state dict) strictly."""
    load_strict(model, read_state_dict(Path(path)), f"LAION aesthetic head {path}")


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[nn.Linear, WeightsIdentity]:
    """(head in eval mode, identity) for "tiny" (16-d, for the tiny CLIP), "random", "official" or a path/URL."""
    model, ident = load_family(
        FAMILY,
        weights,
        seed,
        tiny=lambda: build(TINY_EMBED_DIM),
        full=build,
        load_checkpoint=load_official,
        cache_dir=cache_dir,
        official=OFFICIAL_WEIGHTS,
    )
    assert isinstance(model, nn.Linear)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    return identify_family(
        FAMILY,
        weights,
        seed,
        tiny=lambda: build(TINY_EMBED_DIM),
        full=build,
        cache_dir=cache_dir,
        official=OFFICIAL_WEIGHTS,
    )


class AestheticCore(nn.Module):
    """pixel_values (B, 3, 224, 224) float32 -> raw LAION aesthetic score (B,) (the reference divides by 10)."""

    def __init__(self, clip_model: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.vision_model: nn.Module = clip_model.vision_model  # type: ignore[assignment]
        self.visual_projection: nn.Module = clip_model.visual_projection  # type: ignore[assignment]
        self.head = head.float()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLIP image embedding in the tower's dtype, then fp32: normalise, head."""
        dtype = next(self.visual_projection.parameters()).dtype
        pooled = self.vision_model(pixel_values=pixel_values.to(dtype)).pooler_output
        feats = self.visual_projection(pooled).to(torch.float32)
        return self.head(l2_normalize(feats)).squeeze(-1)
