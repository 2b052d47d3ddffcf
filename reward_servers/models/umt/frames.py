"""UMT's clip transform as VBench's human_action applies it (specs/vbench.md §1.10).

The reference passes the 16 sampled uint8 frames (T, H, W, 3) through UMT's own video transforms:
Resize(256, 'bilinear') = cv2.resize(INTER_LINEAR) per frame to short side 256, long side
int(256 * long / short), skipped when the short side already is 256; CenterCrop(224) from
(int(round((h - 224) / 2)), int(round((w - 224) / 2))); ClipToTensor (C, T, H, W), float32 / 255; ImageNet
mean/std. OpenCV's uint8 bilinear kernel is fixed-point, so OpenCV itself does the resize (the `serve` extra
ships opencv-python-headless). Kept with the model, not in the shared VBench frame module: no other
dimension uses this chain.
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_sizes(height: int, width: int, size: int) -> tuple[int, int]:
    """(new_h, new_w) of UMT's Resize(size): short side -> size, long side int(size * long / short)."""
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def crop_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of UMT's CenterCrop: int(round((dim - size) / 2)), Python rounding."""
    if size > height or size > width:
        raise ValueError(f"a {height}x{width} frame is smaller than the {size}x{size} crop")
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def umt_clip(frames: np.ndarray, resize: int = 256, crop: int = 224) -> np.ndarray:
    """uint8 RGB (T, H, W, 3) sampled frames -> float32 (3, T, crop, crop) UMT input."""
    import cv2

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, h, w, _ = frames.shape
    if min(h, w) != resize:
        nh, nw = resize_sizes(h, w, resize)
        frames = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR) for f in frames])
        h, w = nh, nw
    top, left = crop_offsets(h, w, crop)
    x = frames[:, top : top + crop, left : left + crop].transpose(3, 0, 1, 2).astype(np.float32) / np.float32(
        255
    )
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(3, 1, 1, 1)
    std = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(3, 1, 1, 1)
    return ((x - mean) / std).astype(np.float32, copy=False)
