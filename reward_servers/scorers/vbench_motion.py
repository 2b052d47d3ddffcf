"""VBench Quality dimensions about motion: temporal_flickering, motion_smoothness, dynamic_degree, and the static
filter that selects temporal_flickering's videos (specs/vbench.md §1.3-1.5, §12).

Each scorer follows the runner's contract (`omninft.bench.suites.vbench`): one video per sample, outputs named
`<dimension>_<field>`. All frames of the decoded video are used, as the reference reads them.

- `vbench_temporal_flickering` (model-free): (255 - mean MAE of consecutive frames) / 255.
- `vbench_motion_smoothness` (AMT-S): even frames interpolated at t=0.5 against the odd frames between them.
  AMT's downscale `scale` is an explicit option (1.0, what the reference's CLI runs; or "auto", the reference's
  GPU-memory rule) and every result carries the scale it ran at (`motion_smoothness_scale`).
- `vbench_dynamic_degree` (RAFT-things): frames at ~8 fps, 1.0 when enough pairs' top-5 % flow exceeds the
  threshold; stops scoring pairs once the verdict is known (same verdict as the reference's full pass).
- `vbench_static_filter` (RAFT-things, Embed): the N+1 top-2 % flow scores of the static filter's pairs
  (consecutive, then first->last, last->first) and the frame shape; `omninft-bench vbench static-filter`
  decides with the reference's thresholds. Every pair is scored (the contract's full list).

Frames too small for the models' correlation pyramids (short side under 121 px; see MIN_PADDED_SIDE) are
edge-padded first, where the reference produces NaN flow or fails; larger videos take the reference's path
unchanged. `pair_batch` (default 1, the reference's one pair per forward) trades bit-parity for speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from omninft.reward_servers.functional.vbench_motion import (
    DYNAMIC_TOP_FRACTION,
    STATIC_TOP_FRACTION,
    amt_scale,
    dynamic_frame_indices,
    dynamic_thresholds,
    is_dynamic,
    static_filter_pairs,
    temporal_flickering_score,
)
from omninft.reward_servers.scorers._vbench import (
    PROTOCOL,
    PerVideoScorer,
    VideoItem,
    require_torch_backend,
    shared_amt,
    shared_raft,
    warn_tiny,
)
from omninft.reward_servers.scorers.base import InputSpec, ScorerConfig
from omninft.reward_servers.scorers.spec import (
    NO_WEIGHTS,
    BenchMetric,
    NoOptions,
    ScorerSpec,
    finite,
    scorer_options,
)

VERSION = "1.0.0"
AUTO_SCALE = "auto"
# RAFT and AMT-S build a 4-level correlation pyramid on 1/8-resolution features; its coarsest level must be at
# least 2 pixels wide, or the bilinear lookup divides by (W - 1) = 0 and the flow is NaN (in the reference too,
# which then calls such a video static / not dynamic, or fails). So a frame whose padded short side is under
# 8 * 2**4 px is first edge-padded (centred) to that size; the thresholds still come from the original size and
# motion_smoothness compares only the original pixels. Videos of 121 px and more (all of VBench's) are untouched.
MIN_PADDED_SIDE = 128


def _padded(side: int, divisor: int) -> int:
    return -(-side // divisor) * divisor


def edge_pad_to(frames: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """(frames edge-padded, centred, to at least height x width; top offset; left offset)."""
    h, w = frames.shape[1:3]
    ph, pw = max(0, height - h), max(0, width - w)
    top, left = ph // 2, pw // 2
    if ph == 0 and pw == 0:
        return frames, 0, 0
    return np.pad(frames, ((0, 0), (top, ph - top), (left, pw - left), (0, 0)), mode="edge"), top, left


def raft_view(frames: np.ndarray) -> np.ndarray:
    """The frames RAFT sees: unchanged when the /8-padded sides reach MIN_PADDED_SIDE, else edge-padded to it."""
    h, w = frames.shape[1:3]
    need_h = h if _padded(h, 8) >= MIN_PADDED_SIDE else MIN_PADDED_SIDE
    need_w = w if _padded(w, 8) >= MIN_PADDED_SIDE else MIN_PADDED_SIDE
    return edge_pad_to(frames, need_h, need_w)[0]


def amt_min_sides(height: int, width: int, scale: float) -> tuple[int, int]:
    """The frame size AMT-S needs at `scale` (the /int(16/scale)-padded side times scale reaching MIN_PADDED_SIDE)."""
    divisor = int(16 / scale)
    floor = math.ceil(MIN_PADDED_SIDE / scale)
    return tuple(
        side if _padded(side, divisor) * scale >= MIN_PADDED_SIDE else floor  # type: ignore[return-value]
        for side in (height, width)
    )


# ------------------------------------------------------------------------------------------ temporal_flickering


def _flicker(item: VideoItem) -> dict[str, Any]:
    return {"temporal_flickering_video_results": temporal_flickering_score(item.frames)}


def build_temporal_flickering(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: no model; the MAE of consecutive frames."""
    scorer_options(NoOptions, name, cfg)
    info = FLICKER.info(name, cfg, weights=NO_WEIGHTS, backend="numpy", device="cpu")
    return PerVideoScorer(info, min_frames=2, compute=_flicker)


