"""Tag2Text's frame input as VBench's scene dimension builds it (specs/vbench.md §1.13).

The reference has decord decode the 16 sampled frames directly at 384 x 384 (aspect ratio not kept), then
ToPILImage -> Resize((384, 384)) (a no-op at that size) -> ToTensor (/255) -> ImageNet mean/std. decord's
scaling goes through FFmpeg's swscale, whose kernel is not reproduced here (specs/vbench.md §11): frames that
are not already 384 x 384 are resized with Pillow's bicubic filter (FFmpeg's scale filter default is bicubic;
Pillow's is antialiased), so values near edges differ slightly from the reference's. Frames decoded at
384 x 384 upstream pass through unchanged. Kept with the model: no other dimension uses this chain.
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def tag2text_frames(frames: np.ndarray, size: int = 384) -> np.ndarray:
    """uint8 RGB (T, H, W, 3) -> float32 (T, 3, size, size): aspect-ignoring resize, /255, ImageNet mean/std."""
    from PIL import Image

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if frames.shape[1:3] != (size, size):
        frames = np.stack(
            [np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BICUBIC)) for f in frames]
        )
    x = frames.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    return ((x - mean) / std).astype(np.float32, copy=False)
