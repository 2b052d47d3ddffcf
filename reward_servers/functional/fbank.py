"""Kaldi-compatible log mel filterbank (the `compute-fbank-feats` recipe). Pure numpy.

Follows the frame pipeline of Kaldi's FbankComputer, with the semantics of
`torchaudio.compliance.kaldi.fbank` (which ImageBind calls; torchaudio is not usable here):
1. framing with snip_edges: n = 1 + (N - frame_len) // shift frames, none when N < frame_len;
2. optional dither (disabled by default: it is random), per-frame DC removal;
3. pre-emphasis x[i] - k x[i-1] with x[-1] := x[0] (replicate padding);
4. window (hanning = symmetric Hann, povey = Hann^0.85, hamming, rectangular, blackman);
5. zero padding to the next power of two, |rfft|^2 (or magnitude);
6. triangular filters on the HTK mel scale 1127 ln(1 + f / 700), between low_freq and high_freq (<= 0 means
   relative to Nyquist), with no filter on the Nyquist bin;
7. log with a float32-epsilon floor; optional log-energy column (first with htk_compat=False, last with True).
Arithmetic is float64 and the result float32; torchaudio runs in float32, so results agree to ~1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)
WINDOWS = ("hanning", "povey", "hamming", "rectangular", "blackman")


@dataclass(frozen=True)
class FbankSettings:
    """Arguments of kaldi fbank; the defaults are ImageBind's (data.py waveform2melspec)."""

    sample_rate: int = 16_000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    num_mel_bins: int = 128
    window_type: str = "hanning"
    dither: float = 0.0
    preemphasis: float = 0.97
    remove_dc_offset: bool = True
    round_to_power_of_two: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    use_energy: bool = False
    htk_compat: bool = True
    use_power: bool = True
    use_log_fbank: bool = True
    energy_floor: float = 1.0
    blackman_coeff: float = 0.42
    snip_edges: bool = True

    @property
    def frame_length(self) -> int:
        """Window length in samples."""
        return int(self.sample_rate * self.frame_length_ms * 0.001)

    @property
    def frame_shift(self) -> int:
        """Hop in samples."""
        return int(self.sample_rate * self.frame_shift_ms * 0.001)

    @property
    def padded_length(self) -> int:
        """FFT size: the frame length, rounded up to a power of two unless disabled."""
        n = self.frame_length
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n


IMAGEBIND_FBANK = FbankSettings()


def mel_scale(freq: np.ndarray | float) -> np.ndarray:
    """HTK/Kaldi mel scale: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)


def kaldi_window(kind: str, length: int, blackman_coeff: float = 0.42) -> np.ndarray:
    """Kaldi's analysis windows, symmetric (denominator length - 1), float64."""
    if length <= 1:
        return np.ones(max(length, 0))
    n = np.arange(length, dtype=np.float64)
    a = 2.0 * math.pi / (length - 1)
    if kind == "hanning":
        return 0.5 - 0.5 * np.cos(a * n)
    if kind == "povey":
        return (0.5 - 0.5 * np.cos(a * n)) ** 0.85
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(a * n)
    if kind == "rectangular":
        return np.ones(length)
    if kind == "blackman":
        return blackman_coeff - 0.5 * np.cos(a * n) + (0.5 - blackman_coeff) * np.cos(2 * a * n)
    raise ValueError(f"unknown window type {kind!r}; choose one of {', '.join(WINDOWS)}")


def kaldi_mel_banks(settings: FbankSettings = IMAGEBIND_FBANK) -> np.ndarray:
    """Triangular mel filters (num_mel_bins, padded_length // 2 + 1); the Nyquist column is zero."""
    n_fft_bins = settings.padded_length // 2
    nyquist = 0.5 * settings.sample_rate
    high = settings.high_freq if settings.high_freq > 0.0 else settings.high_freq + nyquist
    low = settings.low_freq
    if not (0.0 <= low < nyquist and 0.0 < high <= nyquist and low < high):
        raise ValueError(f"bad mel range low_freq={low}, high_freq={high} for Nyquist {nyquist}")
    mel_low, mel_high = float(mel_scale(low)), float(mel_scale(high))
    delta = (mel_high - mel_low) / (settings.num_mel_bins + 1)
    b = np.arange(settings.num_mel_bins, dtype=np.float64)[:, None]
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = mel_scale(settings.sample_rate / settings.padded_length * np.arange(n_fft_bins))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.concatenate([banks, np.zeros((settings.num_mel_bins, 1))], axis=1)


def frame_count(num_samples: int, settings: FbankSettings = IMAGEBIND_FBANK) -> int:
    """Number of frames kaldi fbank produces from num_samples (snip_edges framing)."""
    if not settings.snip_edges:
        raise NotImplementedError("only snip_edges=True framing is implemented")
    if num_samples < settings.frame_length:
        return 0
    return 1 + (num_samples - settings.frame_length) // settings.frame_shift


def kaldi_fbank(
    waveform: np.ndarray, settings: FbankSettings = IMAGEBIND_FBANK, *, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Log mel filterbank (frames, num_mel_bins [+1 energy]) of a 1-D waveform, float32.

    The waveform is in whatever scale the caller uses (ImageBind passes [-1, 1] floats). Dither > 0 needs `rng`.
    """
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {x.shape}")
    n_frames = frame_count(x.shape[0], settings)
    width = settings.num_mel_bins + (1 if settings.use_energy else 0)
    if n_frames == 0:
        return np.zeros((0, width), dtype=np.float32)
    length, shift = settings.frame_length, settings.frame_shift
    starts = np.arange(n_frames)[:, None] * shift
    frames = x[starts + np.arange(length)[None, :]]
    if settings.dither != 0.0:
        if rng is None:
            raise ValueError("dither > 0 needs an explicit rng (it is random)")
        frames = frames + settings.dither * rng.standard_normal(frames.shape)
    if settings.remove_dc_offset:
        frames = frames - frames.mean(axis=1, keepdims=True)
    log_energy = np.log(np.maximum(np.sum(frames * frames, axis=1), FLOAT32_EPS))
    if settings.energy_floor != 0.0:
        log_energy = np.maximum(log_energy, math.log(settings.energy_floor))
    if settings.preemphasis != 0.0:
        previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
        frames = frames - settings.preemphasis * previous
    frames = frames * kaldi_window(settings.window_type, length, settings.blackman_coeff)[None, :]
    spectrum = np.abs(np.fft.rfft(frames, n=settings.padded_length, axis=1))
    if settings.use_power:
        spectrum = spectrum * spectrum
    mel = spectrum @ kaldi_mel_banks(settings).T
    if settings.use_log_fbank:
        mel = np.log(np.maximum(mel, FLOAT32_EPS))
    if settings.use_energy:
        column = log_energy[:, None]
        mel = np.concatenate([mel, column] if settings.htk_compat else [column, mel], axis=1)
    return mel.astype(np.float32)
