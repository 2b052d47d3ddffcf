"""Synchformer input front end (JavisBench `DeSyncDataset` + `calc_desync_score`): pure numpy/torch, no I/O.

specs/javisbench.md §6.10 and specs/models.md §2.3:
- video: resampled to 25 fps the way ffmpeg's `fps` filter does it (torio StreamingMediaDecoder with
  frame_rate=25), first 25·L frames kept and black-padded, short side resized to 224 (torchvision v2 bicubic with
  antialias on uint8: float interpolation, clamp, round), centre crop 224, [0, 1], then (x - 0.5) / 0.5;
- segments of 16 frames with step 8 (video) and 10240 samples with step 5120 (audio at 16 kHz);
- per audio segment: torchaudio MelSpectrogram(16 kHz, n_fft 1024, win 400, hop 160, 128 mels; periodic Hann,
  centre + reflect padding, power 2, HTK mels, no filter norm) -> log(x + 1e-6) -> zero-pad/cut to 66 frames
  -> (x + 4.2677393) / (2 · 4.5689974);
- windows of 14 segments; a short first chunk is filled with its own leading segments (wrap-around) and a short
  last chunk is replaced by the last 14 segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from omninft.reward_servers.functional.audio import hann_window, mel_filter_bank, power_stft


@dataclass(frozen=True)
class SyncFrontendSettings:
    """Constants of the Synchformer front end used by av-benchmark, JavisBench and OmniNFT."""

    video_fps: int = 25
    image_size: int = 224
    frames_per_segment: int = 16
    frame_step: int = 8
    sample_rate: int = 16_000
    samples_per_segment: int = 10_240
    sample_step: int = 5_120
    n_fft: int = 1024
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 128
    spec_frames: int = 66
    log_eps: float = 1e-6
    mel_mean: float = -4.2677393
    mel_std: float = 4.5689974
    window_segments: int = 14


SYNC = SyncFrontendSettings()


# ------------------------------------------------------------------------------------------------ video


def _as_fraction(fps: float) -> Fraction:
    """A frame rate as an exact ratio (29.97... -> 30000/1001), as containers store it."""
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"frame rate must be positive and finite, got {fps}")
    return Fraction(fps).limit_denominator(10_000)


def _round_half_up(num: np.ndarray, den: int) -> np.ndarray:
    """round(num / den) with halves away from zero (AV_ROUND_NEAR_INF) for non-negative integers."""
    return (2 * num + den) // (2 * den)


def fps_resample_indices(num_frames: int, fps_in: float, fps_out: float = SYNC.video_fps) -> np.ndarray:
    """Source frame index of every output frame of ffmpeg's `fps=fps_out` filter (default rounding "near").

    Input frame i (pts i/fps_in) lands on output tick p_i = round(i · fps_out / fps_in). Output tick n shows
    the latest input frame with p_i <= n (earlier frames on the same tick are dropped, gaps repeat the last
    frame). The stream ends at the end of the last frame (pts N/fps_in), so there are round(N · fps_out /
    fps_in) output frames (eof_action "round"), at least one when there is any input.
    """
    if num_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    ratio = Fraction(fps_out) / _as_fraction(fps_in)
    num, den = ratio.numerator, ratio.denominator
    ticks = _round_half_up(np.arange(num_frames, dtype=np.int64) * num, den)
    n_out = max((2 * num_frames * num + den) // (2 * den), 1)
    # latest input frame whose tick is <= n: ticks are non-decreasing, so a right-bisection finds it
    idx = np.searchsorted(ticks, np.arange(n_out, dtype=np.int64), side="right") - 1
    return np.clip(idx, 0, num_frames - 1)


def fit_frames(num_available: int, length: int) -> tuple[np.ndarray, int]:
    """(indices of the first `length` frames, number of black frames to append)."""
    keep = min(num_available, length)
    return np.arange(keep, dtype=np.int64), length - keep


def torchvision_resize_bicubic(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, height, width, 3) as torchvision v2 Resize(BICUBIC) on a uint8 tensor.

    torchvision has no native uint8 bicubic kernel, so it interpolates in float32 with antialias=True, then
    clamps to [0, 255], rounds and casts back.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"expected uint8 (T, H, W, 3) frames, got {frames.dtype} {frames.shape}")
    if frames.shape[1] == height and frames.shape[2] == width:
        return frames.copy()
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32)
    y = torch.nn.functional.interpolate(
        x, size=(height, width), mode="bicubic", align_corners=False, antialias=True
    )
    y = y.clamp_(0.0, 255.0).round_().to(torch.uint8)
    return np.ascontiguousarray(y.permute(0, 2, 3, 1).numpy())


def resize_short_side_center_crop(frames: np.ndarray, size: int = SYNC.image_size) -> np.ndarray:
    """torchvision Resize(size) (short side; long side int(size·long/short)) then CenterCrop(size), uint8."""
    h, w = frames.shape[1], frames.shape[2]
    if h <= w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_h, new_w = int(size * h / w), size
    resized = torchvision_resize_bicubic(frames, new_h, new_w)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return resized[:, top : top + size, left : left + size]


def normalize_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1]: x / 255, then (x - 0.5) / 0.5."""
    x = frames.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def num_segments(length: int, size: int, step: int) -> int:
    """Number of full segments of `size` with hop `step` in `length` items ((length - size) // step + 1)."""
    return (length - size) // step + 1 if length >= size else 0


