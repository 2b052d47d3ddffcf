"""GRiT's 3-stage cascade ROI heads (`roi_heads.box_head.*`, `roi_heads.box_predictor.*`, `roi_heads.mask_head.*`).

Facts reproduced from GRiT's `grit/modeling/roi_heads/{grit_roi_heads,grit_fast_rcnn}.py` and detectron2's
CascadeROIHeads / FastRCNNConvFCHead / ROIPooler defaults with Base.yaml:
- box features: ROIAlignV2 7x7 (sampling ratio 0 = adaptive) on p3..p5, level by the canonical 224 px rule;
- per stage: fc1 -> ReLU -> fc2 -> ReLU (1024), a 2-way `cls_score` (foreground, background) and a
  class-agnostic `bbox_pred` MLP (Linear -> ReLU -> Linear(4)) decoded with the stage's box weights
  (10,10,5,5), (20,20,10,10), (30,30,15,15); stage k > 0 runs on stage k-1's boxes clipped to the image;
- scores: softmax probabilities averaged over the three stages, then (MULT_PROPOSAL_SCORE)
  sqrt(mean_prob * proposal_score); boxes: the last stage's, clipped; keep foreground score > 0.5,
  NMS 0.5, at most 256, in decreasing score order;
- the mask head exists in the checkpoint but its masks are never read by VBench; it is built for the
  key layout and not run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.functional.detection_ops import (
    apply_deltas,
    batched_nms,
    clip_boxes,
    multilevel_roi_align,
)
from omninft.reward_servers.models.grit.config import CASCADE_BOX_WEIGHTS, GRiTConfig

BOX_SCALES = (1 / 8, 1 / 16, 1 / 32)  # p3, p4, p5


class BoxHead(nn.Module):
    """FastRCNNConvFCHead with two fully connected layers."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        r = cfg.box_pooler_resolution
        self.fc1 = nn.Linear(cfg.fpn_channels * r * r, cfg.box_fc_dim)
        self.fc2 = nn.Linear(cfg.box_fc_dim, cfg.box_fc_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, r, r) -> (N, fc_dim)."""
        return F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))


class BoxPredictor(nn.Module):
    """Foreground/background logits and class-agnostic box deltas."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        d = cfg.box_fc_dim
        self.cls_score = nn.Linear(d, 2)
        self.bbox_pred = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (N, 2), deltas (N, 4))."""
        return self.cls_score(x), self.bbox_pred(x)


class MaskHead(nn.Module):
    """MaskRCNNConvUpsampleHead (class-agnostic): present for the checkpoint layout; VBench never uses masks."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        c, d = cfg.fpn_channels, cfg.mask_conv_dim
        for i in range(cfg.mask_num_convs):
            self.add_module(f"mask_fcn{i + 1}", nn.Conv2d(c if i == 0 else d, d, 3, padding=1))
        self.deconv = nn.ConvTranspose2d(d, d, 2, stride=2)
        self.predictor = nn.Conv2d(d, 1, 1)


@dataclass(frozen=True)
class BoxDetections:
    """Cascade output for one image: xyxy boxes (N, 4) and scores (N,), decreasing score order."""

    boxes: torch.Tensor
    scores: torch.Tensor


class CascadeBoxHeads(nn.Module):
    """Three box heads/predictors and the mask head (keys under `roi_heads.`)."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.box_head = nn.ModuleList(BoxHead(cfg) for _ in CASCADE_BOX_WEIGHTS)
        self.box_predictor = nn.ModuleList(BoxPredictor(cfg) for _ in CASCADE_BOX_WEIGHTS)
        self.mask_head = MaskHead(cfg)

    def detect(
        self,
        features: list[torch.Tensor],
        proposals: torch.Tensor,
        proposal_scores: torch.Tensor,
        image_size: tuple[int, int],
    ) -> BoxDetections:
        """Cascade on (N, 4) proposals of one image of (height, width) -> thresholded, NMS'd detections."""
        h, w = image_size
        boxes = proposals
        probs = []
        for k, weights in enumerate(CASCADE_BOX_WEIGHTS):
            if k > 0:
                boxes = clip_boxes(boxes, h, w)
            pooled = multilevel_roi_align(
                features, boxes, self.cfg.box_pooler_resolution, BOX_SCALES, self.cfg.pooler_sampling_ratio
            )
            logits, deltas = self.box_predictor[k](self.box_head[k](pooled))
            probs.append(F.softmax(logits, dim=-1))
            boxes = apply_deltas(deltas, boxes, weights)
        # the reference sums with Python's sum() (0 + p0 + p1 + p2) and scales by 1/3
        mean = (probs[0] + probs[1] + probs[2]) * (1.0 / len(CASCADE_BOX_WEIGHTS))
        scores = (mean * proposal_scores[:, None]) ** 0.5
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
        boxes, scores = boxes[valid], scores[valid]
        fg = scores[:, 0]
        boxes = clip_boxes(boxes, h, w)
        keep = torch.nonzero(fg > self.cfg.score_thresh).flatten()
        boxes, fg = boxes[keep], fg[keep]
        order = batched_nms(boxes, fg, torch.zeros_like(fg, dtype=torch.int64), self.cfg.nms_thresh)
        order = order[: self.cfg.detections_per_image]
        return BoxDetections(boxes[order], fg[order])
