"""Qwen2-VL visual input math: frame-count and size rules, resizing, patchification. Pure numpy/torch.

The rules are those of qwen-vl-utils' ``vision_process`` as vendored by VideoAlign and HPSv3 (specs/models.md §5):
- frame count at a target fps: ``total / native_fps * fps`` clamped to [4, min(768, total)] (both rounded to
  the 2-frame temporal patch), then rounded to a multiple of 2 (Python's half-to-even ``round``), capped at
  the clip length; indices at ``torch.linspace(0, total - 1, n).round()``;
- frame size: both sides a multiple of ``factor`` = patch x merge (28 for Qwen2-VL), the pixel count inside
  [min_pixels, max_pixels], aspect ratio kept (``smart_resize``);
- video frames are resized like torchvision's tensor ``resize(BICUBIC, antialias=True)`` on uint8 input
  (float interpolation, clamp to [0, 255], round half to even, back to uint8);
- patches: (T, C, H, W) normalised pixels -> rows of C x temporal_patch x patch x patch values, ordered so
  each spatial merge window's patches are consecutive (the layout the Qwen2-VL vision tower expects).
"""

from __future__ import annotations

import math

import numpy as np
import torch

PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
IMAGE_FACTOR = PATCH_SIZE * MERGE_SIZE
MAX_ASPECT_RATIO = 200
VIDEO_MIN_PIXELS = 128 * 28 * 28
FRAME_FACTOR = 2
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768


def round_by_factor(number: float, factor: int) -> int:
    """The multiple of factor closest to number (Python round: halves go to the even multiple)."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """The smallest multiple of factor >= number."""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """The largest multiple of factor <= number."""
    return math.floor(number / factor) * factor


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) rounded to multiples of factor with the pixel count brought inside [min, max]."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image has no pixels ({height}x{width})")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio must be at most {MAX_ASPECT_RATIO}, got {height}x{width}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def smart_nframes(
    total_frames: int,
    video_fps: float,
    *,
    fps: float | None = None,
    nframes: int | None = None,
    min_frames: int = FPS_MIN_FRAMES,
    max_frames: int = FPS_MAX_FRAMES,
) -> int:
    """How many frames qwen-vl-utils samples from a clip: a fixed `nframes`, or `fps` frames per second."""
    if fps is not None and nframes is not None:
        raise ValueError("give fps or nframes, not both")
    if nframes is not None:
        n = round_by_factor(nframes, FRAME_FACTOR)
    else:
        if video_fps <= 0:
            raise ValueError(f"the clip's frame rate must be positive to sample at an fps, got {video_fps}")
        target = 2.0 if fps is None else float(fps)
        lo = ceil_by_factor(min_frames, FRAME_FACTOR)
        hi = floor_by_factor(min(max_frames, total_frames), FRAME_FACTOR)
        n = round_by_factor(min(max(total_frames / video_fps * target, lo), hi), FRAME_FACTOR)
    n = min(n, total_frames)
    if not FRAME_FACTOR <= n <= total_frames:
        raise ValueError(f"cannot sample a frame count in [{FRAME_FACTOR}, {total_frames}] (got {n})")
    return int(n)


def resize_bicubic_antialias(frames: np.ndarray, height: int, width: int, *, chunk: int = 16) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, height, width, 3) as torchvision's antialiased BICUBIC tensor resize."""
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"expected uint8 frames T x H x W x C, got {frames.dtype} {frames.shape}")
    if frames.shape[1:3] == (height, width):
        return frames.copy()
    out = np.empty((frames.shape[0], height, width, frames.shape[3]), dtype=np.uint8)
    for start in range(0, frames.shape[0], max(chunk, 1)):
        x = torch.from_numpy(np.ascontiguousarray(frames[start : start + chunk])).permute(0, 3, 1, 2).float()
        y = torch.nn.functional.interpolate(
            x, size=(height, width), mode="bicubic", align_corners=False, antialias=True
        )
        y = y.clamp(0, 255).round().to(torch.uint8)
        out[start : start + chunk] = y.permute(0, 2, 3, 1).numpy()
    return out


def patchify(
    pixels: np.ndarray,
    *,
    patch_size: int = PATCH_SIZE,
    merge_size: int = MERGE_SIZE,
    temporal_patch_size: int = TEMPORAL_PATCH_SIZE,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(T, C, H, W) float -> (grid_t * grid_h * grid_w, C * tp * p * p) patch rows and (grid_t, grid_h, grid_w).

    T is padded to a multiple of the temporal patch by repeating the last frame (a single image becomes two
    identical frames). Rows run over time, then merge windows in raster order, then the patches inside a
    window in raster order; each row is channel-major, then time, then patch rows, then patch columns.
    """
    if pixels.ndim != 4:
        raise ValueError(f"expected (T, C, H, W), got shape {pixels.shape}")
    t, c, h, w = pixels.shape
    unit = patch_size * merge_size
    if h % unit or w % unit:
        raise ValueError(f"frame size {h}x{w} is not a multiple of {unit}")
    if t % temporal_patch_size:
        pad = np.repeat(pixels[-1:], temporal_patch_size - t % temporal_patch_size, axis=0)
        pixels = np.concatenate([pixels, pad], axis=0)
        t = pixels.shape[0]
    gt, gh, gw = t // temporal_patch_size, h // patch_size, w // patch_size
    x = pixels.reshape(
        gt,
        temporal_patch_size,
        c,
        gh // merge_size,
        merge_size,
        patch_size,
        gw // merge_size,
        merge_size,
        patch_size,
    )
    # -> (gt, gh/m, gw/m, m, m, C, tp, p, p)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    rows = np.ascontiguousarray(x.reshape(gt * gh * gw, c * temporal_patch_size * patch_size * patch_size))
    return rows, (gt, gh, gw)


def num_visual_tokens(grid_thw: tuple[int, int, int], merge_size: int = MERGE_SIZE) -> int:
    """LLM tokens a visual input occupies: one per merge window per temporal patch."""
    gt, gh, gw = grid_thw
    return gt * gh * gw // (merge_size * merge_size)
