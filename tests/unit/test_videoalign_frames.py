"""Qwen2-VL visual input math (functional.qwen2vl_frames) against transformers' Qwen2-VL image processor and
hand-computed cases of the qwen-vl-utils rules VideoAlign and HPSv3 use."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional.image import resize_bicubic, to_normalized_chw
from omninft.reward_servers.functional.qwen2vl_frames import (
    VIDEO_MIN_PIXELS,
    num_visual_tokens,
    patchify,
    resize_bicubic_antialias,
    smart_nframes,
    smart_resize,
)
from omninft.reward_servers.functional.sampling import javisbench_frame_indices


def _hf_pil_processor():
    """The processor as upstream HPSv3 runs it: its own default pixel range (the image arrives pre-sized)."""
    pytest.importorskip("PIL")
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil()


@pytest.mark.parametrize(
    ("h", "w", "lo", "hi"),
    [
        (240, 426, VIDEO_MIN_PIXELS, 200704),
        (480, 640, VIDEO_MIN_PIXELS, 200704),
        (1080, 1920, 200704, 200704),
        (64, 96, 200704, 200704),
        (28, 28, 4 * 784, 16384 * 784),
        (512, 768, VIDEO_MIN_PIXELS, 200704),
        (33, 1000, 3136, 10**6),
    ],
)
def test_smart_resize_matches_transformers(h: int, w: int, lo: int, hi: int) -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_smart_resize

    assert smart_resize(h, w, 28, lo, hi) == tuple(
        hf_smart_resize(h, w, factor=28, min_pixels=lo, max_pixels=hi)
    )


def test_smart_resize_hand_cases() -> None:
    # JavisBench 240p: 240/28 = 8.57 -> 252, 426/28 = 15.2 -> 420; 105840 px is inside [100352, 200704]
    assert smart_resize(240, 426, 28, VIDEO_MIN_PIXELS, 200704) == (252, 420)
    # HPSv3 min = max = 200704 on 240x426: scaled up by sqrt(200704 / 102240) and ceiled -> 13 x 22 patches of 28
    assert smart_resize(240, 426, 28, 200704, 200704) == (364, 616)
    with pytest.raises(ValueError, match="aspect"):
        smart_resize(10, 2100, 28, 1, 10**9)


@pytest.mark.parametrize(
    ("total", "native", "kwargs", "expected"),
    [
        (121, 24.0, {"fps": 2.0}, 10),  # 121 / 24 * 2 = 10.08 -> 10
        (121, 24.0, {"fps": 24.0}, 120),  # OmniNFT's fps 24: 121 -> multiple of 2
        (12, 12.0, {"fps": 2.0}, 4),  # 2 frames, raised to the 4-frame minimum
        (30, 12.0, {"fps": 2.0}, 4),  # 5.0 / 2 = 2.5 rounds half to even -> 4
        (3, 12.0, {"fps": 2.0}, 2),  # max_frames = floor(3 / 2) * 2 = 2
        (121, 24.0, {"nframes": 121}, 120),  # round(60.5) = 60 -> 120
        (2000, 30.0, {"fps": 30.0}, 768),  # FPS_MAX_FRAMES
    ],
)
def test_smart_nframes(total: int, native: float, kwargs: dict, expected: int) -> None:
    assert smart_nframes(total, native, **kwargs) == expected


def test_smart_nframes_rejects_single_frames_and_both_rules() -> None:
    with pytest.raises(ValueError):
        smart_nframes(1, 24.0, fps=2.0)
    with pytest.raises(ValueError):
        smart_nframes(10, 24.0, fps=2.0, nframes=4)
    with pytest.raises(ValueError):
        smart_nframes(10, 0.0, fps=2.0)


def test_uniform_indices_are_the_rounded_linspace() -> None:
    np.testing.assert_array_equal(
        javisbench_frame_indices(121, 10), np.round(np.linspace(0, 120, 10)).astype(np.int64)
    )


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(
        x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0)
    )


def _aa_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Antialiased bicubic weights (support widened by the downscale factor, rows normalised), float64."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    centers = (np.arange(n_out) + 0.5) * scale
    taps = (np.arange(n_in)[None, :] + 0.5 - centers[:, None]) / stretch
    wts = _keys_cubic(taps)
    return wts / wts.sum(axis=1, keepdims=True)


def test_antialias_bicubic_matches_a_float64_reference() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 60, 90, 3), dtype=np.uint8)
    ours = resize_bicubic_antialias(frames, 28, 56)
    assert ours.dtype == np.uint8 and ours.shape == (2, 28, 56, 3)
    ref = np.einsum("yh,xw,thwc->tyxc", _aa_matrix(60, 28), _aa_matrix(90, 56), frames.astype(np.float64))
    ref = np.clip(np.round(ref), 0, 255)
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1
    assert (ours.astype(int) != ref.astype(int)).mean() < 0.01
    up = resize_bicubic_antialias(frames[:1, :20, :30], 56, 84)  # upscaling: plain bicubic
    ref_up = np.einsum(
        "yh,xw,thwc->tyxc", _aa_matrix(20, 56), _aa_matrix(30, 84), frames[:1, :20, :30].astype(np.float64)
    )
    assert np.abs(up.astype(int) - np.clip(np.round(ref_up), 0, 255).astype(int)).max() <= 1


def test_antialias_bicubic_is_close_to_pillow_on_smooth_images_and_exact_where_trivial() -> None:
    y, x = np.mgrid[0:60, 0:90]
    smooth = np.stack([x * 2, y * 3, (x + y) * 1.2], axis=-1).astype(np.uint8)[None]
    assert (
        np.abs(
            resize_bicubic_antialias(smooth, 28, 56).astype(int) - resize_bicubic(smooth, 28, 56).astype(int)
        ).max()
        <= 1
    )
    np.testing.assert_array_equal(resize_bicubic_antialias(smooth, 60, 90), smooth)
    flat = np.full((1, 50, 70, 3), 77, dtype=np.uint8)
    np.testing.assert_array_equal(resize_bicubic_antialias(flat, 28, 84), 77)


def test_patchify_layout_by_hand() -> None:
    rng = np.random.default_rng(1)
    t, c, p, m = 3, 3, 2, 2
    pixels = rng.standard_normal((t, c, 8, 12)).astype(np.float32)
    rows, grid = patchify(pixels, patch_size=p, merge_size=m, temporal_patch_size=2)
    assert grid == (2, 4, 6)  # 3 frames padded to 4 by repeating the last
    padded = np.concatenate([pixels, pixels[-1:]], axis=0)
    r = 0
    for gt in range(2):
        for bh in range(2):
            for bw in range(3):
                for mh in range(m):
                    for mw in range(m):
                        y, x = (bh * m + mh) * p, (bw * m + mw) * p
                        expected = np.stack(
                            [padded[gt * 2 + tp, :, y : y + p, x : x + p] for tp in range(2)], axis=1
                        )
                        np.testing.assert_array_equal(rows[r], expected.reshape(-1))  # (C, tp, p, p) order
                        r += 1
    assert r == rows.shape[0]
    assert num_visual_tokens(grid, m) == 2 * 4 * 6 // 4


@pytest.mark.parametrize("shape", [(240, 426), (97, 131), (512, 512)])
def test_image_path_matches_transformers_processor(shape: tuple[int, int]) -> None:
    """HPSv3's image path (Pillow bicubic to the smart size, /255, CLIP mean/std, patches) = HF processor."""
    from PIL import Image

    pixels = 200704
    proc = _hf_pil_processor()
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    h, w = smart_resize(*shape, 28, pixels, pixels)
    # upstream resizes with PIL first; the processor then finds the size already right
    pil = Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC)
    ref = proc(images=[pil], return_tensors="np")
    ours_img = resize_bicubic(img, h, w)
    np.testing.assert_array_equal(ours_img, np.asarray(pil))
    rows, grid = patchify(to_normalized_chw(ours_img[None]))
    assert tuple(ref["image_grid_thw"][0]) == grid
    np.testing.assert_allclose(rows, ref["pixel_values"], atol=1e-5)
