"""AV-Align (JavisBench `calc_av_align`, from "Seeing and Hearing"): IoU of audio onsets and motion peaks.

Reference procedure (specs/javisbench.md §6.11), reproduced here in numpy:
- audio peaks: librosa.onset.onset_detect defaults at the native sample rate on the mono (channel-mean) signal:
  128-band Slaney mel power spectrogram (n_fft 2048, hop 512, Hann, zero-padded centred frames) -> dB (ref 1,
  amin 1e-10, top_db 80) -> mean over bands of the positive first difference -> shifted right by 1 + 2048 // 1024
  frames and trimmed -> min/max normalised -> librosa's peak picker (pre/post max, pre/post average and wait from
  the 30 ms / 100 ms rules, delta 0.07) -> frame * 512 / sr seconds;
- video peaks: grayscale (OpenCV's BGR2GRAY fixed point) of every frame, Farneback flow between consecutive
  frames with (0.5, 3, 15, 3, 5, 1.2) (functional.farneback), mean flow magnitude per pair; the trajectory starts
  with the first pair twice (the reference's quirk), so entry i is the motion into frame i; strict local maxima
  at i / fps seconds;
- score: an audio peak matches when some video peak lies strictly within +-1/fps; IoU = matched /
  (|A| + |V| - matched + 1e-6).
Approximation: the spectrogram is computed in float64 and rounded to float32 where librosa stores float32, so
onset strengths agree with librosa to float32 rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from omninft.reward_servers.functional.audio import hann_window, mel_filter_bank, power_stft, power_to_db
from omninft.reward_servers.functional.farneback import (
    farneback_from_expansions,
    level_expansions,
    pyramid_plan,
)

N_FFT = 2048
HOP = 512
N_MELS = 128
FARNEBACK_PARAMS = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
}
IOU_EPS = 1e-6
_GRAY_RGB = (9798, 19235, 3735)  # OpenCV 4.x BGR2GRAY 8-bit weights for R, G, B (15-bit fixed point)


def rgb_to_gray(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> uint8 gray exactly as cv2.cvtColor(BGR frame, COLOR_BGR2GRAY)."""
    f = np.asarray(frames)
    if f.dtype != np.uint8 or f.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB frames (..., 3), got {f.dtype} {f.shape}")
    r, g, b = (f[..., i].astype(np.int32) for i in range(3))
    return ((r * _GRAY_RGB[0] + g * _GRAY_RGB[1] + b * _GRAY_RGB[2] + (1 << 14)) >> 15).astype(np.uint8)


