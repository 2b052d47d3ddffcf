"""VBench imaging_quality (specs/vbench.md §1.7): MUSIQ (SPAQ checkpoint, pyiqa's architecture) per frame.

Every frame is preprocessed as the reference's `transform(images, mode)` (functional.vbench_frames: with the
default mode "longer" a longer side above 512 px is scaled to 512 with a bilinear resize without antialias), then
/255, pyiqa's eval preprocessing (functional.musiq_patches: multi-scale patches at 224 and 384 longer side plus
the native size, hash grid 10) and MUSIQ. `imaging_quality_video_results` is the mean frame MOS on the 0-100
scale (Python-float accumulation in frame order, as the reference); the runner divides the average by 100.

`preprocessing_mode` is the reference's `imaging_quality_preprocessing_mode` ("longer", "shorter",
"shorter_centercrop", "None"). The reference scores one frame at a time; `image_batch_size` frames per MUSIQ call
(counted from each video's first frame, so a video never depends on its batch neighbours) is faster on an
accelerator and moves a MOS by float rounding only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._vbench import (
    PROTOCOL,
    PerVideoScorer,
    VideoItem,
    require_torch_backend,
    warn_tiny,
    weights_info,
)
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, finite, scorer_options

VERSION = "1.0.0"


@dataclass(frozen=True)
class ImagingOptions:
    """Options of vbench_imaging_quality."""

    # The reference's imaging_quality_preprocessing_mode (its dimension default: "longer").
    preprocessing_mode: Literal["longer", "shorter", "shorter_centercrop", "None"] = "longer"
    # Frames per MUSIQ call, counted from each video's first frame (1 = the reference's frame by frame).
    image_batch_size: int = 1

    def __post_init__(self) -> None:
        if self.image_batch_size < 1:
            raise ValueError(f"image_batch_size must be >= 1, got {self.image_batch_size}")


def build_imaging_quality(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: MUSIQ-SPAQ on the preprocessed frames, mean MOS per video (0-100)."""
    from omninft.reward_servers.functional.vbench_frames import frames_to_tensor, imaging_quality_transform
    from omninft.reward_servers.functional.vbench_quality import imaging_video_score

    opts = scorer_options(ImagingOptions, name, cfg)
    require_torch_backend(name, cfg)

    def load() -> tuple[Any, Any]:
        from omninft.reward_servers.models import musiq

        model, ident = musiq.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
        return model.to(cfg.device).eval(), weights_info(ident)

    model, winfo = shared_load(
        ("vbench-musiq", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None), load
    )
    warn_tiny(name, "MUSIQ-SPAQ", winfo)

    def prepare(frames: np.ndarray, fps: float) -> Any:
        del fps
        return imaging_quality_transform(frames_to_tensor(frames), opts.preprocessing_mode)

    def compute(item: VideoItem) -> dict[str, Any]:
        import torch

        from omninft.reward_servers.models.musiq import score_frames

        frames01 = item.extra
        mos: list[float] = []
        with torch.no_grad():
            for s in range(0, frames01.shape[0], opts.image_batch_size):
                mos += [
                    float(x)
                    for x in score_frames(model, frames01[s : s + opts.image_batch_size].to(cfg.device))
                ]
        return {"imaging_quality_video_results": finite(imaging_video_score(mos), "imaging_quality")}

    info = IMAGING.info(name, cfg, weights=winfo, backend="torch", device=cfg.device)
    return PerVideoScorer(info, min_frames=1, compute=compute, prepare=prepare)


IMAGING = ScorerSpec(
    name="vbench_imaging_quality",
    build=build_imaging_quality,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("imaging_quality_video_results",),
    modalities=("video",),
    options=ImagingOptions,
    families=("musiq",),
    bench=(BenchMetric("vbench", "imaging_quality", output="imaging_quality_video_results"),),
    summary="VBench imaging_quality: mean MUSIQ-SPAQ MOS of the frames (0-100)",
)

SCORERS = (IMAGING,)
