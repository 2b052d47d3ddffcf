"""Detection primitives in plain torch: box coder, NMS, ROIAlign and FPN level assignment.

Semantics are those of detectron2 / torchvision as GRiT (CenterNet2) configures them, re-implemented so
that neither library is needed:
- `apply_deltas` / `get_deltas`: detectron2 `Box2BoxTransform` (centre/size parametrisation, per-stage
  weights, dw/dh clamped at log(1000/16) before exp).
- `nms` / `batched_nms`: torchvision's greedy NMS (scores sorted descending, stable; a box is dropped when
  its IoU with a kept box is strictly greater than the threshold; areas without the legacy +1).
- `roi_align`: ROIAlign with aligned=True ("ROIAlignV2"): half-pixel shifted boxes, no minimum box size,
  `sampling_ratio <= 0` meaning ceil(roi_size / output_size) samples per bin, samples outside
  [-1, size] contribute zero, bin value = mean over its samples.
- `assign_levels`: detectron2 ROIPooler's canonical-size rule (224 px at level 4).
"""

from __future__ import annotations

import math

import numpy as np
import torch

# detectron2's _DEFAULT_SCALE_CLAMP: no box grows by more than 1000/16 in one step.
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def apply_deltas(
    deltas: torch.Tensor,
    boxes: torch.Tensor,
    weights: tuple[float, float, float, float],
    scale_clamp: float = DEFAULT_SCALE_CLAMP,
) -> torch.Tensor:
    """Decode (N, 4k) deltas relative to (N, 4) xyxy boxes into (N, 4k) xyxy boxes."""
    deltas = deltas.float()
    boxes = boxes.to(deltas.dtype)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = torch.clamp(deltas[:, 2::4] / ww, max=scale_clamp)
    dh = torch.clamp(deltas[:, 3::4] / wh, max=scale_clamp)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    x1 = pred_ctr_x - 0.5 * pred_w
    y1 = pred_ctr_y - 0.5 * pred_h
    x2 = pred_ctr_x + 0.5 * pred_w
    y2 = pred_ctr_y + 0.5 * pred_h
    return torch.stack((x1, y1, x2, y2), dim=-1).reshape(deltas.shape)


def get_deltas(
    src_boxes: torch.Tensor, target_boxes: torch.Tensor, weights: tuple[float, float, float, float]
) -> torch.Tensor:
    """Encode (N, 4) xyxy targets relative to (N, 4) xyxy sources: the inverse of apply_deltas."""
    src_w = src_boxes[:, 2] - src_boxes[:, 0]
    src_h = src_boxes[:, 3] - src_boxes[:, 1]
    src_x = src_boxes[:, 0] + 0.5 * src_w
    src_y = src_boxes[:, 1] + 0.5 * src_h
    tgt_w = target_boxes[:, 2] - target_boxes[:, 0]
    tgt_h = target_boxes[:, 3] - target_boxes[:, 1]
    tgt_x = target_boxes[:, 0] + 0.5 * tgt_w
    tgt_y = target_boxes[:, 1] + 0.5 * tgt_h
    wx, wy, ww, wh = weights
    return torch.stack(
        (
            wx * (tgt_x - src_x) / src_w,
            wy * (tgt_y - src_y) / src_h,
            ww * torch.log(tgt_w / src_w),
            wh * torch.log(tgt_h / src_h),
        ),
        dim=1,
    )


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Clamp xyxy boxes to [0, width] x [0, height] (detectron2 Boxes.clip)."""
    x1 = boxes[:, 0].clamp(min=0, max=width)
    y1 = boxes[:, 1].clamp(min=0, max=height)
    x2 = boxes[:, 2].clamp(min=0, max=width)
    y2 = boxes[:, 3].clamp(min=0, max=height)
    return torch.stack((x1, y1, x2, y2), dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """(x2 - x1) * (y2 - y1) per xyxy box."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) IoU of xyxy boxes as torchvision's NMS kernel computes it: inter / (area_a + area_b - inter)."""
    lt_x = torch.maximum(a[:, None, 0], b[None, :, 0])
    lt_y = torch.maximum(a[:, None, 1], b[None, :, 1])
    rb_x = torch.minimum(a[:, None, 2], b[None, :, 2])
    rb_y = torch.minimum(a[:, None, 3], b[None, :, 3])
    inter = (rb_x - lt_x).clamp(min=0) * (rb_y - lt_y).clamp(min=0)
    return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the kept boxes, in decreasing score order (greedy, torchvision semantics)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order].float()
    # Row i of `over` says which later boxes the kept box i would suppress.
    over = (pairwise_iou(sorted_boxes, sorted_boxes) > iou_threshold).cpu().numpy()
    n = over.shape[0]
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed[i + 1 :] |= over[i, i + 1 :]
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """NMS within each label, kept indices in decreasing score order (torchvision's per-class loop)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    keep_mask = torch.zeros(scores.shape[0], dtype=torch.bool, device=boxes.device)
    for label in torch.unique(labels):
        idx = torch.nonzero(labels == label).flatten()
        keep_mask[idx[nms(boxes[idx], scores[idx], iou_threshold)]] = True
    kept = torch.nonzero(keep_mask).flatten()
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


def assign_levels(
    boxes: torch.Tensor,
    min_level: int,
    max_level: int,
    canonical_box_size: float = 224.0,
    canonical_level: int = 4,
) -> torch.Tensor:
    """Pyramid level index (0 = min_level) per xyxy box: floor(4 + log2(sqrt(area) / 224)), clamped."""
    sizes = torch.sqrt(box_area(boxes))
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    return (torch.clamp(levels, min=min_level, max=max_level) - min_level).to(torch.int64)


def _axis_samples(
    start: torch.Tensor, size: torch.Tensor, out: int, grid: torch.Tensor, g: int, limit: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear (low index, high index, low weight, high weight) of out*g samples per ROI along one axis."""
    n = start.shape[0]
    bin_size = size / out
    p = torch.arange(out, dtype=start.dtype, device=start.device)
    i = torch.arange(g, dtype=start.dtype, device=start.device)
    # coordinate of sample i in bin p: start + p * bin + (i + 0.5) * bin / grid
    coord = (
        start[:, None, None]
        + p[None, :, None] * bin_size[:, None, None]
        + (i[None, None, :] + 0.5) * bin_size[:, None, None] / grid[:, None, None]
    ).reshape(n, out * g)
    valid = (coord >= -1.0) & (coord <= limit)
    coord = coord.clamp(min=0)
    low = torch.floor(coord).to(torch.int64)
    at_edge = low >= limit - 1
    low = torch.where(at_edge, torch.full_like(low, limit - 1), low)
    high = torch.where(at_edge, low, low + 1)
    coord = torch.where(at_edge, low.to(coord.dtype), coord)
    frac = coord - low.to(coord.dtype)
    vf = valid.to(coord.dtype)
    return low, high, (1.0 - frac) * vf, frac * vf


