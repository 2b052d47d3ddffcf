"""CenterNet2's class-agnostic proposal stage as GRiT configures it (ONLY_PROPOSAL, WITH_AGN_HM).

Layout of `proposal_generator.centernet_head.*`. Facts reproduced from CenterNet2's
`centernet/modeling/dense_heads/{centernet,centernet_head}.py` with GRiT's Base.yaml:
- one head shared by p3..p7: a box tower of 4 x (conv3x3 + GroupNorm(32) + ReLU) (the class tower is empty
  in proposal-only mode), then a 3x3 `agn_hm` heatmap conv and a 3x3 `bbox_pred` conv whose output is
  multiplied by a learned per-level scale and ReLU'd: distances (l, t, r, b) in units of the stride;
- locations are the stride grid shifted by stride // 2; boxes are (x - l, y - t, x + r, y + b) in input
  pixels, with x2 >= x1 + 0.01 and y2 >= y1 + 0.01 forced;
- per level the sigmoid heatmap is thresholded at INFERENCE_TH 1e-4 and at most PRE_NMS_TOPK_TEST (1000)
  candidates are kept; the proposal score is sqrt(heatmap);
- all levels are joined, NMS at 0.9, and when more than POST_NMS_TOPK_TEST (256) remain, every proposal
  scoring at least the 256th best score is kept (ties can keep more);
- proposals are not clipped to the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.functional.detection_ops import batched_nms
from omninft.reward_servers.models.grit.config import GRiTConfig

STRIDES = (8, 16, 32, 64, 128)


class Scale(nn.Module):
    """A learned scalar multiplier."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * scale."""
        return x * self.scale


class CenterNetHead(nn.Module):
    """Shared box tower, agnostic heatmap and ltrb regression over the pyramid levels."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        c = cfg.fpn_channels
        tower: list[nn.Module] = []
        for _ in range(cfg.centernet_convs):
            tower += [nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(32 if c % 32 == 0 else 25, c), nn.ReLU()]
        self.bbox_tower = nn.Sequential(*tower)
        self.bbox_pred = nn.Conv2d(c, 4, 3, padding=1)
        self.scales = nn.ModuleList(Scale() for _ in STRIDES)
        self.agn_hm = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(heatmap logits (B, 1, h, w), ltrb distances in stride units (B, 4, h, w)) per level."""
        heat, reg = [], []
        for level, f in enumerate(features):
            t = self.bbox_tower(f)
            heat.append(self.agn_hm(t))
            reg.append(F.relu(self.scales[level](self.bbox_pred(t))))
        return heat, reg


def level_grid(h: int, w: int, stride: int, device: torch.device) -> torch.Tensor:
    """(h*w, 2) pixel locations (x, y) of a level's cells, row-major, at stride * i + stride // 2."""
    xs = torch.arange(0, w * stride, stride, dtype=torch.float32, device=device)
    ys = torch.arange(0, h * stride, stride, dtype=torch.float32, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx.reshape(-1), gy.reshape(-1)), dim=1) + stride // 2


def decode_level(
    heat: torch.Tensor, reg: torch.Tensor, stride: int, thresh: float, topk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One level's candidates: heat (h, w) sigmoid scores, reg (4, h, w) ltrb in stride units ->
    (boxes (n, 4) in pixels, scores sqrt(heat) (n,)) for cells with heat > thresh, at most topk of them."""
    h, w = heat.shape
    flat = heat.reshape(-1)
    dist = (reg * stride).permute(1, 2, 0).reshape(-1, 4)
    cand = torch.nonzero(flat > thresh).flatten()
    cand_scores = flat[cand]
    if cand.numel() > topk:
        # CenterNet2 takes an unsorted top-k here; the order is re-established by NMS's sort.
        cand_scores, top = cand_scores.topk(topk, sorted=True)
        cand = cand[top]
    grid = level_grid(h, w, stride, heat.device)[cand]
    d = dist[cand]
    x1 = grid[:, 0] - d[:, 0]
    y1 = grid[:, 1] - d[:, 1]
    x2 = torch.maximum(grid[:, 0] + d[:, 2], x1 + 0.01)
    y2 = torch.maximum(grid[:, 1] + d[:, 3], y1 + 0.01)
    return torch.stack((x1, y1, x2, y2), dim=1), torch.sqrt(cand_scores)


class CenterNetProposals(nn.Module):
    """Proposal generator: pyramid maps -> (boxes (N, 4), scores (N,)) for one image, sorted by score."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.centernet_head = CenterNetHead(cfg)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Proposals of the single image in `features` (batch size 1, as the reference predictor runs)."""
        if features[0].shape[0] != 1:
            raise ValueError("GRiT proposals are computed one image at a time")
        heat_logits, reg = self.centernet_head(features)
        boxes, scores = [], []
        for level, (hm, rg) in enumerate(zip(heat_logits, reg, strict=True)):
            b, sc = decode_level(
                hm.sigmoid()[0, 0],
                rg[0],
                STRIDES[level],
                self.cfg.proposal_score_thresh,
                self.cfg.pre_nms_topk,
            )
            boxes.append(b)
            scores.append(sc)
        all_boxes = torch.cat(boxes)
        all_scores = torch.cat(scores)
        keep = batched_nms(
            all_boxes,
            all_scores,
            torch.zeros_like(all_scores, dtype=torch.int64),
            self.cfg.proposal_nms_thresh,
        )
        all_boxes, all_scores = all_boxes[keep], all_scores[keep]
        k = self.cfg.post_nms_topk
        if all_scores.numel() > k:
            thresh = torch.kthvalue(all_scores.float().cpu(), all_scores.numel() - k + 1).values.item()
            sel = torch.nonzero(all_scores >= thresh).flatten()
            all_boxes, all_scores = all_boxes[sel], all_scores[sel]
        return all_boxes, all_scores
