"""functional.kaiser_resample against the resampy package (librosa 0.9.2's resampler) and hand-checked facts."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional import kaiser_resample as K


def test_kaiser_best_table_shape_and_ends():
    win = K.sinc_half_window()
    assert win.shape == (50 * 8192 + 1,)
    assert win[0] == pytest.approx(K.KAISER_BEST.rolloff, abs=1e-15)  # sinc(0) · window(centre) = rolloff
    assert abs(win[-1]) < 1e-5  # the Kaiser taper has all but closed at the last table entry
    assert not win.flags.writeable


def test_dc_is_preserved_and_lengths_follow_resampy_and_librosa():
    x = np.ones(16_000, np.float32)
    y = K.kaiser_resample(x, 16_000, 48_000)
    assert y.shape == (48_000,) and y.dtype == np.float32
    # away from the edges a band-limited constant stays constant
    np.testing.assert_allclose(y[2000:-2000], 1.0, atol=1e-4)
    assert K.kaiser_resample(np.ones(10, np.float32), 44_100, 48_000).shape == (10,)  # floor(10.88)
    assert K.librosa_load_resample(np.ones(10, np.float32), 44_100, 48_000).shape == (
        11,
    )  # ceil, zero-filled
    assert K.resampled_too_short(2, 48_000, 16_000) and not K.resampled_too_short(3, 48_000, 16_000)
    with pytest.raises(ValueError):
        K.kaiser_resample(np.ones(2, np.float32), 48_000, 16_000)


def test_identity_rate_copies():
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(K.kaiser_resample(x, 16_000, 16_000), x)


@pytest.mark.parametrize(
    ("sr_in", "sr_out", "n"),
    [
        (16_000, 48_000, 8_000),
        (44_100, 48_000, 4_410),
        (48_000, 16_000, 9_600),
        (22_050, 16_000, 3_001),
        (8_000, 48_000, 7),
    ],
)
def test_bit_identical_to_resampy_kaiser_best(sr_in, sr_out, n):
    resampy = pytest.importorskip("resampy")
    x = (np.random.default_rng(n).standard_normal(n) * 0.3).astype(np.float32)
    ref = resampy.resample(x, sr_in, sr_out, filter="kaiser_best")
    ours = K.kaiser_resample(x, sr_in, sr_out)
    assert ours.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)


def test_table_equals_resampys_precomputed_kaiser_best():
    resampy = pytest.importorskip("resampy")
    half, precision, rolloff = resampy.filters.load_filter("kaiser_best")
    assert int(precision) == K.KAISER_BEST.table_per_zero and float(rolloff) == K.KAISER_BEST.rolloff
    # within 2 float64 ulps: numpy's SIMD sin/i0 differ by one ulp between CPUs (AVX-512 vs AVX2 paths)
    np.testing.assert_allclose(K.sinc_half_window(), half, rtol=2e-15, atol=1e-22)
