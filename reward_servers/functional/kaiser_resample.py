"""Band-limited resampling as resampy's `kaiser_best` filter computes it (what librosa 0.9.x `load(sr=...)` uses).

The reference JavisBench pins librosa 0.9.2, whose `librosa.load(path, sr=X)` resamples with
`resampy.resample(y, sr_native, X, filter="kaiser_best")` and then right-zero-pads (or cuts) the result to
ceil(n · X / sr_native) samples. This module reproduces that output bit for bit in numpy:

- the filter is the right wing of a Kaiser-windowed sinc (50 zero crossings, 2^13 table entries per crossing,
  β and roll-off as resampy's precomputed `kaiser_best` table was built with), regenerated here, not loaded;
- the interpolation walks the same table with the same linear interpolation between entries, and, like
  resampy's numba loop, adds the taps of one output sample one at a time into a float32 accumulator (so the
  rounding is the same); the loop runs over taps and is vectorised over output samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SincFilter:
    """Parameters of a Kaiser-windowed sinc interpolation table."""

    num_zeros: int
    precision_bits: int
    beta: float
    rolloff: float

    @property
    def table_per_zero(self) -> int:
        """Table entries between two zero crossings."""
        return 2**self.precision_bits


# resampy's kaiser_best, as its precomputed table was generated (the docstring rounds β to 12.9846).
KAISER_BEST = SincFilter(num_zeros=50, precision_bits=13, beta=12.984585247040012, rolloff=0.9173473712608761)

_WINDOWS: dict[SincFilter, np.ndarray] = {}


def sinc_half_window(spec: SincFilter = KAISER_BEST) -> np.ndarray:
    """Right wing of the windowed sinc, num_zeros · 2^bits + 1 taps, float64 (memoised, read-only)."""
    win = _WINDOWS.get(spec)
    if win is None:
        n = spec.table_per_zero * spec.num_zeros
        sinc = spec.rolloff * np.sinc(spec.rolloff * np.linspace(0, spec.num_zeros, num=n + 1, endpoint=True))
        taper = np.kaiser(2 * n + 1, spec.beta)[n:]
        win = taper * sinc
        win.setflags(write=False)
        _WINDOWS[spec] = win
    return win


def resampled_length(n: int, sr_in: int, sr_out: int) -> int:
    """Output length of resampy itself: floor(n · sr_out / sr_in)."""
    return int(n * float(sr_out) / float(sr_in))


def kaiser_resample(
    signal: np.ndarray, sr_in: int, sr_out: int, spec: SincFilter = KAISER_BEST
) -> np.ndarray:
    """resampy.resample(x, sr_in, sr_out, filter=spec) of a 1-D signal; float32 in and out, bit-identical."""
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return x.copy()
    ratio = float(sr_out) / sr_in
    n_out = resampled_length(x.shape[0], sr_in, sr_out)
    if n_out < 1:
        raise ValueError(f"a signal of {x.shape[0]} samples is too short to resample {sr_in} -> {sr_out}")
    win = sinc_half_window(spec)
    if ratio < 1:
        win = ratio * win
    delta = np.diff(win, append=win[-1])
    table = spec.table_per_zero
    scale = min(1.0, ratio)
    step = int(scale * table)
    nwin = win.shape[0]
    n_in = x.shape[0]
    x64 = x.astype(np.float64)

    t_out = np.arange(n_out) * (1.0 / ratio)
    n = t_out.astype(np.int64)
    y = np.zeros(n_out, np.float32)

    # Left wing: taps x[n], x[n-1], ... in that order.
    index_frac = scale * (t_out - n) * table
    offset = index_frac.astype(np.int64)
    eta = index_frac - offset
    i_max = np.minimum(n + 1, (nwin - offset) // step)
    for i in range(int(i_max.max(initial=0))):
        live = i < i_max
        pos = np.where(live, offset + i * step, 0)
        w = win[pos] + eta * delta[pos]
        src = x64[np.where(live, n - i, 0)]
        y = np.where(live, (y + w * src).astype(np.float32), y)

    # Right wing: taps x[n+1], x[n+2], ...
    index_frac = (scale - scale * (t_out - n)) * table
    offset = index_frac.astype(np.int64)
    eta = index_frac - offset
    k_max = np.minimum(n_in - n - 1, (nwin - offset) // step)
    for k in range(int(k_max.max(initial=0))):
        live = k < k_max
        pos = np.where(live, offset + k * step, 0)
        w = win[pos] + eta * delta[pos]
        src = x64[np.where(live, n + k + 1, 0)]
        y = np.where(live, (y + w * src).astype(np.float32), y)
    return y


def librosa_load_resample(
    signal: np.ndarray, sr_in: int, sr_out: int, spec: SincFilter = KAISER_BEST
) -> np.ndarray:
    """What librosa 0.9.x `load(sr=sr_out)` does to a mono float32 signal: kaiser resample, fix to ceil length."""
    x = np.asarray(signal, dtype=np.float32)
    if sr_in == sr_out:
        return x
    y = kaiser_resample(x, sr_in, sr_out, spec)
    target = int(np.ceil(x.shape[0] * (float(sr_out) / sr_in)))
    if y.shape[0] >= target:
        return y[:target]
    return np.pad(y, (0, target - y.shape[0]))


def resampled_too_short(n: int, sr_in: int, sr_out: int) -> bool:
    """True when resampy refuses the signal (fewer than one output sample)."""
    return sr_in != sr_out and resampled_length(n, sr_in, sr_out) < 1
