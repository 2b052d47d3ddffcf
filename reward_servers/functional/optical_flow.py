"""Optical-flow building blocks shared by RAFT and AMT: all-pairs correlation, its pyramid lookup, convex
upsampling and backward warping. Pure torch, no CUDA extension, no torchvision.

Semantics follow the reference implementations (princeton-vl/RAFT core/corr.py, core/utils/utils.py and
AMT networks/blocks/raft.py, utils/flow_utils.py, as vendored by VBench):
- correlation: ``<f1(p), f2(q)> / sqrt(C)`` for all pixel pairs, the divisor a float32 sqrt;
- pyramid: 2x2 average pooling of the (h2, w2) side only, num_levels levels;
- lookup: for each level i a (2r+1)^2 window sampled bilinearly at ``coords / 2**i + delta`` with zeros
  outside, pixel coordinates normalised by (W-1, H-1) for ``grid_sample(align_corners=True)``. The window
  offsets come from ``stack(meshgrid(dy, dx, indexing='ij'), -1)`` added to (x, y) coordinates, so the
  first window axis moves x and the second moves y (the references' transposed window; checkpoints
  depend on that feature order);
- convex upsampling: a softmax over 9 neighbours of the 8x flow, per output sub-pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def coords_grid(batch: int, height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(batch, 2, height, width) pixel coordinates, channel 0 = x (column), channel 1 = y (row), float32."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
    )
    return torch.stack([xs, ys], dim=0).float()[None].repeat(batch, 1, 1, 1)


def all_pairs_correlation(fmap1: torch.Tensor, fmap2: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 1, H, W) dot products of every feature of fmap1 with every feature of fmap2, / sqrt(C)."""
    b, c, h, w = fmap1.shape
    corr = torch.matmul(fmap1.reshape(b, c, h * w).transpose(1, 2), fmap2.reshape(b, c, h * w))
    return corr.view(b, h, w, 1, h, w) / torch.sqrt(torch.tensor(c, dtype=torch.float32))


def correlation_pyramid(corr: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """From a (B, H1, W1, 1, H2, W2) volume: num_levels tensors (B*H1*W1, 1, H2/2^i, W2/2^i) (2x2 average pools)."""
    b, h1, w1, d, h2, w2 = corr.shape
    level = corr.reshape(b * h1 * w1, d, h2, w2)
    pyramid = [level]
    for _ in range(num_levels - 1):
        level = F.avg_pool2d(level, 2, stride=2)
        pyramid.append(level)
    return pyramid


def transposed_correlation(corr: torch.Tensor) -> torch.Tensor:
    """The same (B, H1, W1, 1, H2, W2) volume seen from the second image: (B, H2, W2, 1, H1, W1)."""
    return corr.permute(0, 4, 5, 3, 1, 2)


def bilinear_sample_pixels(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """grid_sample of img (N, C, H, W) at pixel coords (N, h, w, 2) = (x, y); align_corners, zeros outside."""
    h, w = img.shape[-2:]
    x, y = coords.split([1, 1], dim=-1)
    grid = torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def window_offsets(radius: int, device: torch.device | None = None) -> torch.Tensor:
    """(2r+1, 2r+1, 2) offsets added to (x, y): [a, b] = (a - r, b - r), as the references build them."""
    d = torch.linspace(-radius, radius, 2 * radius + 1, device=device)
    return torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1)


def lookup_pyramid(pyramid: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, L*(2r+1)^2, H, W) correlation windows around coords (B, 2, H, W) at every pyramid level."""
    b, _, h, w = coords.shape
    centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
    k = 2 * radius + 1
    delta = window_offsets(radius, coords.device).view(1, k, k, 2)
    out = []
    for i, level in enumerate(pyramid):
        sampled = bilinear_sample_pixels(level, centre / 2**i + delta)
        out.append(sampled.view(b, h, w, -1))
    return torch.cat(out, dim=-1).permute(0, 3, 1, 2).contiguous().float()


def _neighbours3x3(x: torch.Tensor) -> torch.Tensor:
    """(N, C, 9, H, W): the 3x3 zero-padded neighbourhood of each pixel, row-major (as F.unfold orders it)."""
    h, w = x.shape[-2:]
    p = F.pad(x, [1, 1, 1, 1])
    return torch.stack([p[:, :, i : i + h, j : j + w] for i in range(3) for j in range(3)], dim=2)


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """(N, 2, H, W) flow and (N, 9*f*f, H, W) mask logits -> (N, 2, f*H, f*W) flow in full-resolution pixels."""
    n, _, h, w = flow.shape
    weights = torch.softmax(mask.view(n, 1, 9, factor, factor, h, w), dim=2)
    neigh = _neighbours3x3(factor * flow).view(n, 2, 9, 1, 1, h, w)
    up = torch.sum(weights * neigh, dim=2)  # (N, 2, f, f, H, W)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(n, 2, factor * h, factor * w)


def backward_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample img at (x + u, y + v) per output pixel: AMT's warp (align_corners, border padding)."""
    b, _, h, w = flow.shape
    xx = torch.linspace(-1.0, 1.0, w, device=flow.device).view(1, 1, 1, w).expand(b, -1, h, -1)
    yy = torch.linspace(-1.0, 1.0, h, device=flow.device).view(1, 1, h, 1).expand(b, -1, -1, w)
    grid = torch.cat([xx, yy], 1).to(img)
    flow_n = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    return F.grid_sample(
        img, (grid + flow_n).permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=True
    )
