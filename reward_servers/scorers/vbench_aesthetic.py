"""VBench aesthetic_quality (specs/vbench.md §1.6): the LAION aesthetic head on CLIP ViT-L/14 frame embeddings.

Every frame goes through `clip_transform(224)` (bicubic short side without antialias or clamping, CenterCrop,
CLIP Normalize) and OpenAI's ViT-L/14 image tower; the embedding is cast to fp32, L2-normalised and scored by
`nn.Linear(768, 1)` loaded from `sa_0_4_vit_l_14_linear.pth` (models.clip.aesthetic). The per-video value
`aesthetic_quality_video_results` is the float32 mean over frames of score / 10; the runner averages videos.

Frames go through the model 32 at a time counted from each video's first frame, as the reference batches them,
so a video's value never depends on its batch neighbours. Protocol "vbench-v1" runs the tower in fp16 on CUDA
as the reference's OpenAI `clip` does (fp32 on CPU); "vbench-v1-fp32" runs fp32 everywhere.
The reference crashes on a video whose frame count leaves a last chunk of one frame (`squeeze()` makes it 0-d
before `torch.cat`); here that video is scored like any other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.models._hf import RANDOM_WEIGHTS
from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._vbench import (
    CLIP_PROTOCOLS,
    PerVideoScorer,
    VideoItem,
    clip_precision,
    load_openai_or_hf_clip,
    require_torch_backend,
    warn_tiny,
)
from omninft.reward_servers.scorers.base import InputSpec, ScorerConfig, WeightsInfo
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, finite, scorer_options

VERSION = "1.0.0"
REFERENCE_CHUNK = 32  # frames per encode_image call in vbench/aesthetic_quality.py


@dataclass(frozen=True)
class AestheticOptions:
    """Options of vbench_aesthetic_quality."""

    # Frames per CLIP call, counted from each video's first frame (32 = the reference's batches).
    image_batch_size: int = REFERENCE_CHUNK
    # The LAION head (sa_0_4_vit_l_14_linear.pth): None = as `weights` when that is tiny/random/official (a
    # CLIP checkpoint path then takes the official head); else a path or URL of the head file.
    head_weights: str | None = None

    def __post_init__(self) -> None:
        if self.image_batch_size < 1:
            raise ValueError(f"image_batch_size must be >= 1, got {self.image_batch_size}")


def combined_weights(clip_ident: Any, head_ident: Any) -> WeightsInfo:
    """One WeightsInfo for CLIP ViT-L/14 + the LAION head: both ids, and the sha256 of both digests."""
    digest = hashlib.sha256(f"{clip_ident.sha256}:{head_ident.sha256}".encode()).hexdigest()
    return WeightsInfo(
        f"{clip_ident.weights_id}+laion_head:{head_ident.weights_id}@{head_ident.sha256[:12]}",
        digest,
        bool(clip_ident.tiny or head_ident.tiny),
    )


def build_aesthetic_quality(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: OpenAI CLIP ViT-L/14 + LAION head (AestheticCore) in the protocol's precision."""
    from omninft.reward_servers.functional.vbench_frames import clip_transform, frames_to_tensor
    from omninft.reward_servers.functional.vbench_quality import aesthetic_video_score

    opts = scorer_options(AestheticOptions, name, cfg)
    require_torch_backend(name, cfg)
    precision = clip_precision(AESTHETIC.protocol(cfg), cfg.device)
    head_source = opts.head_weights or (
        cfg.weights if cfg.weights in (*RANDOM_WEIGHTS, "official") else "official"
    )
    cache = cfg.weights_dir or None

    def load() -> tuple[Any, int, WeightsInfo]:
        from omninft.reward_servers.models import clip
        from omninft.reward_servers.models.clip import aesthetic

        model, clip_ident = load_openai_or_hf_clip(cfg.weights, cfg.seed, "ViT-L/14", cache)
        head, head_ident = aesthetic.load(head_source, cfg.seed, cache_dir=cache)
        clip.set_precision(model, precision)
        core = clip.AestheticCore(model, head).to(cfg.device).eval()
        return core, int(model.config.vision_config.image_size), combined_weights(clip_ident, head_ident)

    core, size, winfo = shared_load(
        ("vbench-aesthetic", cfg.weights, head_source, cfg.seed, cfg.device, precision, cache), load
    )
    warn_tiny(name, "CLIP ViT-L/14 + LAION head", winfo)

    def prepare(frames: np.ndarray, fps: float) -> Any:
        del fps
        return clip_transform(frames_to_tensor(frames), size)

    def compute(item: VideoItem) -> dict[str, Any]:
        import torch

        pixels = item.extra
        with torch.no_grad():
            scores = [
                core(pixels[s : s + opts.image_batch_size].to(cfg.device)).float().cpu().reshape(-1)
                for s in range(0, pixels.shape[0], opts.image_batch_size)
            ]
        value = aesthetic_video_score(torch.cat(scores))
        return {"aesthetic_quality_video_results": finite(value, "aesthetic_quality")}

    info = AESTHETIC.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video",), image_size=size),
    )
    return PerVideoScorer(info, min_frames=1, compute=compute, prepare=prepare)


AESTHETIC = ScorerSpec(
    name="vbench_aesthetic_quality",
    build=build_aesthetic_quality,
    version=VERSION,
    protocols=CLIP_PROTOCOLS,
    outputs=("aesthetic_quality_video_results",),
    modalities=("video",),
    options=AestheticOptions,
    families=("clip",),
    weights=("clip_openai_vit_l14", "laion_aesthetic_l14"),
    bench=(BenchMetric("vbench", "aesthetic_quality", output="aesthetic_quality_video_results"),),
    summary="VBench aesthetic_quality: LAION aesthetic head on CLIP ViT-L/14 frames, mean score / 10",
)

SCORERS = (AESTHETIC,)
