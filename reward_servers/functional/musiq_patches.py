"""MUSIQ's multi-scale patch input as pyiqa 0.1.10 builds it at evaluation (specs/vbench.md §1.7, §12).

pyiqa (``pyiqa/data/multiscale_trans_util.py``, ``get_multiscale_patches``), for an image batch already mapped
to [-1, 1]:
1. for each longer-side length L in sorted((224, 384)): bicubic ``F.interpolate(align_corners=False)`` (no
   antialias) to ``(round(h * L / max(h, w)), round(w * L / max(h, w)))`` (Python round, half to even);
   then the native resolution as the last scale (``max_seq_len_from_original_res=-1``: every patch kept);
2. per scale: TensorFlow SAME zero padding to a multiple of 32, non-overlapping 32 x 32 patches in row-major
   order, each flattened channel-major (c, y, x) as ``F.unfold`` does;
3. per patch three extra values: the hashed spatial position (the patch row and column mapped onto a
   10 x 10 grid with ``nearest`` interpolation of ``arange(10)``: ``row_hash * 10 + col_hash``), the scale
   index, and a mask of 1;
4. the resized scales are padded with all-zero rows (mask 0) or cut to ``ceil(L / 32) ** 2`` patches (49 and
   144); the native scale keeps all its patches.
The result is (N, num_patches, 3 * 32 * 32 + 3) float: what MUSIQ's transformer consumes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MUSIQ_PATCH = 32
MUSIQ_HASH_GRID = 10
MUSIQ_LONGER_SIDES = (224, 384)


def scale_size(height: int, width: int, longer_side: int) -> tuple[int, int]:
    """(h, w) of the aspect-preserving resize to `longer_side` (Python round, half to even)."""
    ratio = longer_side / max(height, width)
    return round(height * ratio), round(width * ratio)


def extract_patches(image: torch.Tensor, patch: int = MUSIQ_PATCH) -> torch.Tensor:
    """(N, C, H, W) -> (N, C * patch * patch, n_patches): TF SAME zero padding, then F.unfold(patch, stride=patch)."""
    _, _, h, w = image.shape
    pad_h = math.ceil(h / patch) * patch - h
    pad_w = math.ceil(w / patch) * patch - w
    x = F.pad(image, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return F.unfold(x, patch, stride=patch)


def hashed_positions(grid: int, count_h: int, count_w: int) -> torch.Tensor:
    """(count_h * count_w,) float hashed position index in [0, grid * grid), row-major over the patches."""
    table = torch.arange(grid, dtype=torch.float32).reshape(1, 1, grid)
    cols = F.interpolate(table, size=count_w, mode="nearest").reshape(1, count_w).expand(count_h, count_w)
    rows = F.interpolate(table, size=count_h, mode="nearest").reshape(count_h, 1).expand(count_h, count_w)
    return (rows * grid + cols).reshape(-1)


def _scale_tokens(image: torch.Tensor, scale_id: int, max_len: int, patch: int, grid: int) -> torch.Tensor:
    """(N, n_tokens, C * patch**2 + 3) tokens of one scale; max_len < 0 keeps every patch."""
    n, _, h, w = image.shape
    p = extract_patches(image, patch)
    count_h, count_w = math.ceil(h / patch), math.ceil(w / patch)
    spatial = hashed_positions(grid, count_h, count_w).to(p).reshape(1, 1, -1).expand(n, 1, -1)
    extra = torch.cat([spatial, torch.full_like(spatial, float(scale_id)), torch.ones_like(spatial)], dim=1)
    out = torch.cat([p, extra], dim=1)
    if max_len >= 0:
        out = torch.cat([out, out.new_zeros(n, out.shape[1], max_len)], dim=-1)[:, :, :max_len]
    return out.transpose(1, 2)


def multiscale_patches(
    image: torch.Tensor,
    *,
    patch: int = MUSIQ_PATCH,
    grid: int = MUSIQ_HASH_GRID,
    longer_sides: tuple[int, ...] = MUSIQ_LONGER_SIDES,
) -> torch.Tensor:
    """MUSIQ tokens (N, n, C * patch**2 + 3) of images (N, C, H, W) in [-1, 1]: resized scales, then native."""
    if image.dim() != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(image.shape)}")
    h, w = int(image.shape[-2]), int(image.shape[-1])
    parts = []
    sides = sorted(longer_sides)
    for scale_id, side in enumerate(sides):
        rh, rw = scale_size(h, w, side)
        resized = F.interpolate(image, (rh, rw), mode="bicubic", align_corners=False)
        parts.append(_scale_tokens(resized, scale_id, math.ceil(side / patch) ** 2, patch, grid))
    parts.append(_scale_tokens(image, len(sides), -1, patch, grid))
    return torch.cat(parts, dim=1)


def musiq_input(frames01: torch.Tensor) -> torch.Tensor:
    """MUSIQ's eval preprocessing of [0, 1] frames: ``(x - 0.5) * 2``, then multiscale_patches (official settings)."""
    return multiscale_patches((frames01 - 0.5) * 2)
