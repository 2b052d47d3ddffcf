"""ImageBind samplers and transforms: clip placement, frame/sample indices, crops, fbank clips, JavisScore grid."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional import imagebind_clips as C
from omninft.reward_servers.functional.fbank import kaldi_fbank


def test_clip_starts_use_the_k_minus_1_rule() -> None:
    # specs/models.md §1.3: an 8 s input gives audio clips at 0, 3, 6 s (not PyPI 0.1.5's 0, 2, 4)
    assert C.clip_starts(8.0, 2, 3) == [0, 3, 6]
    assert C.clip_starts(1.5, 2, 3) == [0, 0, 0]  # shorter than a clip: every clip starts at 0
    assert C.clip_starts(4.0625, 2, 5) == [Fraction(33, 64) * i for i in range(5)]


def test_audio_clip_bounds_by_hand() -> None:
    # 65000 samples = 4.0625 s; max start 2.0625 s, step 1.03125 s -> 0, 16500, 33000
    assert C.audio_clip_bounds(65_000) == [(0, 32_000), (16_500, 48_500), (33_000, 65_000)]
    assert C.audio_clip_bounds(8_000) == [(0, 32_000)] * 3  # short: the whole waveform (slice end past it)


def test_video_clip_frames_by_hand() -> None:
    # 65 frames @ 16 fps: starts 0, .515625, 1.03125, 1.546875, 2.0625 s -> ceil(16 t) = 0, 9, 17, 25, 33;
    # ends ceil(16 (t + 2)) = 32, 41, 49, 57, 65; first and last frame of each [start, end)
    idx = C.video_clip_frame_indices(65, 16.0)
    np.testing.assert_array_equal(idx, [[0, 31], [9, 40], [17, 48], [25, 56], [33, 64]])
    # 1 s at 8 fps: all clips are frames [0, 8)
    np.testing.assert_array_equal(C.video_clip_frame_indices(8, 8.0), [[0, 7]] * 5)
    # 24 fps, 96 frames (4 s): starts 0, .5, 1, 1.5, 2 -> frames 0, 12, 24, 36, 48; each 48 frames long
    np.testing.assert_array_equal(C.video_clip_frame_indices(96, 24.0)[:, 0], [0, 12, 24, 36, 48])
    np.testing.assert_array_equal(C.video_clip_frame_indices(96, 24.0)[:, 1], [47, 59, 71, 83, 95])
    assert C.uniform_temporal_subsample(5, 3).tolist() == [0, 2, 4]


def test_spatial_crops_and_short_side_by_hand() -> None:
    assert C.spatial_crop_offsets(224, 398) == [(0, 0), (0, 87), (0, 174)]  # ceil(174 / 2) = 87
    assert C.spatial_crop_offsets(300, 224) == [(0, 0), (38, 0), (76, 0)]
    assert C.spatial_crop_offsets(224, 225) == [(0, 0), (0, 1), (0, 1)]  # ceil(0.5) = 1
    assert C.spatial_crop_offsets(224, 300, crops=1) == [(0, 38)]
    x = torch.zeros(2, 3, 240, 426)
    assert tuple(C.short_side_scale(x).shape) == (2, 3, 224, 397)  # floor(426 / 240 * 224) = 397
    assert tuple(C.short_side_scale(torch.zeros(1, 100, 50)).shape) == (1, 448, 224)


def test_video_clips_compose_the_official_transforms() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (20, 30, 40, 3), dtype=np.uint8)
    out = C.video_clips(frames, fps=8.0)
    assert out.shape == (15, 3, 2, 224, 224) and out.dtype == np.float32
    # clip 2 (starts 0.25 s -> frames [2, 18)), right crop; built by hand with torch ops
    idx = C.video_clip_frame_indices(20, 8.0)[2]
    assert idx.tolist() == [2, 17]
    x = torch.from_numpy(frames[idx]).float().permute(0, 3, 1, 2) / 255.0
    x = torch.nn.functional.interpolate(x, size=(224, 298), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
    x = ((x - mean) / std)[:, :, :, 298 - 224 :].permute(1, 0, 2, 3)
    np.testing.assert_allclose(out[2 * 3 + 2], x.numpy(), atol=1e-6)


def test_audio_clips_fbank_pad_and_normalise() -> None:
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal((2, 40_000)) * 0.1).astype(np.float32)  # 2.5 s, stereo
    out = C.audio_clips(wave)
    assert out.shape == (3, 1, 128, 204) and out.dtype == np.float32
    # clip 1 starts at 0.25 s = 4000 samples; 198 frames, then 6 zero frames; channel 0 only. Its samples were
    # already shifted by clip 0's mean where the two overlap (the reference centres views of one waveform)
    shifted = wave.copy()
    shifted[:, :32_000] -= shifted[:, :32_000].mean()
    clip = shifted[0, 4000:36_000] - shifted[:, 4000:36_000].mean()
    fb = kaldi_fbank(clip).T
    np.testing.assert_allclose(out[1, 0, :, :198], (fb + 4.268) / 9.138, atol=1e-5)
    np.testing.assert_allclose(out[1, 0, :, 198:], 4.268 / 9.138, atol=1e-6)
    mono = C.audio_clips(wave[:1])
    # the second channel is ignored (DC removal per frame) in clip 0; later clips carry a step where the earlier
    # clips' means (over both channels) were subtracted, which per-frame DC removal does not cancel
    np.testing.assert_allclose(mono[0], out[0], atol=1e-4)
    short = C.audio_clips(wave[:, :1000])  # 5 frames, padded
    assert short.shape == (3, 1, 128, 204)
    with pytest.raises(ValueError, match="shorter than one"):
        C.audio_clips(wave[:, :399])
    long = C.waveform_to_melspec(np.zeros((1, 48_000), np.float32))
    assert long.shape == (1, 128, 204)  # 298 frames cut to 204


def _torch_view_centring(wave: np.ndarray, bounds: list[tuple[int, int]]) -> list[np.ndarray]:
    """Independent model of the reference: `waveform -= waveform.mean()` on torch views of one tensor, in order."""
    full = torch.from_numpy(wave.copy())
    out = []
    for a, b in bounds:
        view = full[:, a:b]
        view -= view.mean()
        out.append(view.numpy().copy())
    return out


def test_overlapping_audio_clips_are_centred_in_place_in_order() -> None:
    # a 3 s clip with a DC offset: clips at 0, 0.5, 1.0 s overlap, so clip 2 sees clip 0's and clip 1's shifts
    rng = np.random.default_rng(3)
    t = np.arange(48_000) / 16_000
    wave = (0.3 + 0.2 * np.sin(2 * np.pi * 3 * t) + 0.01 * rng.standard_normal(48_000)).astype(np.float32)[
        None
    ]
    bounds = C.audio_clip_bounds(48_000)
    assert bounds == [(0, 32_000), (8_000, 40_000), (16_000, 48_000)]
    expected = np.stack([C.waveform_to_melspec(c, centre=False) for c in _torch_view_centring(wave, bounds)])
    expected = (expected + 4.268) / 9.138
    np.testing.assert_allclose(C.audio_clips(wave), expected, atol=1e-5)
    # centring each clip on its own (a fresh copy per clip) gives other clips 1 and 2 here
    fresh = np.stack([C.waveform_to_melspec(wave[:, a:b]) for a, b in bounds])
    fresh = (fresh + 4.268) / 9.138
    assert np.abs(C.audio_clips(wave)[1:] - fresh[1:]).max() > 1e-3
    np.testing.assert_allclose(C.audio_clips(wave)[0], fresh[0], atol=1e-6)  # the first clip is unaffected
    # JavisScore windows are views of the same waveform: window 1 starts from window 0's centred samples
    windows = [(0, 32_000), (8_000, 40_000)]
    clip_bounds = [(a + x, a + y) for a, b in windows for x, y in C.audio_clip_bounds(b - a)]
    per_clip = _torch_view_centring(wave, clip_bounds)
    win_expected = (np.stack([C.waveform_to_melspec(c, centre=False) for c in per_clip]) + 4.268) / 9.138
    got = C.window_audio_clips(wave, windows)
    assert got.shape == (2, 3, 1, 128, 204)
    np.testing.assert_allclose(got.reshape(6, 1, 128, 204), win_expected, atol=1e-5)
    np.testing.assert_array_equal(wave, wave.copy())  # the caller's array is not modified
    untouched = wave.copy()
    C.audio_clips(wave)
    C.window_audio_clips(wave, windows)
    np.testing.assert_array_equal(wave, untouched)


@pytest.mark.parametrize(
    ("fps", "frames", "n", "k", "m"),
    [(16, 65, 32, 12, 6), (24, 102, 48, 19, 6), (24, 96, 48, 19, 5), (24, 121, 48, 19, 8)],
)
def test_javis_windows_match_the_spec_table(fps: int, frames: int, n: int, k: int, m: int) -> None:
    samples = int(round(frames / fps * 16_000))
    w = C.javis_windows(frames, float(fps), samples)
    assert not w.single
    assert (w.frames_per_window, int(w.frames_per_window * 0.4), len(w.video), len(w.audio)) == (n, k, m, m)
    assert w.video[-1][1] <= frames and w.audio[-1][1] <= samples
    assert all(e - s == 32_000 for s, e in w.audio)


def test_javis_windows_clamp_and_single_window() -> None:
    w = C.javis_windows(65, 16.0, 65_000)
    assert w.video == [(0, 32), (8, 40), (16, 48), (24, 56), (32, 64), (33, 65)]  # last one right-aligned
    assert w.audio[-1] == (33_000, 65_000)
    one = C.javis_windows(32, 16.0, 50_000)  # video no longer than a window
    assert one.single and one.video == [(0, 32)] and one.audio == [(0, 50_000)]
    assert C.javis_windows(64, 16.0, 32_000).single  # audio exactly one window
    with pytest.raises(ValueError, match="stride"):
        C.javis_windows(10, 0.4, 100_000)  # int(2 * 0.4) = 0-frame windows


def test_lowest_fraction_mean_by_hand() -> None:
    sim = np.array([[0.1, 0.5, 0.3, 0.9, 0.2], [1.0, 0.0, 0.5, 0.5, 0.25]])
    # N = 5 -> k = int(2.0) = 2: rows (0.1 + 0.2) / 2 = 0.15 and (0.0 + 0.25) / 2 = 0.125
    assert C.lowest_fraction_mean(sim, 0.4) == pytest.approx((0.15 + 0.125) / 2)
    assert np.isnan(C.lowest_fraction_mean(sim[:, :2], 0.4))  # k = int(0.8) = 0: the reference's NaN