def roi_align(
    feature: torch.Tensor,
    rois: torch.Tensor,
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int = 0,
    aligned: bool = True,
    chunk: int = 64,
) -> torch.Tensor:
    """ROIAlign of (K, 5) rois [batch index, x1, y1, x2, y2] on (B, C, H, W) -> (K, C, out, out)."""
    k = rois.shape[0]
    _, c, h, w = feature.shape
    out = torch.zeros((k, c, output_size, output_size), dtype=feature.dtype, device=feature.device)
    if k == 0:
        return out
    offset = 0.5 if aligned else 0.0
    r = rois.to(feature.dtype)
    x1 = r[:, 1] * spatial_scale - offset
    y1 = r[:, 2] * spatial_scale - offset
    rw = r[:, 3] * spatial_scale - offset - x1
    rh = r[:, 4] * spatial_scale - offset - y1
    if not aligned:
        rw = rw.clamp(min=1.0)
        rh = rh.clamp(min=1.0)
    if sampling_ratio > 0:
        gy = torch.full((k,), sampling_ratio, dtype=torch.int64, device=rois.device)
        gx = gy.clone()
    else:
        gy = torch.ceil(rh / output_size).to(torch.int64)
        gx = torch.ceil(rw / output_size).to(torch.int64)
    flat = feature.reshape(feature.shape[0], c, h * w)
    batch = rois[:, 0].to(torch.int64)
    # ROIs sharing a sampling grid are computed together; the grid size is what varies per ROI.
    pairs = torch.stack((gy, gx), dim=1)
    for gyv, gxv in torch.unique(pairs, dim=0).tolist():
        sel = torch.nonzero((gy == gyv) & (gx == gxv)).flatten()
        if gyv <= 0 or gxv <= 0:
            continue  # an empty grid averages nothing: the bins stay 0
        for part in sel.split(chunk):
            ylo, yhi, wylo, wyhi = _axis_samples(
                y1[part], rh[part], output_size, gy[part].to(r.dtype), gyv, h
            )
            xlo, xhi, wxlo, wxhi = _axis_samples(
                x1[part], rw[part], output_size, gx[part].to(r.dtype), gxv, w
            )
            acc = torch.zeros(
                (part.shape[0], c, ylo.shape[1], xlo.shape[1]), dtype=feature.dtype, device=feature.device
            )
            for yi, wy in ((ylo, wylo), (yhi, wyhi)):
                for xi, wx in ((xlo, wxlo), (xhi, wxhi)):
                    idx = yi[:, :, None] * w + xi[:, None, :]  # (n, Sy, Sx) flat positions
                    vals = torch.empty_like(acc)
                    for b in torch.unique(batch[part]).tolist():
                        rows = torch.nonzero(batch[part] == b).flatten()
                        picked = flat[b][:, idx[rows].reshape(-1)]  # (C, m * Sy * Sx)
                        vals[rows] = picked.reshape(c, rows.shape[0], *idx.shape[1:]).transpose(0, 1)
                    acc = acc + vals * (wy[:, None, :, None] * wx[:, None, None, :])
            pooled = acc.reshape(part.shape[0], c, output_size, gyv, output_size, gxv).sum(dim=(3, 5))
            out[part] = pooled / float(gyv * gxv)
    return out


def multilevel_roi_align(
    features: list[torch.Tensor],
    boxes: torch.Tensor,
    output_size: int,
    scales: tuple[float, ...],
    sampling_ratio: int = 0,
) -> torch.Tensor:
    """detectron2 ROIPooler (ROIAlignV2) for the boxes of one image: level per box, then aligned ROIAlign."""
    n = boxes.shape[0]
    c = features[0].shape[1]
    out = torch.zeros((n, c, output_size, output_size), dtype=features[0].dtype, device=boxes.device)
    if n == 0:
        return out
    min_level = int(-math.log2(scales[0]))
    max_level = int(-math.log2(scales[-1]))
    levels = (
        assign_levels(boxes, min_level, max_level)
        if len(features) > 1
        else torch.zeros_like(boxes[:, 0]).long()
    )
    rois = torch.cat((torch.zeros_like(boxes[:, :1]), boxes), dim=1)
    for lvl, (feat, scale) in enumerate(zip(features, scales, strict=True)):
        idx = torch.nonzero(levels == lvl).flatten()
        if idx.numel():
            out[idx] = roi_align(feat, rois[idx], output_size, scale, sampling_ratio, aligned=True)
    return out
