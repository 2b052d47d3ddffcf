"""ViCLIP's frame transform as VBench applies it (specs/vbench.md §1.15, §0.2 `clip_transform(224)`).

The reference reads the 8 sampled frames as a uint8 (T, C, H, W) tensor (`read_frames_decord_by_fps`) and
runs torchvision's Resize(224, bicubic, antialias=False) on it. On a uint8 tensor torchvision interpolates in
float32, clamps to [0, 255] (bicubic only) and rounds back to uint8; the short side becomes 224 and the long
side int(224 * long / short). CenterCrop(224) starts at int(round((size - 224) / 2)) (round half to even),
then /255 and CLIP's mean/std. This uint8 path differs from the float 0-255 path of `load_video` (no clamp,
no rounding) that other dimensions take; it lives here, with ViCLIP, for that reason.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(new_h, new_w): the short side becomes `size`, the long side int(size * long / short) (floored)."""
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


def center_crop_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of torchvision's CenterCrop: int(round((dim - size) / 2)) with Python's rounding."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def resize_uint8_bicubic(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """torchvision Resize on a uint8 (T, C, H, W) tensor, bicubic, antialias=False: clamp, round, uint8."""
    if tuple(frames.shape[-2:]) == (height, width):
        return frames.clone()
    x = F.interpolate(
        frames.float(), size=(height, width), mode="bicubic", align_corners=False, antialias=False
    )
    return x.clamp(0, 255).round().to(torch.uint8)


def viclip_frames(frames: np.ndarray, size: int = 224) -> np.ndarray:
    """uint8 RGB (T, H, W, 3) sampled frames -> float32 (T, 3, size, size) ViCLIP input."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    nh, nw = short_side_size(h, w, size)
    x = resize_uint8_bicubic(x, nh, nw)
    top, left = center_crop_offsets(nh, nw, size)
    x = x[:, :, top : top + size, left : left + size].float().div(255.0)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).numpy().astype(np.float32, copy=False)
