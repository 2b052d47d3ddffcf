"""The InputPadder of RAFT ("sintel" mode, divisor 8) and AMT (divisor 16): centred replicate padding. Pure torch.

Both references pad H and W up to the next multiple of the divisor with `pad = ((n // d) + 1) * d - n) % d`,
split as `pad // 2` before and `pad - pad // 2` after (the odd pixel goes to the bottom/right), in
``F.pad(..., mode='replicate')`` order (left, right, top, bottom), and crop the same margins back off.
RAFT's non-sintel ("kitti") mode puts all vertical padding at the bottom; VBench never uses it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Padding = tuple[int, int, int, int]  # (left, right, top, bottom), F.pad order for the last two dims


def centred_padding(height: int, width: int, divisor: int, mode: str = "sintel") -> Padding:
    """(left, right, top, bottom) that makes height and width multiples of divisor, as InputPadder does."""
    if divisor <= 0 or height <= 0 or width <= 0:
        raise ValueError(f"need positive sizes and divisor, got {height}x{width} / {divisor}")
    pad_h = (((height // divisor) + 1) * divisor - height) % divisor
    pad_w = (((width // divisor) + 1) * divisor - width) % divisor
    if mode == "sintel":
        return (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    if mode == "kitti":
        return (pad_w // 2, pad_w - pad_w // 2, 0, pad_h)
    raise ValueError(f"unknown padding mode {mode!r} (sintel or kitti)")


def pad_replicate(x: torch.Tensor, padding: Padding) -> torch.Tensor:
    """Replicate-pad the last two dims of an (N, C, H, W) tensor by (left, right, top, bottom)."""
    if not any(padding):
        return x
    return F.pad(x, list(padding), mode="replicate")


def unpad(x: torch.Tensor, padding: Padding) -> torch.Tensor:
    """Crop the margins pad_replicate added (works on any tensor whose last two dims are H, W)."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
