"""VBench frame sampling and tensor transforms (specs/vbench.md §0.2, §1.7, §12). Pure numpy/torch.

The reference (``Vchitect/VBench@45e79ec``, ``vbench/utils.py`` and ``vbench/imaging_quality.py``) runs
torchvision 0.20 transforms on the float32 0-255 tensor ``load_video`` returns (T, C, H, W). What is
reproduced here, without torchvision:

- ``Resize(n, antialias=False)`` on a float tensor is ``F.interpolate(x, size, mode, align_corners=False,
  antialias=False)`` (bilinear by default, bicubic where asked), with the output size of torchvision's
  ``_compute_resized_output_size``: the short side becomes n, the long side ``int(n * long / short)``. A
  resize to the input's own size returns the input untouched. Float input is neither clamped nor rounded,
  so bicubic overshoot stays (values slightly outside 0-255 reach the model, §12).
- ``Resize((h, w), antialias=False)`` (imaging_quality) is the same interpolate at an explicit size.
- ``CenterCrop(n)``: top = ``int(round((H - n) / 2.0))`` (Python round, half to even), likewise left.
- ``Lambda(x.float().div(255.0))`` then ``Normalize(mean, std)``: float32 ``(x / 255 - mean) / std``.

Other dtypes follow torchvision 0.20's tensor path (``_functional_tensor.resize``): float32/float64 are
interpolated as they are; anything else in float32, then (uint8 bicubic only) clamped to [0, 255], rounded
(integer dtypes) and cast back.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from omninft.reward_servers.functional.image import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, shortest_edge_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("bilinear", "bicubic")
# imaging_quality's preprocessing modes (kwarg imaging_quality_preprocessing_mode; the dimension's default
# is 'longer', the transform() function's own default 'shorter' is never used by the dimension).
IMAGING_QUALITY_MODES = ("longer", "shorter", "shorter_centercrop", "None")
IMAGING_QUALITY_DEFAULT_MODE = "longer"
IMAGING_QUALITY_MAX_SIDE = 512


def vbench_frame_indices(num_frames: int, vlen: int) -> np.ndarray:
    """The reference's ``get_frame_indices(num_frames, vlen, sample='middle')`` (int64, length num_frames).

    ``edges = linspace(0, vlen, min(num_frames, vlen) + 1).astype(int)`` (float64, truncated); segment k is
    ``[edges[k], edges[k+1] - 1]`` and its middle ``(lo + hi) // 2`` is taken. When vlen < num_frames only
    vlen segments exist and the list is padded to num_frames by repeating the last index.
    """
    if num_frames <= 0:
        raise ValueError(f"number of sampled frames must be positive, got {num_frames}")
    if vlen <= 0:
        raise ValueError("cannot sample frames from an empty video")
    acc = min(num_frames, vlen)
    edges = np.linspace(0, vlen, acc + 1).astype(np.int64)
    lo, hi = edges[:-1], edges[1:] - 1
    idx = (lo + hi) // 2
    if acc < num_frames:
        idx = np.concatenate([idx, np.full(num_frames - acc, idx[-1], dtype=np.int64)])
    return idx.astype(np.int64, copy=False)


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (T, 3, H, W) with values 0-255, as ``load_video`` returns them."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got shape {frames.shape}")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32)


def resize(x: torch.Tensor, height: int, width: int, mode: str = "bilinear") -> torch.Tensor:
    """torchvision ``Resize((height, width), interpolation=mode, antialias=False)`` on (..., C, H, W)."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
    if height <= 0 or width <= 0:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    if (int(x.shape[-2]), int(x.shape[-1])) == (height, width):
        return x
    lead = x.shape[:-3]
    y = x.reshape(-1, *x.shape[-3:])
    out_dtype = y.dtype
    if out_dtype not in (torch.float32, torch.float64):  # torchvision computes in float32 otherwise
        y = y.to(torch.float32)
    y = F.interpolate(y, size=(height, width), mode=mode, align_corners=False, antialias=False)
    if mode == "bicubic" and out_dtype == torch.uint8:
        y = y.clamp(0, 255)
    if not out_dtype.is_floating_point:
        y = y.round()
    y = y.to(out_dtype)
    return y.reshape(*lead, *y.shape[-3:])


def resize_short_side(x: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """torchvision ``Resize(size, interpolation=mode, antialias=False)``: short side to size, long side floored."""
    new_h, new_w = shortest_edge_size(int(x.shape[-2]), int(x.shape[-1]), size)
    return resize(x, new_h, new_w, mode)


def center_crop(x: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
    """torchvision ``CenterCrop``: corner at ``int(round((H - h) / 2.0))``; a crop larger than the image is refused."""
    width = height if width is None else width
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if height > h or width > w:
        raise ValueError(f"crop {height}x{width} larger than image {h}x{w}")
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return x[..., top : top + height, left : left + width]


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """torchvision ``Normalize`` on (..., C, H, W) float: ``(x - mean) / std`` per channel in x's dtype."""
    m = torch.as_tensor(mean, dtype=x.dtype).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype).view(-1, 1, 1)
    return (x - m) / s


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """The reference's ``Lambda(lambda x: x.float().div(255.0))``."""
    return x.float().div(255.0)


def clip_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``clip_transform(n)``: bicubic short side -> n (no antialias, no clamp), CenterCrop(n), /255, CLIP Normalize."""
    x = center_crop(resize_short_side(frames, size, "bicubic"), size)
    return normalize(to_unit(x), OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)


def dino_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``dino_transform(n)``: bilinear short side -> n (no antialias), /255, ImageNet Normalize; no crop."""
    return normalize(to_unit(resize_short_side(frames, size, "bilinear")), IMAGENET_MEAN, IMAGENET_STD)


def imaging_quality_size(
    height: int, width: int, mode: str = IMAGING_QUALITY_DEFAULT_MODE
) -> tuple[int, int]:
    """(h, w) imaging_quality resizes a height x width video to before MUSIQ (before any centre crop)."""
    if mode not in IMAGING_QUALITY_MODES:
        raise ValueError(f"imaging_quality mode must be one of {IMAGING_QUALITY_MODES}, got {mode!r}")
    limit = IMAGING_QUALITY_MAX_SIDE
    if mode.startswith("shorter") and min(height, width) > limit:
        scale = float(limit) / min(height, width)
    elif mode == "longer" and max(height, width) > limit:
        scale = float(limit) / max(height, width)
    else:
        return height, width
    return int(scale * height), int(scale * width)


def imaging_quality_transform(frames: torch.Tensor, mode: str = IMAGING_QUALITY_DEFAULT_MODE) -> torch.Tensor:
    """imaging_quality's ``transform``: optional bilinear resize (and 512 crop), then /255 (MUSIQ's [0, 1] input).

    'longer': longer side > 512 -> scaled to 512; 'shorter': shorter side > 512 -> 512; 'shorter_centercrop':
    as 'shorter', then CenterCrop(512) (only when it resized, as in the reference); 'None': no resize.
    """
    h, w = int(frames.shape[-2]), int(frames.shape[-1])
    new_h, new_w = imaging_quality_size(h, w, mode)
    x = frames
    if (new_h, new_w) != (h, w):
        x = resize(x, new_h, new_w, "bilinear")
        if mode == "shorter_centercrop":
            x = center_crop(x, IMAGING_QUALITY_MAX_SIDE)
    return x / 255.0