def video_segment_starts(num_frames: int, settings: SyncFrontendSettings = SYNC) -> np.ndarray:
    """First frame of every 16-frame video segment (step 8)."""
    n = num_segments(num_frames, settings.frames_per_segment, settings.frame_step)
    return np.arange(n, dtype=np.int64) * settings.frame_step


def audio_segment_starts(num_samples: int, settings: SyncFrontendSettings = SYNC) -> np.ndarray:
    """First sample of every 10240-sample audio segment (step 5120)."""
    n = num_segments(num_samples, settings.samples_per_segment, settings.sample_step)
    return np.arange(n, dtype=np.int64) * settings.sample_step


def segment_counts(max_length_s: float, settings: SyncFrontendSettings = SYNC) -> tuple[int, int]:
    """(S_v, S_a) for a clip fitted to max_length_s seconds (int(25·L) frames, int(16000·L) samples)."""
    frames = int(settings.video_fps * max_length_s)
    samples = int(settings.sample_rate * max_length_s)
    return (
        num_segments(frames, settings.frames_per_segment, settings.frame_step),
        num_segments(samples, settings.samples_per_segment, settings.sample_step),
    )


# ------------------------------------------------------------------------------------------------ audio


def fit_samples(waveform: np.ndarray, length: int) -> np.ndarray:
    """First `length` samples of a 1-D signal, zero-padded at the end; float32."""
    out = np.zeros(length, dtype=np.float32)
    n = min(length, waveform.shape[0])
    out[:n] = waveform[:n]
    return out