def onset_strength(y: np.ndarray, sr: int) -> np.ndarray:
    """librosa.onset.onset_strength(y=y, sr=sr) with its defaults; float32, one value per STFT frame."""
    x = np.asarray(y, dtype=np.float32)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty mono signal, got shape {x.shape}")
    spec = power_stft(x.astype(np.float64), N_FFT, HOP, hann_window(N_FFT), center=True, pad_mode="constant")
    power = spec.astype(np.float32)
    bank = mel_filter_bank(N_FFT // 2 + 1, N_MELS, 0.0, sr / 2.0, sr).astype(np.float32)
    mel = (power @ bank).T  # (n_mels, frames)
    db = power_to_db(mel, reference=1.0, amin=1e-10, top_db=80.0).astype(np.float32)
    diff = np.maximum(0.0, db[:, 1:] - db[:, :-1]).astype(np.float32)
    env = diff.mean(axis=0, dtype=np.float32)
    shift = 1 + N_FFT // (2 * HOP)
    return np.pad(env, (shift, 0))[: db.shape[1]].astype(np.float32)


def _ceil_int(x: float) -> int:
    return int(np.ceil(x))


def peak_pick(
    x: np.ndarray, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float, wait: int
) -> np.ndarray:
    """librosa.util.peak_pick (sparse): indices that are the window maximum and exceed the window mean + delta."""
    v = np.asarray(x, dtype=np.float32)
    n_total = v.shape[0]
    d = np.float32(delta)  # librosa's compiled peak picker takes delta as float32
    peaks: list[int] = []
    first = v[0] >= v[: min(post_max, n_total)].max(initial=-np.inf)
    first = first and v[0] >= np.float32(v[: min(post_avg, n_total)].mean(dtype=np.float32)) + d
    n = wait + 1 if first else 1
    if first:
        peaks.append(0)
    while n < n_total:
        if v[n] != v[max(0, n - pre_max) : min(n + post_max, n_total)].max():
            n += 1
            continue
        avg = np.float32(v[max(0, n - pre_avg) : min(n + post_avg, n_total)].mean(dtype=np.float32))
        if not v[n] >= avg + d:
            n += 1
            continue
        peaks.append(n)
        n += wait + 1
    return np.asarray(peaks, dtype=np.int64)


def onset_frames(y: np.ndarray, sr: int) -> np.ndarray:
    """librosa.onset.onset_detect(onset_envelope=onset_strength(y=y, sr=sr), sr=sr) frame indices."""
    env = onset_strength(y, sr)
    env = env - env.min()
    env = env / (env.max() + np.finfo(env.dtype).tiny)
    if not env.any() or not np.all(np.isfinite(env)):
        return np.zeros(0, dtype=np.int64)
    # librosa's window rules: float floor divisions, then rounded up to whole frames
    return peak_pick(
        env,
        pre_max=_ceil_int(0.03 * sr // HOP),
        post_max=_ceil_int(0.00 * sr // HOP + 1),
        pre_avg=_ceil_int(0.10 * sr // HOP),
        post_avg=_ceil_int(0.10 * sr // HOP + 1),
        delta=0.07,
        wait=_ceil_int(0.03 * sr // HOP),
    )


def audio_peak_times(y: np.ndarray, sr: int) -> np.ndarray:
    """Onset times in seconds (librosa.frames_to_time with hop 512)."""
    return onset_frames(y, sr) * HOP / float(sr)


def flow_trajectory(gray: np.ndarray) -> np.ndarray:
    """Mean Farneback flow magnitude per frame (T,) float64 from uint8 gray frames (T, H, W), T >= 2.

    Entry 0 repeats the first pair, as the reference does; entry i >= 1 is the motion from frame i-1 to frame i.
    Each frame's pyramid of polynomial expansions is computed once and shared by its two pairs.
    """
    if gray.ndim != 3 or gray.shape[0] < 2:
        raise ValueError(f"need at least 2 gray frames (T, H, W), got {gray.shape}")
    p = FARNEBACK_PARAMS
    plan = pyramid_plan(gray.shape[1], gray.shape[2], float(p["pyr_scale"]), int(p["levels"]))
    mags = np.zeros(gray.shape[0], dtype=np.float64)
    prev = level_expansions(gray[0], plan, int(p["poly_n"]), float(p["poly_sigma"]))
    for i in range(1, gray.shape[0]):
        cur = level_expansions(gray[i], plan, int(p["poly_n"]), float(p["poly_sigma"]))
        flow = farneback_from_expansions(
            prev,
            cur,
            plan,
            pyr_scale=float(p["pyr_scale"]),
            winsize=int(p["winsize"]),
            iterations=int(p["iterations"]),
        )
        mags[i] = float(
            np.sqrt(flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]).mean(dtype=np.float64)
        )
        prev = cur
    mags[0] = mags[1]
    return mags


def flow_trajectory_with(
    gray: np.ndarray, flow_fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """flow_trajectory with another Farneback implementation: flow_fn(prev, next) -> (H, W, 2) flow."""
    if gray.ndim != 3 or gray.shape[0] < 2:
        raise ValueError(f"need at least 2 gray frames (T, H, W), got {gray.shape}")
    mags = np.zeros(gray.shape[0], dtype=np.float64)
    for i in range(1, gray.shape[0]):
        flow = np.asarray(flow_fn(gray[i - 1], gray[i]), dtype=np.float64)
        mags[i] = float(
            np.sqrt(flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]).mean(dtype=np.float64)
        )
    mags[0] = mags[1]
    return mags


def local_maxima_times(values: Sequence[float] | np.ndarray, fps: float) -> np.ndarray:
    """Times i / fps of strict interior local maxima (values[i-1] < values[i] > values[i+1])."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] < 3:
        return np.zeros(0)
    idx = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])) + 1
    return idx / float(fps)


def av_align_iou(
    audio_peaks: Sequence[float] | np.ndarray, video_peaks: Sequence[float] | np.ndarray, fps: float
) -> float:
    """matched / (|A| + |V| - matched + 1e-6); an audio peak matches a video peak strictly within +-1/fps."""
    a = np.asarray(audio_peaks, dtype=np.float64)
    v = np.asarray(video_peaks, dtype=np.float64)
    tol = 1.0 / float(fps)
    matched = 0
    if a.size and v.size:
        matched = int(np.any((v[None, :] - tol < a[:, None]) & (a[:, None] < v[None, :] + tol), axis=1).sum())
    return matched / (a.size + v.size - matched + IOU_EPS)
