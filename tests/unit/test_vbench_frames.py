"""VBench frame sampling and transforms against hand-computed cases, a numpy reference and Pillow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from omninft.reward_servers.functional import vbench_frames as vf


def _np_interp_axis(x: np.ndarray, axis: int, out: int, mode: str) -> np.ndarray:
    """Independent float64 align_corners=False interpolation along one axis (torch's non-antialiased kernels)."""
    n = x.shape[axis]
    scale = n / out
    src = (np.arange(out) + 0.5) * scale - 0.5
    xm = np.moveaxis(x, axis, -1).astype(np.float64)
    res = np.zeros(xm.shape[:-1] + (out,))
    for j, s in enumerate(src):
        if mode == "bilinear":
            s = max(s, 0.0)  # torch clamps the source coordinate at 0 for linear modes
            i0 = int(math.floor(s))
            i1 = min(i0 + 1, n - 1)
            t = s - i0
            res[..., j] = (1 - t) * xm[..., min(i0, n - 1)] + t * xm[..., i1]
        else:  # Keys cubic, a = -0.75, taps clamped to the border
            i = int(math.floor(s))
            t = s - i
            a = -0.75
            ws = [
                ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                ((a + 2) * t - (a + 3)) * t * t + 1,
                ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
            ]
            for k, w in zip(range(-1, 3), ws, strict=True):
                res[..., j] += w * xm[..., min(max(i + k, 0), n - 1)]
    return np.moveaxis(res, -1, axis)


def _np_resize(x: np.ndarray, h: int, w: int, mode: str) -> np.ndarray:
    return _np_interp_axis(_np_interp_axis(x, -1, w, mode), -2, h, mode)


# ------------------------------------------------------------------------------------------ frame indices


def test_frame_indices_verified_cases():
    """The three cases §12 verified by running the reference."""
    assert vf.vbench_frame_indices(16, 48).tolist() == list(range(1, 48, 3))
    assert vf.vbench_frame_indices(8, 17).tolist() == [0, 2, 4, 6, 8, 10, 12, 15]
    assert vf.vbench_frame_indices(8, 5).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]


def test_frame_indices_hand_computed_rule():
    # linspace(0, 10, 4) = 0, 3.33, 6.67, 10 -> 0, 3, 6, 10; ranges [0,2],[3,5],[6,9] -> middles 1, 4, 7
    assert vf.vbench_frame_indices(3, 10).tolist() == [1, 4, 7]
    assert vf.vbench_frame_indices(1, 1).tolist() == [0]
    assert vf.vbench_frame_indices(4, 1).tolist() == [0, 0, 0, 0]
    assert vf.vbench_frame_indices(5, 5).tolist() == [0, 1, 2, 3, 4]
    for n, vlen in [(16, 100), (8, 200), (16, 16), (7, 300)]:
        idx = vf.vbench_frame_indices(n, vlen)
        assert len(idx) == n and idx.dtype == np.int64
        assert np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < vlen
    with pytest.raises(ValueError):
        vf.vbench_frame_indices(8, 0)
    with pytest.raises(ValueError):
        vf.vbench_frame_indices(0, 8)


# ------------------------------------------------------------------------------------------ resize


def test_bilinear_hand_computed():
    x = torch.tensor([[[[0.0, 10.0]]]])
    # sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel)
    assert vf.resize(x, 1, 4, "bilinear").flatten().tolist() == [0.0, 2.5, 7.5, 10.0]
    # 4 -> 2 without antialias: sources 0.5 and 2.5, plain two-tap averages (no wider support)
    y = torch.tensor([[[[0.0, 4.0, 8.0, 100.0]]]])
    assert vf.resize(y, 1, 2, "bilinear").flatten().tolist() == [2.0, 54.0]


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize(("h", "w", "oh", "ow"), [(12, 20, 7, 11), (9, 6, 16, 10), (30, 40, 30, 13)])
def test_resize_matches_numpy_reference(mode, h, w, oh, ow):
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, h, w)).astype(np.float32)
    got = vf.resize(torch.from_numpy(x), oh, ow, mode).numpy()
    np.testing.assert_allclose(got, _np_resize(x, oh, ow, mode), rtol=0, atol=2e-3)


def test_bilinear_upscale_matches_pillow_float():
    """Pillow's float ('F') bilinear equals the non-antialiased kernel when upscaling (no support widening)."""
    x = np.random.default_rng(1).uniform(0, 255, (7, 5)).astype(np.float32)
    pil = np.asarray(Image.fromarray(x, mode="F").resize((13, 17), Image.Resampling.BILINEAR))
    got = vf.resize(torch.from_numpy(x)[None, None], 17, 13, "bilinear")[0, 0].numpy()
    np.testing.assert_allclose(got, pil, rtol=0, atol=1e-3)


def test_resize_same_size_is_identity_and_uint8_path():
    x = torch.rand(2, 3, 5, 6) * 255
    assert vf.resize(x, 5, 6, "bicubic") is x
    u = torch.tensor([[[[0, 255, 0, 255, 0, 255]]]], dtype=torch.uint8)
    up = vf.resize(u, 1, 12, "bicubic")
    assert up.dtype == torch.uint8  # clamped then rounded: bicubic overshoot cannot wrap
    ref = np.clip(np.round(_np_resize(u.numpy().astype(np.float64), 1, 12, "bicubic")), 0, 255)
    np.testing.assert_array_equal(up.numpy(), ref.astype(np.uint8))
    with pytest.raises(ValueError):
        vf.resize(x, 4, 4, "nearest")


