"""functional.image: bit-exact against Pillow, pixel values against transformers' CLIPImageProcessorPil."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional import image as I

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

# the rule of the Pillow installed here; other releases are checked through their documented rule
ORDER = I.pillow_pass_order(PIL.__version__)

SIZES = [
    ((240, 426), (224, 397)),  # JavisBench 240p frame, downscale both axes
    ((64, 96), (224, 336)),  # upscale
    ((300, 300), (224, 224)),
    ((17, 33), (224, 434)),
    ((480, 640), (224, 298)),
    ((100, 60), (37, 200)),  # shrink height, grow width
    ((642, 305), (293, 200)),  # Pillow 13 runs this one vertical-first
    ((5, 7), (3, 2)),
    ((1, 1), (3, 4)),
    ((2000, 10), (7, 3)),  # very wide kernels: coefficient sums must be sequential
]


def _random_image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(("src", "dst"), SIZES)
def test_resize_is_bit_exact_with_pillow(src, dst):
    img = _random_image(*src, seed=src[0] * 7 + src[1])
    ref = np.asarray(Image.fromarray(img).resize((dst[1], dst[0]), Image.BICUBIC))
    ours = I.resize_bicubic(img, *dst, pass_order=ORDER)
    assert ours.dtype == np.uint8 and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_resize_random_sizes_bit_exact_with_pillow():
    rng = np.random.default_rng(42)
    for _ in range(40):
        h, w, oh, ow = (int(v) for v in rng.integers(1, 160, 4))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = np.asarray(Image.fromarray(img).resize((ow, oh), Image.BICUBIC))
        np.testing.assert_array_equal(
            I.resize_bicubic(img, oh, ow, pass_order=ORDER), ref, err_msg=f"{h}x{w}->{oh}x{ow}"
        )


def test_resize_saturating_pattern_bit_exact():
    # a checkerboard drives the negative lobes into clipping on both passes
    board = ((np.indices((50, 60)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, -1)
    for oh, ow in ((123, 77), (20, 33)):
        ref = np.asarray(Image.fromarray(board).resize((ow, oh), Image.BICUBIC))
        np.testing.assert_array_equal(I.resize_bicubic(board, oh, ow, pass_order=ORDER), ref)


def test_resize_batched_frames_equal_per_frame():
    frames = np.random.default_rng(3).integers(0, 256, (4, 30, 50, 3), dtype=np.uint8)
    batched = I.resize_shortest_edge_bicubic(frames, 24)
    for f, b in zip(frames, batched, strict=True):
        np.testing.assert_array_equal(b, I.resize_shortest_edge_bicubic(f, 24))


def test_pass_order_rules():
    assert I.pillow_pass_order("11.3.0") == "horizontal_first"
    assert I.pillow_pass_order("12.1.1") == "horizontal_first"
    assert I.pillow_pass_order("12.2.0") == "pillow-12.2"
    assert I.pillow_pass_order("13.0.0") == "pillow-13"
    assert I.pillow_pass_order("13.1.0.dev0") == "pillow-13"
    img = _random_image(642, 305, seed=0)
    hv = I.resize_bicubic(img, 293, 200, pass_order="horizontal_first")
    vh = I.resize_bicubic(img, 293, 200, pass_order="pillow-13")
    assert (hv != vh).any()  # the order is visible in the last bit...
    assert np.abs(hv.astype(int) - vh).max() <= 16  # ...but only there
    # typical landscape video frames resize horizontally first under every rule
    frame = _random_image(240, 426, seed=1)
    outs = [I.resize_bicubic(frame, 224, 397, pass_order=o) for o in I.PASS_ORDERS]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    with pytest.raises(ValueError):
        I.resize_bicubic(frame, 10, 10, pass_order="bogus")


def test_shortest_edge_size():
    assert I.shortest_edge_size(240, 426, 224) == (224, 397)
    assert I.shortest_edge_size(426, 240, 224) == (397, 224)
    assert I.shortest_edge_size(100, 100, 224) == (224, 224)
    assert I.shortest_edge_size(64, 96, 224) == (224, 336)


@pytest.mark.parametrize(
    ("h", "top_round", "top_floor"), [(230, 3, 3), (227, 2, 1), (229, 2, 2), (397, 86, 86)]
)
def test_center_crop_rounding(h, top_round, top_floor):
    img = np.arange(h, dtype=np.int32)[:, None, None].repeat(224, 1).repeat(3, 2)
    assert I.center_crop(img, 224, 224, rounding="round")[0, 0, 0] == top_round
    assert I.center_crop(img, 224, 224, rounding="floor")[0, 0, 0] == top_floor
    with pytest.raises(ValueError):
        I.center_crop(img, h + 1, 224)


def test_to_normalized_chw():
    img = np.random.default_rng(4).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    out = I.to_normalized_chw(img)
    assert out.shape == (2, 3, 5, 6) and out.dtype == np.float32 and out.flags.c_contiguous
    ref = (img.astype(np.float64) / 255 - np.array(I.OPENAI_CLIP_MEAN)) / np.array(I.OPENAI_CLIP_STD)
    np.testing.assert_allclose(out, np.moveaxis(ref, -1, 1), atol=1e-6)


@pytest.mark.parametrize("hw", [(240, 426), (96, 64), (300, 301), (500, 380)])
def test_pipeline_matches_hf_clip_image_processor(hw):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil()
    img = _random_image(*hw, seed=hw[0])
    ref = processor(images=Image.fromarray(img), return_tensors="np")["pixel_values"][0]
    resized = I.resize_shortest_edge_bicubic(img, 224, pass_order=ORDER)
    ours = I.to_normalized_chw(I.center_crop(resized, 224, 224, rounding="floor"))
    assert ours.shape == ref.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("pass_order", ["horizontal_first", "pillow-13"])
@pytest.mark.parametrize("rounding", ["round", "floor"])
@pytest.mark.parametrize(("h", "w"), [(240, 426), (426, 240), (225, 301), (100, 90), (224, 224), (999, 131)])
def test_cropped_resize_equals_resize_then_crop(h: int, w: int, rounding: str, pass_order: str) -> None:
    from omninft.reward_servers.functional.image import (
        center_crop,
        resize_shortest_edge_bicubic,
        resize_shortest_edge_center_crop,
    )

    img = np.random.default_rng(h * w).integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    full = center_crop(
        resize_shortest_edge_bicubic(img, 224, pass_order=pass_order), 224, 224, rounding=rounding
    )
    fast = resize_shortest_edge_center_crop(img, 224, 224, pass_order=pass_order, rounding=rounding)
    assert fast.shape == (3, 224, 224, 3)
    np.testing.assert_array_equal(fast, full)


@pytest.mark.parametrize(
    ("src", "dst", "window"),
    [
        ((31, 47), (17, 29), (3, 5, 11, 20)),  # odd sizes, both axes shrink, an off-centre window
        ((23, 91), (23, 40), (0, 7, 23, 30)),  # height unchanged (Pillow skips that pass), width cropped
        ((91, 23), (40, 23), (9, 0, 25, 23)),  # width unchanged
        ((13, 17), (61, 5), (2, 1, 50, 4)),  # grow one axis, shrink the other
        ((700, 9), (6, 7), (0, 0, 6, 7)),  # ~117x vertical downscale: a 470-tap kernel
        ((45, 200), (45, 200), (4, 9, 30, 100)),  # no resampling at all, only the window
    ],
)
@pytest.mark.parametrize("pass_order", ["horizontal_first", "pillow-13"])
def test_batched_window_resize_equals_pillow_per_frame(monkeypatch, src, dst, window, pass_order):
    # a tiny chunk budget forces several chunks of frames through the banded matrix products
    monkeypatch.setattr(I, "_CHUNK_ELEMENTS", 2 * src[0] * src[1] * 3)
    frames = np.random.default_rng(src[0] + 3 * src[1]).integers(0, 256, (2, 3) + src + (3,), dtype=np.uint8)
    ours = I.resize_bicubic(frames, *dst, pass_order=pass_order, window=window)
    top, left, ch, cw = window
    assert ours.shape == (2, 3, ch, cw, 3)
    for idx in np.ndindex(2, 3):
        ref = I.resize_bicubic(frames[idx], *dst, pass_order=pass_order)[top : top + ch, left : left + cw]
        if pass_order == ORDER or not I._vertical_first(*src, *dst, "pillow-13"):
            # the installed Pillow is an independent reference whenever its pass order agrees
            pil = np.asarray(Image.fromarray(frames[idx]).resize((dst[1], dst[0]), Image.BICUBIC))
            np.testing.assert_array_equal(ref, pil[top : top + ch, left : left + cw])
        np.testing.assert_array_equal(ours[idx], ref, err_msg=f"frame {idx}")


def test_resize_single_channel_and_many_channels_match_pillow():
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (37, 53, 1), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(gray[..., 0]).resize((20, 14), Image.BICUBIC))
    np.testing.assert_array_equal(I.resize_bicubic(gray, 14, 20, pass_order=ORDER)[..., 0], ref)
    # four channels (no premultiplied alpha, unlike Pillow's RGBA): each is Pillow's 'L' resize of that plane
    planes = rng.integers(0, 256, (29, 41, 4), dtype=np.uint8)
    ref4 = np.stack(
        [np.asarray(Image.fromarray(planes[..., k]).resize((15, 33), Image.BICUBIC)) for k in range(4)], -1
    )
    np.testing.assert_array_equal(I.resize_bicubic(planes, 33, 15, pass_order=ORDER), ref4)