def sinc_resample(
    waveform: np.ndarray, sr_in: int, sr_out: int, *, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> np.ndarray:
    """1-D resampling as torchaudio.functional.resample with its defaults (windowed sinc, Hann², float32).

    The rates are reduced by their gcd; output phase j of every block of `sr_out` samples is a dot product of
    the zero-padded input (width before, width + sr_in after) with a sinc kernel cut off at
    min(rates) · rolloff, tapered by cos²; the output keeps ceil(sr_out · n / sr_in) samples.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    x = np.asarray(waveform, dtype=np.float32)
    if sr_in == sr_out:
        return x.copy()
    g = math.gcd(int(sr_in), int(sr_out))
    orig, new = int(sr_in) // g, int(sr_out) // g
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    idx = torch.arange(-width, width + orig, dtype=torch.float32)[None, :] / orig
    t = (torch.arange(0, -new, -1, dtype=torch.float32)[:, None] / new + idx) * base
    t = t.clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0), torch.sin(t) / t) * window * (base / orig)  # (new, taps)
    sig = torch.nn.functional.pad(torch.from_numpy(x)[None, None], (width, width + orig))
    out = torch.nn.functional.conv1d(sig, kernel[:, None], stride=orig)  # (1, new, blocks)
    target = math.ceil(new * x.shape[0] / orig)
    return out[0].transpose(0, 1).reshape(-1)[:target].numpy().astype(np.float32)


def sinc_resample_input_length(
    num_out: int, sr_in: int, sr_out: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> int:
    """Input samples that determine the first num_out outputs of sinc_resample (the rest can be dropped first)."""
    g = math.gcd(int(sr_in), int(sr_out))
    orig, new = int(sr_in) // g, int(sr_out) // g
    width = math.ceil(lowpass_filter_width * orig / (min(orig, new) * rolloff))
    return math.ceil(num_out / new) * orig + width + orig


def sync_stft_window(settings: SyncFrontendSettings = SYNC) -> np.ndarray:
    """Periodic Hann of win_length, zero-padded symmetrically to n_fft (torch.stft's window placement)."""
    win = hann_window(settings.win_length, periodic=True)
    left = (settings.n_fft - settings.win_length) // 2
    out = np.zeros(settings.n_fft, dtype=np.float64)
    out[left : left + settings.win_length] = win
    return out


def sync_mel_filters(settings: SyncFrontendSettings = SYNC) -> np.ndarray:
    """(n_fft // 2 + 1, 128) HTK-scale triangles over 0..8 kHz without area normalisation (torchaudio defaults)."""
    return mel_filter_bank(
        settings.n_fft // 2 + 1,
        settings.n_mels,
        0.0,
        settings.sample_rate / 2.0,
        settings.sample_rate,
        scale="htk",
        norm=None,
    )


def sync_log_mel(segments: np.ndarray, settings: SyncFrontendSettings = SYNC) -> np.ndarray:
    """(S, 10240) audio segments -> normalised log-mel (S, 128, 66) float32, the Synchformer audio input."""
    if segments.ndim != 2:
        raise ValueError(f"expected (segments, samples), got shape {segments.shape}")
    window = sync_stft_window(settings)
    fb = sync_mel_filters(settings)
    out = np.zeros((segments.shape[0], settings.n_mels, settings.spec_frames), dtype=np.float64)
    for i, seg in enumerate(np.asarray(segments, dtype=np.float64)):
        mel = power_stft(seg, settings.n_fft, settings.hop_length, window) @ fb  # (frames, mels)
        logmel = np.log(mel + settings.log_eps).T[:, : settings.spec_frames]
        out[i, :, : logmel.shape[1]] = logmel  # zero-padded in the log domain, before normalising
    out = (out - settings.mel_mean) / (2.0 * settings.mel_std)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------------ windows


def window_plan(n_segments: int, window: int = SYNC.window_segments) -> list[np.ndarray]:
    """Segment indices of each `window`-segment comparison (JavisBench calc_desync_score).

    ceil(S / window) consecutive chunks; a short first chunk is completed by repeating its own segments from the
    start (11 segments -> 0..10, 0, 1, 2); a short later chunk is replaced by the last `window` segments.
    """
    if n_segments <= 0:
        raise ValueError(f"need at least one segment, got {n_segments}")
    plans = []
    for w in range(math.ceil(n_segments / window)):
        start, stop = w * window, min((w + 1) * window, n_segments)
        idx = np.arange(start, stop, dtype=np.int64)
        if idx.shape[0] < window:
            idx = (
                np.resize(idx, window)
                if w == 0
                else np.arange(n_segments - window, n_segments, dtype=np.int64)
            )
        plans.append(idx)
    return plans


def offset_grid(max_offset_s: float = 2.0, num_classes: int = 21) -> np.ndarray:
    """The class grid make_class_grid(-2, 2, 21): linspace(-max, +max, classes) in float32 seconds."""
    return np.linspace(-max_offset_s, max_offset_s, num_classes).astype(np.float32)


def desync_from_logits(logits: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """|offset| in seconds of each window's argmax class (first maximum on ties, as torch.argmax)."""
    return np.abs(grid[np.argmax(np.asarray(logits), axis=-1)]).astype(np.float64)