# ------------------------------------------------------------------------------------------ motion_smoothness


@dataclass(frozen=True)
class MotionSmoothnessOptions:
    """Options of vbench_motion_smoothness."""

    # AMT's internal downscale: a number in (0, 1] (1.0 = the reference CLI's setting), or "auto" = the
    # reference's rule from the frame size and the GPU's memory (on CPU: 1.0 below ~67 Mpx).
    scale: float | Literal["auto"] = 1.0
    # Frame pairs per AMT forward pass: 1 = the reference's one pair at a time (bit-parity); more is faster
    # on an accelerator and moves a prediction by ~1e-6 before the uint8 truncation.
    pair_batch: int = 1

    def __post_init__(self) -> None:
        if self.scale != AUTO_SCALE and not (
            math.isfinite(float(self.scale)) and 0.0 < float(self.scale) <= 1.0
        ):
            raise ValueError(f"scale must be in (0, 1] or 'auto', got {self.scale!r}")
        if self.pair_batch < 1:
            raise ValueError(f"pair_batch must be >= 1, got {self.pair_batch}")


def _gpu_memory(device: str) -> int | None:
    """Total memory of cfg.device's GPU (the reference's rule reads it), None on CPU."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    return int(torch.cuda.get_device_properties(dev.index or 0).total_memory)


def _smoothness_padded(model: Any, frames: np.ndarray, scale: float, height: int, width: int) -> float:
    """motion_smoothness of frames too small for AMT-S: interpolate edge-padded frames, score the original pixels."""
    import torch

    from omninft.reward_servers.functional.vbench_motion import (
        frame_abs_diff_mean,
        interpolation_plan,
        motion_smoothness_score,
        to_uint8_truncate,
    )
    from omninft.reward_servers.models.amt import interpolate_midpoint

    padded, top, left = edge_pad_to(frames, height, width)
    h, w = frames.shape[1:3]
    dev = next(model.parameters()).device

    def tensor(i: int) -> torch.Tensor:
        return (torch.from_numpy(np.ascontiguousarray(padded[i])).permute(2, 0, 1)[None] / 255.0).to(dev)

    diffs = []
    plan = interpolation_plan(frames.shape[0])
    with torch.no_grad():
        for (i, j), target in zip(plan.pairs, plan.targets, strict=True):
            pred = interpolate_midpoint(model, tensor(i), tensor(j), scale=scale)[
                0, :, top : top + h, left : left + w
            ]
            diffs.append(
                frame_abs_diff_mean(
                    frames[target], to_uint8_truncate(pred.permute(1, 2, 0).float().cpu().numpy())
                )
            )
    return motion_smoothness_score(diffs)


def build_motion_smoothness(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: AMT-S (shared), the explicit or GPU-rule scale."""
    from omninft.reward_servers.models.amt import motion_smoothness_video

    opts = scorer_options(MotionSmoothnessOptions, name, cfg)
    require_torch_backend(name, cfg)
    model, winfo = shared_amt(cfg)
    warn_tiny(name, "AMT-S", winfo)
    vram = _gpu_memory(cfg.device)

    def compute(item: VideoItem) -> dict[str, Any]:
        h, w = item.frames.shape[1:3]
        scale = amt_scale(h, w, vram) if opts.scale == AUTO_SCALE else float(opts.scale)
        need_h, need_w = amt_min_sides(h, w, scale)
        if (need_h, need_w) == (h, w):
            score = motion_smoothness_video(model, item.frames, scale=scale, batch=opts.pair_batch).score
        else:
            score = _smoothness_padded(model, item.frames, scale, need_h, need_w)
        return {
            "motion_smoothness_video_results": finite(score, "motion_smoothness"),
            "motion_smoothness_scale": scale,
        }

    info = SMOOTHNESS.info(name, cfg, weights=winfo, backend="torch", device=cfg.device)
    return PerVideoScorer(info, min_frames=3, compute=compute)


# ------------------------------------------------------------------------------------------ dynamic_degree


@dataclass(frozen=True)
class RaftOptions:
    """Options of the RAFT scorers (vbench_dynamic_degree, vbench_static_filter)."""

    # RAFT refinement iterations; None = the model's own (20 for raft-things, as VBench; 3 for tiny).
    iters: int | None = None
    # Frame pairs per RAFT forward pass: 1 = the reference's one pair at a time (bit-parity); more is faster
    # on an accelerator and moves scores by ~1e-6.
    pair_batch: int = 1

    def __post_init__(self) -> None:
        if self.iters is not None and self.iters < 1:
            raise ValueError(f"iters must be >= 1, got {self.iters}")
        if self.pair_batch < 1:
            raise ValueError(f"pair_batch must be >= 1, got {self.pair_batch}")


