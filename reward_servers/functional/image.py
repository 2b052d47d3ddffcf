"""Image preprocessing math: Pillow-exact bicubic resize, center crop, normalisation. numpy and torch.

The resize reproduces Pillow's 8-bit ``Image.resize(size, Image.BICUBIC)`` bit for bit: a separable
convolution (horizontal pass, then vertical) with the Keys cubic kernel (a = -0.5) whose support is
widened by the downscale factor (antialiasing), coefficients normalised to sum 1, converted to 22-bit
fixed point, accumulated in integers with a half-unit rounding offset, and clipped to uint8 between the
passes. OpenAI CLIP (``clip.load`` preprocess) and the HF CLIP image processor both resize with Pillow.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

# Pillow's 8-bit resampler: 32 bits - 8 bits of pixel - 2 bits of headroom for negative lobes.
_PRECISION_BITS = 32 - 8 - 2
_CUBIC_A = -0.5
_CUBIC_SUPPORT = 2.0

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (Pillow's BICUBIC)."""
    a = _CUBIC_A
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _trunc_int(x: np.ndarray) -> np.ndarray:
    """C-style (int) cast: truncation toward zero."""
    return np.trunc(x).astype(np.int64)


def bicubic_coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-pixel source indices and 22-bit fixed-point weights, both (out_size, ksize).

    Taps past the last valid source pixel of a row get weight 0 (and a clamped index), so a plain
    gather-multiply-sum reproduces Pillow's variable-length loops.
    """
    if in_size <= 0 or out_size <= 0:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _CUBIC_SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1

    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    xmin = np.maximum(_trunc_int(center - support + 0.5), 0)
    xmax = np.minimum(_trunc_int(center + support + 0.5), in_size) - xmin  # number of taps per output

    taps = np.arange(ksize)[None, :]
    valid = taps < xmax[:, None]
    w = _cubic((taps + xmin[:, None] - center[:, None] + 0.5) / filterscale)
    w = np.where(valid, w, 0.0)
    # sequential sum (as Pillow's loop), not numpy's pairwise one: the last bits reach the fixed-point rounding
    total = np.cumsum(w, axis=1)[:, -1:]
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0.0)

    scaled = w * float(1 << _PRECISION_BITS)
    fixed = np.where(w < 0.0, _trunc_int(scaled - 0.5), _trunc_int(scaled + 0.5))
    idx = np.minimum(xmin[:, None] + taps, in_size - 1)
    return idx, fixed


# Output rows per banded-matrix block: small blocks waste few multiplications on the zeros outside the band.
_BLOCK = 16
# Float64 working elements per chunk of frames (16 MiB): keeps the working set in cache-sized pieces.
_CHUNK_ELEMENTS = 1 << 21


@functools.lru_cache(maxsize=64)
def _band_blocks(
    in_size: int, out_size: int, start: int, stop: int
) -> tuple[tuple[int, int, int, int, torch.Tensor], ...]:
    """Pillow's fixed-point weights of outputs start..stop as dense float64 blocks over their input span.

    Each block is (o0, o1, lo, hi, W) with W of shape (o1 - o0, hi - lo): outputs o0..o1 (relative to start)
    read only inputs lo..hi, so one small matrix product per block replaces the gather over taps.
    """
    idx, coeffs = bicubic_coefficients(in_size, out_size)
    idx, coeffs = idx[start:stop], coeffs[start:stop]
    blocks = []
    for o0 in range(0, stop - start, _BLOCK):
        o1 = min(o0 + _BLOCK, stop - start)
        lo, hi = int(idx[o0:o1].min()), int(idx[o0:o1].max()) + 1
        w = np.zeros((o1 - o0, hi - lo), dtype=np.float64)
        rows = np.repeat(np.arange(o1 - o0), idx.shape[1])
        # clamped zero-weight taps repeat an index: accumulate, never overwrite
        np.add.at(w, (rows, (idx[o0:o1] - lo).ravel()), coeffs[o0:o1].ravel().astype(np.float64))
        blocks.append((o0, o1, lo, hi, torch.from_numpy(w)))
    return tuple(blocks)


def _axis_pass(x: torch.Tensor, out_size: int, keep: tuple[int, int]) -> torch.Tensor:
    """One 8-bit Pillow pass over the last axis of float64 (rows, in) pixel values -> (kept outputs, rows).

    Exact: pixels are integers in 0..255 and weights 22-bit integers, so every product and partial sum is an
    integer far below 2**53 and float64 matrix products carry Pillow's 32-bit integer sums without rounding,
    whatever order the BLAS kernel adds them in. Then Pillow's half-unit offset, arithmetic shift and clip.
    The result comes out transposed (the new axis first), which is what the next pass or the caller wants.
    """
    in_size = x.shape[1]
    if out_size == in_size:  # Pillow leaves an unchanged axis alone
        return x[:, keep[0] : keep[1]].T.contiguous()
    out = torch.empty((keep[1] - keep[0], x.shape[0]), dtype=torch.float64)
    for o0, o1, lo, hi, w in _band_blocks(in_size, out_size, keep[0], keep[1]):
        torch.mm(w, x[:, lo:hi].T, out=out[o0:o1])
    out.add_(float(1 << (_PRECISION_BITS - 1))).mul_(1.0 / (1 << _PRECISION_BITS))
    return out.floor_().clamp_(0.0, 255.0)


def _resize_chunk(
    frames: np.ndarray, passes: list[tuple[int, int, tuple[int, int]]], out: np.ndarray
) -> None:
    """Resize uint8 (N, H, W, C) into `out` (N, h, w, C) with `passes` = [(axis 1|2, size, keep)] in order."""
    in_sizes = {1: frames.shape[1], 2: frames.shape[2]}
    n, _, _, c = frames.shape
    first_axis = passes[0][0]
    # working layout (N, C, other, first-pass axis): each pass reads its axis last and emits it first
    order = (0, 3, 2, 1) if first_axis == 1 else (0, 3, 1, 2)
    x = torch.from_numpy(frames).permute(*order).contiguous().to(torch.float64)
    for axis, size, keep in passes:
        x = _axis_pass(x.reshape(-1, in_sizes[axis]), size, keep)
    # x is (second kept, first kept * N * C): back to (N, h, w, C)
    (_, _, k1), (_, _, k2) = passes
    y = x.to(torch.uint8).reshape(k2[1] - k2[0], k1[1] - k1[0], n, c)
    y = y.permute(2, 0, 1, 3) if first_axis == 2 else y.permute(2, 1, 0, 3)
    torch.from_numpy(out).copy_(y)


PASS_ORDERS = ("horizontal_first", "pillow-12.2", "pillow-13")


def pillow_pass_order(version: str) -> str:
    """The pass-order rule of a Pillow version string (e.g. PIL.__version__).

    Pillow <= 12.1 always runs the horizontal pass first; 12.2-12.3 run the vertical pass first for images
    more than 100x taller than wide that shrink vertically; 13.x runs it first whenever the height shrinks
    by more than twice as many pixels as the width (rule measured against Pillow 13.0.0).
    """
    parts = []
    for tok in version.split(".")[:2]:
        digits = "".join(ch for ch in tok if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    major, minor = (parts + [0, 0])[:2]
    if major >= 13:
        return "pillow-13"
    if (major, minor) >= (12, 2):
        return "pillow-12.2"
    return "horizontal_first"


def _vertical_first(in_h: int, in_w: int, out_h: int, out_w: int, pass_order: str) -> bool:
    """Whether Pillow (under `pass_order`) resamples rows before columns for this resize."""
    if pass_order == "horizontal_first":
        return False
    if pass_order == "pillow-12.2":
        return in_h > in_w * 100 and out_h < in_h
    if pass_order == "pillow-13":
        return out_h < in_h and (in_h - out_h) > 2 * (in_w - out_w)
    raise ValueError(f"pass_order must be one of {PASS_ORDERS}, got {pass_order!r}")


def resize_bicubic(
    img: np.ndarray,
    height: int,
    width: int,
    *,
    pass_order: str = "horizontal_first",
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Pillow-exact BICUBIC resize of uint8 images (..., H, W, C) to (..., height, width, C).

    Leading axes (e.g. a stack of video frames) are processed together. An axis whose size does not change
    is left untouched, as in Pillow. Both passes clip to uint8, so their order changes the last bit of some
    pixels; `pass_order` selects the Pillow release to match (see pillow_pass_order). `window` = (top, left,
    crop_height, crop_width) returns only that crop of the result, computing nothing outside it.
    """
    if img.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {img.dtype}")
    if img.ndim < 3:
        raise ValueError(f"expected (..., H, W, C), got shape {img.shape}")
    h_axis, w_axis = img.ndim - 3, img.ndim - 2
    in_h, in_w = img.shape[h_axis], img.shape[w_axis]
    top, left, crop_h, crop_w = window if window is not None else (0, 0, height, width)
    if top < 0 or left < 0 or top + crop_h > height or left + crop_w > width:
        raise ValueError(f"window {window} is outside the {height}x{width} output")
    passes = [(2, width, (left, left + crop_w)), (1, height, (top, top + crop_h))]
    if _vertical_first(in_h, in_w, height, width, pass_order):
        passes.reverse()
    lead = img.shape[:-3]
    flat = np.ascontiguousarray(img).reshape((-1,) + img.shape[-3:])
    out = np.empty((flat.shape[0], crop_h, crop_w, img.shape[-1]), dtype=np.uint8)
    step = max(1, _CHUNK_ELEMENTS // max(1, in_h * in_w * img.shape[-1]))
    for s in range(0, flat.shape[0], step):
        _resize_chunk(flat[s : s + step], passes, out[s : s + step])
    return out.reshape(lead + out.shape[1:])


def shortest_edge_size(height: int, width: int, size: int) -> tuple[int, int]:
    """Target (height, width) with the shorter edge at `size` and the longer at int(size * long / short).

    This is the rule of torchvision.transforms.Resize(int) and of the HF image processors
    (get_resize_output_image_size with default_to_square=False).
    """
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize_shortest_edge_bicubic(
    img: np.ndarray, size: int, *, pass_order: str = "horizontal_first"
) -> np.ndarray:
    """Resize uint8 (..., H, W, C) so its shorter edge is `size`, Pillow BICUBIC, bit-exact."""
    h, w = img.shape[-3], img.shape[-2]
    new_h, new_w = shortest_edge_size(h, w, size)
    return resize_bicubic(img, new_h, new_w, pass_order=pass_order)


def center_crop_corner(
    h: int, w: int, height: int, width: int, *, rounding: str = "round"
) -> tuple[int, int]:
    """(top, left) of a centred height x width crop of an h x w image.

    rounding='round' places the corner at int(round((H - height) / 2)) (Python's half-to-even round), the
    torchvision CenterCrop used by OpenAI CLIP's preprocess; rounding='floor' uses (H - height) // 2 like
    the HF image processors. They differ only when the margin is odd and its half rounds up.
    """
    if height > h or width > w:
        raise ValueError(f"crop {height}x{width} larger than image {h}x{w}")
    if rounding == "round":
        return int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    if rounding == "floor":
        return (h - height) // 2, (w - width) // 2
    raise ValueError(f"rounding must be 'round' or 'floor', got {rounding!r}")


def center_crop(img: np.ndarray, height: int, width: int, *, rounding: str = "round") -> np.ndarray:
    """Crop (..., H, W, C) to (height, width) around the centre (see center_crop_corner for `rounding`)."""
    top, left = center_crop_corner(img.shape[-3], img.shape[-2], height, width, rounding=rounding)
    return img[..., top : top + height, left : left + width, :]


def resize_shortest_edge_center_crop(
    img: np.ndarray, size: int, crop: int, *, pass_order: str = "horizontal_first", rounding: str = "round"
) -> np.ndarray:
    """resize_shortest_edge_bicubic then center_crop(crop, crop), bit-identical, computing only the crop.

    For a 240x426 frame this skips 44 % of the resampling work (the 398-224 columns the crop throws away).
    """
    h, w = img.shape[-3], img.shape[-2]
    new_h, new_w = shortest_edge_size(h, w, size)
    top, left = center_crop_corner(new_h, new_w, crop, crop, rounding=rounding)
    return resize_bicubic(img, new_h, new_w, pass_order=pass_order, window=(top, left, crop, crop))


def to_normalized_chw(
    img: np.ndarray, mean: tuple[float, ...] = OPENAI_CLIP_MEAN, std: tuple[float, ...] = OPENAI_CLIP_STD
) -> np.ndarray:
    """uint8 (..., H, W, C) -> float32 (..., C, H, W): /255, then (x - mean) / std per channel."""
    x = img.astype(np.float32) / np.float32(255.0)
    m = np.asarray(mean, dtype=np.float32)
    s = np.asarray(std, dtype=np.float32)
    x = (x - m) / s
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))
