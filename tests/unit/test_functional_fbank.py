"""Kaldi fbank: hand-computed cases and an independent loop-based reference written here."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from omninft.reward_servers.functional.fbank import (
    FLOAT32_EPS,
    IMAGEBIND_FBANK,
    FbankSettings,
    frame_count,
    kaldi_fbank,
    kaldi_mel_banks,
    kaldi_window,
    mel_scale,
)


def _reference_fbank(x: np.ndarray, s: FbankSettings) -> np.ndarray:
    """Straight transcription of Kaldi's per-frame recipe with explicit loops and an explicit DFT."""
    sr = s.sample_rate
    flen, fshift = int(sr * s.frame_length_ms / 1000), int(sr * s.frame_shift_ms / 1000)
    nfft = 1
    while nfft < flen:
        nfft *= 2
    n_frames = 0 if len(x) < flen else 1 + (len(x) - flen) // fshift
    # window
    win = []
    for i in range(flen):
        hann = 0.5 - 0.5 * math.cos(2 * math.pi * i / (flen - 1))
        win.append(hann if s.window_type == "hanning" else hann**0.85)

    # filters, one output bin at a time
    def mel(f: float) -> float:
        return 1127.0 * math.log(1.0 + f / 700.0)

    nyq = sr / 2
    lo, hi = mel(s.low_freq), mel(s.high_freq if s.high_freq > 0 else nyq + s.high_freq)
    step = (hi - lo) / (s.num_mel_bins + 1)
    filters = np.zeros((s.num_mel_bins, nfft // 2 + 1))
    for b in range(s.num_mel_bins):
        left, centre, right = lo + b * step, lo + (b + 1) * step, lo + (b + 2) * step
        for k in range(nfft // 2):
            m = mel(k * sr / nfft)
            if left < m < right:
                filters[b, k] = (
                    (m - left) / (centre - left) if m <= centre else (right - m) / (right - centre)
                )
    # explicit DFT matrix
    k = np.arange(nfft // 2 + 1)[:, None]
    n = np.arange(nfft)[None, :]
    cos, sin = np.cos(2 * np.pi * k * n / nfft), np.sin(2 * np.pi * k * n / nfft)
    out = np.zeros((n_frames, s.num_mel_bins))
    for f in range(n_frames):
        frame = [float(v) for v in x[f * fshift : f * fshift + flen]]
        mean = sum(frame) / flen
        frame = [v - mean for v in frame]
        emph = [frame[i] - s.preemphasis * frame[i - 1 if i > 0 else 0] for i in range(flen)]
        padded = np.zeros(nfft)
        padded[:flen] = [emph[i] * win[i] for i in range(flen)]
        power = (cos @ padded) ** 2 + (sin @ padded) ** 2
        out[f] = np.log(np.maximum(filters @ power, FLOAT32_EPS))
    return out


def test_frame_counts_by_hand() -> None:
    # 25 ms = 400 samples, 10 ms = 160 at 16 kHz; 2 s -> 1 + (32000 - 400) // 160 = 198 (ImageBind pads to 204)
    assert (IMAGEBIND_FBANK.frame_length, IMAGEBIND_FBANK.frame_shift, IMAGEBIND_FBANK.padded_length) == (
        400,
        160,
        512,
    )
    assert [frame_count(n) for n in (0, 399, 400, 559, 560, 32000)] == [0, 0, 1, 1, 2, 198]
    assert kaldi_fbank(np.zeros(399, np.float32)).shape == (0, 128)
    assert kaldi_fbank(np.zeros(32000, np.float32)).shape == (198, 128)


def test_windows_by_hand() -> None:
    w = kaldi_window("hanning", 5)
    np.testing.assert_allclose(w, [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(kaldi_window("povey", 5), w**0.85)
    np.testing.assert_allclose(kaldi_window("hamming", 3), [0.08, 1.0, 0.08])
    with pytest.raises(ValueError, match="unknown window"):
        kaldi_window("kaiser", 4)


def test_mel_banks_by_hand() -> None:
    assert float(mel_scale(700.0)) == pytest.approx(1127.0 * math.log(2.0))
    banks = kaldi_mel_banks()
    assert banks.shape == (128, 257)
    assert (banks[:, -1] == 0).all()  # no filter on the Nyquist bin
    assert banks.min() >= 0 and banks.max() <= 1
    # 128 filters on 31.25 Hz bins: the narrowest low filters catch no bin at all, as in Kaldi/torchaudio
    assert (banks.sum(axis=1) == 0).any() and (banks[64:].sum(axis=1) > 0).all()
    # filter b peaks at its centre mel: the bin nearest to it has the largest weight of that filter
    s = IMAGEBIND_FBANK
    lo, hi = float(mel_scale(20.0)), float(mel_scale(8000.0))
    centre = lo + 101 * (hi - lo) / 129
    bin_mels = mel_scale(np.arange(256) * 16000 / 512)
    assert int(np.argmax(banks[100])) == int(np.argmin(np.abs(bin_mels - centre)))
    assert s.num_mel_bins == 128


def test_silence_and_dc_hit_the_floor() -> None:
    floor = np.float32(math.log(FLOAT32_EPS))
    np.testing.assert_array_equal(kaldi_fbank(np.zeros(1000, np.float32)), floor)
    # DC removal happens per frame before pre-emphasis, so a constant input is silence too
    np.testing.assert_allclose(kaldi_fbank(np.full(1000, 0.3, np.float32)), floor, atol=1e-6)


def test_tone_lands_in_its_filter() -> None:
    sr = 16000
    t = np.arange(sr) / sr
    fb = kaldi_fbank((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    banks = kaldi_mel_banks()
    k = round(1000.0 * 512 / sr)  # bin 32
    assert int(np.argmax(fb.mean(axis=0))) in set(np.nonzero(banks[:, k])[0].tolist())


@pytest.mark.parametrize("window", ["hanning", "povey"])
def test_matches_independent_reference(window: str) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(4000) * 0.1 + 0.05 * np.sin(np.arange(4000) * 0.3)).astype(np.float32)
    s = dataclasses.replace(IMAGEBIND_FBANK, window_type=window)
    ours = kaldi_fbank(x, s)
    ref = _reference_fbank(x, s)
    assert ours.shape == ref.shape == (23, 128)  # 1 + (4000 - 400) // 160
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-5)


def test_energy_column_position_and_dither_needs_rng() -> None:
    x = np.random.default_rng(1).standard_normal(1200).astype(np.float32)
    base = kaldi_fbank(x)
    htk = kaldi_fbank(x, dataclasses.replace(IMAGEBIND_FBANK, use_energy=True))
    kaldi = kaldi_fbank(x, dataclasses.replace(IMAGEBIND_FBANK, use_energy=True, htk_compat=False))
    np.testing.assert_array_equal(htk[:, :128], base)
    np.testing.assert_array_equal(kaldi[:, 1:], base)
    frames = np.stack([x[i * 160 : i * 160 + 400] for i in range(htk.shape[0])]).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(htk[:, 128], np.log((frames**2).sum(axis=1)), rtol=1e-5)
    with pytest.raises(ValueError, match="rng"):
        kaldi_fbank(x, dataclasses.replace(IMAGEBIND_FBANK, dither=1.0))
