"""JavisBench FVD/KVD video preprocessing for I3D (specs/javisbench.md §6.1). Pure numpy/torch.

The chain, per clip:
1. `max_frames` (default 24) frame indices ``round(linspace(0, T - 1, max_frames))`` over the whole clip;
2. per frame: uint8 -> float in [0, 1] (ToTensor), then ResizeAndPad(224): bilinear (antialiased, as
   torchvision's tensor Resize) so the longer side is 224 and the shorter ``int(224 * short / long)``, then
   centred zero padding (floor on the top/left side) to 224 x 224;
3. the dataset quirk ``uint8(clamp((x + 1) * 127.5, 0, 255))``, meant for [-1, 1] input but applied to
   [0, 1]: pixels land in [127, 255] and the black bars become 127;
4. fvd.preprocess: ``/ 255``, a same-size resize (identity), ``- 0.5``, ``* 2``: I3D sees about [0, 1]
   (the bars are 2 * 127 / 255 - 1 = -0.0039), not [-1, 1].
The result is C x T x 224 x 224 float32, the layout InceptionI3d takes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from omninft.reward_servers.functional.sampling import javisbench_frame_indices

I3D_MAX_FRAMES = 24  # JavisBench argparse default; the 2025 README used 16 (specs/javisbench.md §8 pitfall 1)
I3D_IMAGE_SIZE = 224
# I3D needs >= 2 time steps after its three temporal /2 reductions for the [2, 7, 7] average pool.
I3D_MIN_FRAMES = 9


def i3d_frame_indices(num_frames: int, max_frames: int = I3D_MAX_FRAMES) -> np.ndarray:
    """The frames JavisBench reads for FVD: rounded linspace over the whole clip (duplicates if short)."""
    return javisbench_frame_indices(num_frames, max_frames)


def letterbox_geometry(height: int, width: int, size: int = I3D_IMAGE_SIZE) -> tuple[int, int, int, int]:
    """(new_h, new_w, pad_top, pad_left) of ResizeAndPad(size) for a height x width frame.

    The longer side becomes `size`; the other is truncated ``int(size * short / long)`` (square: both size).
    Raises ValueError when the shorter side would vanish.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    if height > width:
        new_h, new_w = size, int(size * width / height)
    else:
        new_h, new_w = int(size * height / width), size
    if new_h <= 0 or new_w <= 0:
        raise ValueError(f"a {height}x{width} frame is too elongated to letterbox to {size}x{size}")
    return new_h, new_w, (size - new_h) // 2, (size - new_w) // 2


def resize_and_pad(frame01: torch.Tensor, size: int = I3D_IMAGE_SIZE) -> torch.Tensor:
    """ResizeAndPad on C x H x W (or N x C x H x W) floats: antialiased bilinear resize, centred zero pad."""
    squeeze = frame01.dim() == 3
    x = frame01[None] if squeeze else frame01
    h, w = int(x.shape[-2]), int(x.shape[-1])
    new_h, new_w, top, left = letterbox_geometry(h, w, size)
    if (new_h, new_w) != (h, w):  # torchvision's Resize returns the input untouched at equal size
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    x = F.pad(x, (left, size - new_w - left, top, size - new_h - top), value=0.0)
    return x[0] if squeeze else x


def javisbench_pixel_quirk(frame01: torch.Tensor) -> torch.Tensor:
    """The dataset's [-1, 1] -> uint8 formula applied to [0, 1] input: uint8 values in [127, 255]."""
    return ((frame01 + 1) * 127.5).clamp(0, 255).to(torch.uint8)


def fvd_normalize(frames_u8: torch.Tensor) -> torch.Tensor:
    """fvd.preprocess on 224 x 224 uint8 frames: /255, -0.5, *2 (its resize and crop are identities here)."""
    x = frames_u8.float() / 255.0
    x -= 0.5
    return x * 2


def i3d_clip_input(
    frames: np.ndarray, max_frames: int = I3D_MAX_FRAMES, size: int = I3D_IMAGE_SIZE
) -> np.ndarray:
    """T x H x W x 3 uint8 RGB clip -> 3 x max_frames x size x size float32 I3D input (JavisBench chain)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected T x H x W x 3 frames, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {frames.dtype}")
    idx = i3d_frame_indices(int(frames.shape[0]), max_frames)
    out = torch.empty((3, len(idx), size, size), dtype=torch.float32)
    done: dict[int, torch.Tensor] = {}
    for t, i in enumerate(idx.tolist()):
        if i not in done:  # one frame at a time bounds memory for large clips; repeats are reused
            chw = torch.from_numpy(np.ascontiguousarray(frames[i].transpose(2, 0, 1))).float().div(255)
            done[i] = fvd_normalize(javisbench_pixel_quirk(resize_and_pad(chw, size)))
        out[:, t] = done[i]
    return out.numpy()