def build_dynamic_degree(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: RAFT-things (shared with the static filter), ~8 fps pairs, top-5 % flow rule."""
    from omninft.reward_servers.models.raft import dynamic_degree_video, pair_scores

    opts = scorer_options(RaftOptions, name, cfg)
    require_torch_backend(name, cfg)
    model, winfo = shared_raft(cfg)
    warn_tiny(name, "RAFT", winfo)

    def compute(item: VideoItem) -> dict[str, Any]:
        view = raft_view(item.frames)
        if view is item.frames:
            dynamic = dynamic_degree_video(model, item.frames, item.fps, opts.iters, opts.pair_batch).decision
        else:  # padded for the pyramid: the same rule, thresholds from the original size
            idx = dynamic_frame_indices(item.frames.shape[0], item.fps)
            th = dynamic_thresholds(item.frames.shape[1], item.frames.shape[2], len(idx))
            pairs = [(k, k + 1) for k in range(len(idx) - 1)]
            dynamic = is_dynamic(
                pair_scores(model, view[idx], pairs, DYNAMIC_TOP_FRACTION, opts.iters, opts.pair_batch), th
            )
        return {"dynamic_degree_video_results": 1.0 if dynamic else 0.0}

    info = DYNAMIC.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video",), video_fps=8.0),
    )
    return PerVideoScorer(info, min_frames=1, compute=compute)


# ------------------------------------------------------------------------------------------ static filter


def build_static_filter(name: str, cfg: ScorerConfig) -> PerVideoScorer:
    """Registry target: RAFT-things (shared with dynamic_degree), every static-filter pair's top-2 % flow."""
    from omninft.reward_servers.models.raft import pair_scores

    opts = scorer_options(RaftOptions, name, cfg)
    require_torch_backend(name, cfg)
    model, winfo = shared_raft(cfg)
    warn_tiny(name, "RAFT", winfo)

    def compute(item: VideoItem) -> dict[str, Any]:
        n, h, w = item.frames.shape[:3]
        scores = pair_scores(
            model,
            raft_view(item.frames),
            static_filter_pairs(n),
            STATIC_TOP_FRACTION,
            opts.iters,
            opts.pair_batch,
        )
        scores = [finite(x, "a pair's flow score") for x in scores]
        return {
            "pair_scores": np.asarray(scores, dtype=np.float64),
            "frame_shape": np.asarray((n, h, w), dtype=np.float64),
        }

    info = STATIC_FILTER.info(name, cfg, weights=winfo, backend="torch", device=cfg.device)
    return PerVideoScorer(info, min_frames=1, compute=compute, embed=True)


FLICKER = ScorerSpec(
    name="vbench_temporal_flickering",
    build=build_temporal_flickering,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("temporal_flickering_video_results",),
    modalities=("video",),
    bench=(BenchMetric("vbench", "temporal_flickering", output="temporal_flickering_video_results"),),
    summary="VBench temporal_flickering: (255 - mean MAE of consecutive frames) / 255 (model-free)",
)
SMOOTHNESS = ScorerSpec(
    name="vbench_motion_smoothness",
    build=build_motion_smoothness,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("motion_smoothness_video_results", "motion_smoothness_scale"),
    modalities=("video",),
    options=MotionSmoothnessOptions,
    families=("amt",),
    bench=(BenchMetric("vbench", "motion_smoothness", output="motion_smoothness_video_results"),),
    summary="VBench motion_smoothness: AMT-S midpoint interpolation error of the odd frames (scale recorded)",
)
DYNAMIC = ScorerSpec(
    name="vbench_dynamic_degree",
    build=build_dynamic_degree,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("dynamic_degree_video_results",),
    modalities=("video",),
    options=RaftOptions,
    families=("raft",),
    bench=(BenchMetric("vbench", "dynamic_degree", output="dynamic_degree_video_results"),),
    summary="VBench dynamic_degree: 1.0 when RAFT flow at ~8 fps shows enough motion, else 0.0",
)
STATIC_FILTER = ScorerSpec(
    name="vbench_static_filter",
    build=build_static_filter,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=(),
    embeddings=("pair_scores", "frame_shape"),
    modalities=("video",),
    options=RaftOptions,
    families=("raft",),
    summary="VBench static filter: RAFT top-2 % flow of each frame pair (decided by omninft-bench vbench static-filter)",
)

SCORERS = (FLICKER, SMOOTHNESS, DYNAMIC, STATIC_FILTER)
