"""Per-video formulas and aggregates of four VBench Quality dimensions (specs/vbench.md §1.1, §1.2, §1.6, §1.7, §4).

Pure torch/numpy; the models (DINO, CLIP, the LAION head, MUSIQ) produce the inputs.

- subject_consistency (DINO CLS) and background_consistency (CLIP B/32 image embeddings): features are
  L2-normalised; for t = 1..N-1, ``s_t = (max(0, cos(f_{t-1}, f_t)) + max(0, cos(f_0, f_t))) / 2``; per video
  ``video_results = Σ s_t / (N-1)``; the dimension's aggregate is **weighted per frame pair**:
  ``Σ_videos Σ_t s_t / Σ_videos (N_v - 1)`` (the single-GPU formula; §0.1). background_consistency also
  reports ``video_sim = Σ s_t`` and ``cnt_per_video = N-1``; with one frame the reference reports 1.0 for
  background and divides by zero for subject.
- aesthetic_quality: per frame, the LAION head on the L2-normalised fp32 CLIP L/14 embedding, / 10; per video
  the float32 mean over frames; aggregate: the unweighted mean over videos.
- imaging_quality: per video the mean of the per-frame MUSIQ MOS, **0-100**; aggregate: the unweighted mean
  over videos / 100.

The reference accumulates per-video sums as Python floats in frame order; that is kept (same bits). Across
videos it sums in file-list order; here aggregates use ``math.fsum`` so they do not depend on listing order
(they differ from a naive sum by rounding only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PairConsistency:
    """One video's consistency terms: Σ s_t over its frame pairs and the number of pairs."""

    video_sim: float
    cnt_per_video: int

    def video_results(self, *, empty: float | None = None) -> float:
        """Σ s_t / (N-1); a video without pairs gives `empty` (background's 1.0) or ValueError (subject's crash)."""
        if self.cnt_per_video == 0:
            if empty is None:
                raise ValueError("a 1-frame video has no frame pairs: consistency is undefined")
            return empty
        return self.video_sim / self.cnt_per_video


def l2_normalize(features: torch.Tensor) -> torch.Tensor:
    """``F.normalize(x, dim=-1, p=2)`` (eps 1e-12), as both consistency dimensions and aesthetic_quality do."""
    return F.normalize(features, dim=-1, p=2)


def frame_pair_consistency(features: torch.Tensor) -> PairConsistency:
    """Consistency terms of one video from its per-frame features (N, D), normalised here.

    Each cosine is ``F.cosine_similarity`` of two (1, D) rows turned into a Python float, as the reference
    does frame by frame, so a frame's terms do not depend on how many frames were stacked.
    """
    if features.dim() != 2:
        raise ValueError(f"expected per-frame features (N, D), got shape {tuple(features.shape)}")
    feats = l2_normalize(features)
    video_sim = 0.0
    for t in range(1, feats.shape[0]):
        cur = feats[t : t + 1]
        sim_pre = max(0.0, F.cosine_similarity(feats[t - 1 : t], cur).item())
        sim_fir = max(0.0, F.cosine_similarity(feats[0:1], cur).item())
        video_sim += (sim_pre + sim_fir) / 2
    return PairConsistency(video_sim, max(int(feats.shape[0]) - 1, 0))


def pair_weighted_aggregate(videos: Iterable[PairConsistency]) -> float:
    """``Σ video_sim / Σ cnt_per_video`` over videos: the frame-pair-weighted dimension score."""
    items = list(videos)
    pairs = sum(v.cnt_per_video for v in items)
    if pairs == 0:
        raise ValueError("no frame pairs in any video: the consistency aggregate is undefined")
    return math.fsum(v.video_sim for v in items) / pairs


def aesthetic_video_score(head_scores: torch.Tensor) -> float:
    """Mean over frames of LAION-head score / 10, in float32 as the reference's ``torch.mean`` (one video)."""
    scores = head_scores.reshape(-1).to(torch.float32)
    if scores.numel() == 0:
        raise ValueError("no frames: aesthetic score is undefined")
    return float(torch.mean(scores / 10, dim=0, keepdim=True).item())


def imaging_video_score(frame_mos: Sequence[float]) -> float:
    """Mean of the per-frame MUSIQ MOS (0-100 scale), accumulated as Python floats in frame order."""
    if len(frame_mos) == 0:
        raise ValueError("no frames: imaging quality is undefined")
    acc = 0.0
    for s in frame_mos:
        acc += float(s)
    return acc / len(frame_mos)


def mean_over_videos(values: Iterable[float]) -> float:
    """Unweighted mean of per-video values (aesthetic_quality's aggregate)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no videos: the dimension aggregate is undefined")
    return math.fsum(vals) / len(vals)


def imaging_aggregate(per_video_0_100: Iterable[float]) -> float:
    """imaging_quality's aggregate: mean of per-video 0-100 values, / 100 (a 0-1 score)."""
    return mean_over_videos(per_video_0_100) / 100.0
