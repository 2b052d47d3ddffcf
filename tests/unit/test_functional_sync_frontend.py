"""Synchformer front end: 25 fps resampling, segmenting, windowing, log-mel, frame transform."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional import sync_frontend as sf

# ------------------------------------------------------------------------------------------------ 25 fps


def test_fps_16_to_25_hand_computed() -> None:
    # input frame i lands on tick round(i * 25 / 16) (halves up): 0 2 3 5 6 8 9 11 13 14 16 17 19 20 22 23;
    # output tick n shows the latest input frame whose tick is <= n
    expected = [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12, 13, 13, 14, 15, 15]
    assert sf.fps_resample_indices(16, 16.0).tolist() == expected


def test_fps_24_to_25_repeats_frame_11() -> None:
    # frame 12 sits at 12.5 ticks -> rounds to 13, so tick 12 repeats frame 11
    expected = list(range(12)) + [11] + list(range(12, 24))
    assert sf.fps_resample_indices(24, 24.0).tolist() == expected


def test_fps_30_to_25_drops_one_frame_in_six() -> None:
    # ticks round(i * 5 / 6): 0 1 2 3 3 4 5 6 7 8 8 9 10 ...: frames 3 and 9 share a tick with their successor
    idx = sf.fps_resample_indices(30, 30.0)
    assert idx.shape == (25,)
    assert idx[:11].tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12]
    assert sorted(set(range(30)) - set(idx.tolist())) == [3, 9, 15, 21, 27]


def test_fps_identity_ntsc_and_output_length() -> None:
    assert sf.fps_resample_indices(50, 25.0).tolist() == list(range(50))
    assert sf.fps_resample_indices(0, 24.0).shape == (0,)
    assert sf.fps_resample_indices(1, 8.0).tolist() == [0, 0, 0]  # round(25 / 8) = 3 ticks
    # 29.97 fps (30000/1001): 300 frames last 10.01 s -> round(250.25) = 250 output frames
    idx = sf.fps_resample_indices(300, 30000 / 1001)
    assert idx.shape == (250,) and idx[-1] == 299 and np.all(np.diff(idx) >= 1)
    with pytest.raises(ValueError):
        sf.fps_resample_indices(10, 0.0)


# ------------------------------------------------------------------------------------------------ segments / windows


@pytest.mark.parametrize(("seconds", "segments"), [(4.0, 11), (5.0, 14), (8.0, 24)])
def test_segment_counts_match_between_streams(seconds: float, segments: int) -> None:
    assert sf.segment_counts(seconds) == (segments, segments)
    assert sf.video_segment_starts(int(25 * seconds)).tolist() == [8 * i for i in range(segments)]
    assert sf.audio_segment_starts(int(16000 * seconds)).tolist() == [5120 * i for i in range(segments)]


def test_window_plans() -> None:
    (w4,) = sf.window_plan(11)
    assert w4.tolist() == list(range(11)) + [0, 1, 2]
    w8 = sf.window_plan(24)
    assert [w.tolist() for w in w8] == [list(range(14)), list(range(10, 24))]
    assert [w.tolist() for w in sf.window_plan(14)] == [list(range(14))]
    (w2,) = sf.window_plan(3)  # wrap-around more than once
    assert w2.tolist() == [0, 1, 2] * 4 + [0, 1]
    with pytest.raises(ValueError):
        sf.window_plan(0)


def test_offset_grid_and_desync() -> None:
    grid = sf.offset_grid()
    np.testing.assert_allclose(grid, np.round(np.arange(-10, 11) * 0.2, 6), atol=1e-6)
    logits = np.zeros((3, 21), dtype=np.float32)
    logits[0, 10] = 1.0  # 0 s
    logits[1, 0] = 1.0  # -2 s
    logits[2, [13, 15]] = 1.0  # tie -> first maximum (+0.6 s)
    np.testing.assert_allclose(sf.desync_from_logits(logits, grid), [0.0, 2.0, 0.6], atol=1e-6)


def test_fit_samples_and_frames() -> None:
    np.testing.assert_array_equal(sf.fit_samples(np.ones(3, np.float32), 5), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(sf.fit_samples(np.arange(8, dtype=np.float32), 4), [0, 1, 2, 3])
    idx, pad = sf.fit_frames(7, 10)
    assert idx.tolist() == list(range(7)) and pad == 3


# ------------------------------------------------------------------------------------------------ mel


def _librosa_reference(segment: np.ndarray) -> np.ndarray:
    import librosa

    spec = librosa.stft(
        segment.astype(np.float64),
        n_fft=1024,
        hop_length=160,
        win_length=400,
        window="hann",
        center=True,
        pad_mode="reflect",
    )
    fb = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=0.0, fmax=8000.0, htk=True, norm=None)
    mel = np.log(fb @ (np.abs(spec) ** 2) + 1e-6)  # (128, 65)
    out = np.zeros((128, 66))
    out[:, : mel.shape[1]] = mel
    return (out + 4.2677393) / (2 * 4.5689974)


def test_log_mel_matches_independent_librosa_reference() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(10240) / 16000
    segs = np.stack(
        [
            0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(10240),
            0.1 * rng.standard_normal(10240),
        ]
    ).astype(np.float32)
    got = sf.sync_log_mel(segs)
    assert got.shape == (2, 128, 66) and got.dtype == np.float32
    for i in range(2):
        np.testing.assert_allclose(got[i], _librosa_reference(segs[i]), atol=2e-5)
    # the 66th frame is the zero padding of the log-mel, normalised
    np.testing.assert_allclose(got[:, :, 65], 4.2677393 / (2 * 4.5689974), atol=1e-6)


def test_log_mel_of_silence_is_the_log_floor() -> None:
    got = sf.sync_log_mel(np.zeros((1, 10240), np.float32))
    np.testing.assert_allclose(got[0, :, :65], (np.log(1e-6) + 4.2677393) / (2 * 4.5689974), atol=1e-5)


def test_mel_filters_are_htk_without_norm() -> None:
    import librosa

    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=0.0, fmax=8000.0, htk=True, norm=None)
    np.testing.assert_allclose(sf.sync_mel_filters().T, ref, atol=1e-6)
    win = sf.sync_stft_window()
    assert (
        win.shape == (1024,) and np.all(win[:312] == 0) and np.all(win[712:] == 0) and win[312 + 200] == 1.0
    )


# ------------------------------------------------------------------------------------------------ frames


def test_resize_short_side_and_center_crop_geometry() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (2, 240, 426, 3), dtype=np.uint8)
    out = sf.resize_short_side_center_crop(frames)
    assert out.shape == (2, 224, 224, 3) and out.dtype == np.uint8
    # 240x426 -> 224x397 (int(224 * 426 / 240)); crop left = round(173 / 2) = 86 (half to even)
    full = sf.torchvision_resize_bicubic(frames, 224, 397)
    np.testing.assert_array_equal(out, full[:, :, 86 : 86 + 224])
    tall = sf.resize_short_side_center_crop(rng.integers(0, 256, (1, 300, 200, 3), dtype=np.uint8))
    assert tall.shape == (1, 224, 224, 3)


def test_resize_is_antialiased_float_bicubic_rounded() -> None:
    import torch

    frames = np.random.default_rng(2).integers(0, 256, (1, 64, 96, 3), dtype=np.uint8)
    got = sf.torchvision_resize_bicubic(frames, 32, 48)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    ref = (
        torch.nn.functional.interpolate(x, size=(32, 48), mode="bicubic", antialias=True)
        .clamp(0, 255)
        .round()
    )
    np.testing.assert_array_equal(got, ref.to(torch.uint8).permute(0, 2, 3, 1).numpy())
    flat = np.full((1, 64, 96, 3), 77, np.uint8)
    assert np.all(sf.torchvision_resize_bicubic(flat, 32, 48) == 77)  # weights sum to one, no ringing


def test_normalize_frames() -> None:
    x = np.array([[[[0, 255, 51]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    got = sf.normalize_frames(x)
    assert got.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(got[0, :, 0, 0], [-1.0, 1.0, -0.6], atol=1e-6)


# ------------------------------------------------------------------------------------------------ resampling


@pytest.mark.parametrize("sr", [44_100, 48_000, 22_050, 24_000])
def test_sinc_resample_length_and_accuracy(sr: int) -> None:
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    y = sf.sinc_resample(x, sr, 16_000)
    assert y.shape == (16_000,) and y.dtype == np.float32  # ceil(16000 * n / sr)
    t16 = np.arange(16_000) / 16_000
    ref = 0.5 * np.sin(2 * np.pi * 440 * t16) + 0.2 * np.sin(2 * np.pi * 3000 * t16)
    np.testing.assert_allclose(y[200:-200], ref[200:-200], atol=1e-3)  # edges see the zero padding


def test_sinc_resample_identity_odd_lengths_and_cropping() -> None:
    x = np.random.default_rng(0).standard_normal(44_101).astype(np.float32)
    np.testing.assert_array_equal(sf.sinc_resample(x, 16_000, 16_000), x)
    assert sf.sinc_resample(x, 44_100, 16_000).shape == (int(np.ceil(160 * 44_101 / 441)),)
    # dropping the input beyond what the first n outputs read changes none of them
    n = 8_000
    keep = sf.sinc_resample_input_length(n, 44_100, 16_000)
    np.testing.assert_array_equal(
        sf.sinc_resample(x[:keep], 44_100, 16_000)[:n], sf.sinc_resample(x, 44_100, 16_000)[:n]
    )
    with pytest.raises(ValueError):
        sf.sinc_resample(x, 0, 16_000)
