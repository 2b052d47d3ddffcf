"""VBench subject_consistency and background_consistency (specs/vbench.md §1.1, §1.2).

Every frame of the video is transformed as the reference does (functional.vbench_frames) and embedded; for
t = 1..N-1, s_t = (max(0, cos(f_{t-1}, f_t)) + max(0, cos(f_0, f_t))) / 2 on L2-normalised features
(functional.vbench_quality). Each scorer returns the sufficient statistics of the frame-pair-weighted aggregate:
`<dimension>_video_sim` = Σ s_t and `<dimension>_cnt_per_video` = N-1 (the runner forms video_results and
Σ sim / Σ cnt). A video needs two frames (one pair).

- `vbench_subject_consistency`: DINO ViT-B/16 CLS features (unnormalised model output) after
  `dino_transform(224)`: bilinear short-side resize without antialias (no crop), /255, ImageNet Normalize.
  With one frame the reference divides by zero; here that is a per-video error (needs two frames).
- `vbench_background_consistency`: CLIP ViT-B/32 image embeddings (the projected `encode_image` feature) after
  `clip_transform(224)`: bicubic short-side resize without antialias or clamping, CenterCrop, CLIP Normalize.
  The CLIP model is loaded once per server (shared with the other CLIP B/32 VBench scorers); "official" is
  OpenAI's `ViT-B-32.pt` (the file VBench loads, sha256 pinned); an HF id of the same weights also works. Protocol "vbench-v1" runs the model in fp16 on
  CUDA as the reference's OpenAI `clip` does (fp32 on CPU); "vbench-v1-fp32" runs fp32 everywhere.

Frames go through the image model in chunks of `image_batch_size` counted from each video's first frame, so a
video's numbers never depend on its batch neighbours; the reference runs one frame at a time, which
`image_batch_size: 1` reproduces kernel for kernel (larger chunks change the last bits of the features).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._vbench import (
    CLIP_PROTOCOLS,
    PROTOCOL,
    PerVideoScorer,
    VideoItem,
    clip_precision,
    require_torch_backend,
    shared_clip_b32,
    warn_tiny,
    weights_info,
)
from omninft.reward_servers.scorers.base import InputSpec, ScorerConfig
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, finite, scorer_options

VERSION = "1.0.0"


@dataclass(frozen=True)
class ConsistencyOptions:
    """Options of the VBench consistency scorers."""

    # Frames per image-model call, counted from each video's first frame (1 = the reference's frame-by-frame).
    image_batch_size: int = 32

    def __post_init__(self) -> None:
        if self.image_batch_size < 1:
            raise ValueError(f"image_batch_size must be >= 1, got {self.image_batch_size}")


def _embed_frames(core: Any, pixels: Any, chunk: int, device: str) -> Any:
    """Features of (N, 3, S, S) float32 pixels, `chunk` frames per call (in the model's dtype), as float32 on the CPU."""
    import torch

    dtype = next(core.parameters()).dtype
    out = []
    with torch.no_grad():
        for start in range(0, pixels.shape[0], chunk):
            out.append(core(pixels[start : start + chunk].to(device=device, dtype=dtype)).float().cpu())
    return torch.cat(out, 0)


def consistency_scorer(
    name: str,
    cfg: ScorerConfig,
    spec: ScorerSpec,
    *,
    dimension: str,
    core: Any,
    transform: Callable[[Any], Any],
    image_size: int,
    weights: Any,
) -> PerVideoScorer:
    """A per-video consistency scorer over an image model `core` and its frame transform."""
    from omninft.reward_servers.functional.vbench_frames import frames_to_tensor
    from omninft.reward_servers.functional.vbench_quality import frame_pair_consistency

    opts = scorer_options(ConsistencyOptions, name, cfg)

    def prepare(frames: np.ndarray, fps: float) -> Any:
        del fps
        return transform(frames_to_tensor(frames))

    def compute(item: VideoItem) -> dict[str, Any]:
        feats = _embed_frames(core, item.extra, opts.image_batch_size, cfg.device)
        terms = frame_pair_consistency(feats)
        return {
            f"{dimension}_video_sim": finite(terms.video_sim, f"{dimension} video_sim"),
            f"{dimension}_cnt_per_video": float(terms.cnt_per_video),
        }

    info = spec.info(
        name,
        cfg,
        weights=weights,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video",), image_size=image_size),
    )
    return PerVideoScorer(info, min_frames=2, compute=compute, prepare=prepare)


def build_subject_consistency(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: DINO ViT-B/16 CLS features after dino_transform at the model's table size (224)."""
    from omninft.reward_servers.functional.vbench_frames import dino_transform

    scorer_options(ConsistencyOptions, name, cfg)
    require_torch_backend(name, cfg)

    def load() -> tuple[Any, int, Any]:
        from omninft.reward_servers.models import dino

        model, ident = dino.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
        return model.to(cfg.device).eval(), int(model.cfg.img_size), weights_info(ident)

    model, size, winfo = shared_load(
        ("vbench-dino", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None), load
    )
    warn_tiny(name, "DINO ViT-B/16", winfo)
    return consistency_scorer(
        name,
        cfg,
        SUBJECT,
        dimension="subject_consistency",
        core=model,
        transform=lambda x: dino_transform(x, size),
        image_size=size,
        weights=winfo,
    )


def build_background_consistency(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: CLIP ViT-B/32 (shared), clip_transform at the model's input size."""
    from omninft.reward_servers.functional.vbench_frames import clip_transform

    scorer_options(ConsistencyOptions, name, cfg)
    require_torch_backend(name, cfg)
    core, size, winfo = shared_clip_b32(cfg, clip_precision(BACKGROUND.protocol(cfg), cfg.device))
    warn_tiny(name, "CLIP ViT-B/32", winfo)
    return consistency_scorer(
        name,
        cfg,
        BACKGROUND,
        dimension="background_consistency",
        core=core,
        transform=lambda x: clip_transform(x, size),
        image_size=size,
        weights=winfo,
    )


SUBJECT = ScorerSpec(
    name="vbench_subject_consistency",
    build=build_subject_consistency,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("subject_consistency_video_sim", "subject_consistency_cnt_per_video"),
    modalities=("video",),
    options=ConsistencyOptions,
    families=("dino",),
    bench=(BenchMetric("vbench", "subject_consistency", output="subject_consistency_video_sim"),),
    summary="VBench subject_consistency: DINO ViT-B/16 similarity of each frame to the previous and the first",
)
BACKGROUND = ScorerSpec(
    name="vbench_background_consistency",
    build=build_background_consistency,
    version=VERSION,
    protocols=CLIP_PROTOCOLS,
    outputs=("background_consistency_video_sim", "background_consistency_cnt_per_video"),
    modalities=("video",),
    options=ConsistencyOptions,
    families=("clip",),
    weights=("clip_openai_vit_b32",),
    bench=(BenchMetric("vbench", "background_consistency", output="background_consistency_video_sim"),),
    summary="VBench background_consistency: CLIP ViT-B/32 similarity of each frame to the previous and the first",
)

SCORERS = (SUBJECT, BACKGROUND)