def test_short_side_size_floors_long_side():
    x = torch.zeros(1, 3, 240, 320)
    assert tuple(vf.resize_short_side(x, 224).shape[-2:]) == (224, 298)  # int(224 * 320 / 240) = 298
    assert tuple(vf.resize_short_side(torch.zeros(1, 3, 640, 360), 224).shape[-2:]) == (398, 224)


def test_center_crop_round_half_even():
    x = torch.arange(10.0).reshape(1, 1, 1, 10).expand(1, 1, 3, 10)
    # (10 - 5) / 2 = 2.5 -> round() = 2 (half to even); (3 - 2) / 2 = 0.5 -> 0
    assert vf.center_crop(x, 2, 5)[0, 0, 0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    y = torch.arange(9.0).reshape(1, 1, 1, 9)
    assert vf.center_crop(y, 1, 4).flatten().tolist() == [2.0, 3.0, 4.0, 5.0]  # 2.5 -> 2
    z = torch.arange(12.0).reshape(1, 1, 1, 12)
    assert vf.center_crop(z, 1, 5).flatten().tolist() == [4.0, 5.0, 6.0, 7.0, 8.0]  # 3.5 -> 4
    with pytest.raises(ValueError):
        vf.center_crop(x, 4)


# ------------------------------------------------------------------------------------------ transforms


def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_frames_to_tensor_is_float_0_255():
    f = _frames(2, 4, 5)
    x = vf.frames_to_tensor(f)
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, 3, 4, 5)
    np.testing.assert_array_equal(x.permute(0, 2, 3, 1).numpy(), f.astype(np.float32))


def test_clip_transform_against_numpy_chain():
    f = _frames(2, 24, 32)
    got = vf.clip_transform(vf.frames_to_tensor(f), 16).numpy()
    x = f.transpose(0, 3, 1, 2).astype(np.float64)
    r = _np_resize(x, 16, 21, "bicubic")  # int(16 * 32 / 24) = 21
    r = r[..., :, 2:18]  # left = round(5 / 2) = 2
    mean = np.array(vf.OPENAI_CLIP_MEAN).reshape(3, 1, 1)
    std = np.array(vf.OPENAI_CLIP_STD).reshape(3, 1, 1)
    np.testing.assert_allclose(got, (r / 255 - mean) / std, rtol=0, atol=1e-4)


def test_clip_transform_keeps_bicubic_overshoot():
    """Float input is not clamped: a hard edge overshoots past [0, 1] after /255 (§12)."""
    f = np.zeros((1, 20, 30, 3), dtype=np.uint8)
    f[:, :, 15:] = 255
    x = vf.center_crop(vf.resize_short_side(vf.frames_to_tensor(f), 56, "bicubic"), 56) / 255
    assert float(x.max()) > 1.0 and float(x.min()) < 0.0


def test_dino_transform_no_crop_and_normalisation():
    f = _frames(3, 18, 32, seed=2)
    got = vf.dino_transform(vf.frames_to_tensor(f), 9)
    assert tuple(got.shape) == (3, 3, 9, 16)  # short side 9, int(9 * 32 / 18) = 16, no crop
    x = f.transpose(0, 3, 1, 2).astype(np.float64)
    ref = (_np_resize(x, 9, 16, "bilinear") / 255 - np.array(vf.IMAGENET_MEAN).reshape(3, 1, 1)) / np.array(
        vf.IMAGENET_STD
    ).reshape(3, 1, 1)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("mode", "hw", "expected"),
    [
        ("longer", (360, 640), (288, 512)),  # §12: confirmed by running the reference
        ("longer", (512, 300), (512, 300)),  # not above 512: untouched
        ("longer", (720, 1280), (288, 512)),
        ("shorter", (720, 1280), (512, 910)),  # int(512 / 720 * 1280) = int(910.2)
        ("shorter", (480, 1280), (480, 1280)),
        ("shorter_centercrop", (720, 1280), (512, 910)),
        ("None", (720, 1280), (720, 1280)),
    ],
)
def test_imaging_quality_size(mode, hw, expected):
    assert vf.imaging_quality_size(*hw, mode) == expected


def test_imaging_quality_transform_modes():
    x = vf.frames_to_tensor(_frames(1, 520, 600, seed=3))
    longer = vf.imaging_quality_transform(x, "longer")
    assert tuple(longer.shape[-2:]) == (443, 512)  # int(512 / 600 * 520) = 443
    ref = _np_resize(x.numpy().astype(np.float64), 443, 512, "bilinear") / 255
    # torch computes source coordinates in float32: ~3e-5 px off at x ~ 500, i.e. < 1e-4 after /255
    np.testing.assert_allclose(longer.numpy(), ref, rtol=0, atol=1e-4)
    crop = vf.imaging_quality_transform(x, "shorter_centercrop")
    assert tuple(crop.shape[-2:]) == (512, 512)
    full = vf.imaging_quality_transform(x, "shorter")  # (512, int(512 / 520 * 600) = 590)
    assert tuple(full.shape[-2:]) == (512, 590)
    torch.testing.assert_close(crop, full[..., :, 39:551])  # round(78 / 2) = 39
    none = vf.imaging_quality_transform(x, "None")
    torch.testing.assert_close(none, x / 255.0)
    with pytest.raises(ValueError):
        vf.imaging_quality_transform(x, "bogus")


def test_transforms_are_batch_invariant():
    f = vf.frames_to_tensor(_frames(4, 30, 40, seed=4))
    for fn in (vf.clip_transform, vf.dino_transform):
        whole = fn(f, 16)
        for i in range(4):
            assert torch.equal(whole[i], fn(f[i : i + 1], 16)[0])
