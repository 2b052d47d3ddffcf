"""JavisBench FAD audio preprocessing and AudioCLIP's ESResNeXt-fbsp front end. Pure numpy/torch.

Waveform side (specs/javisbench.md §6.1): mono 16 kHz float32 in [-1, 1] (librosa.load(sr=16000)), cut or
right-zero-padded to ``int(16000 * max_audio_len_s)`` samples (64,000 for 4 s). It is NOT rescaled to the
int16 range: the JavisBench wrapper passes floats unchanged.

Model side (what ESResNeXtFBSP does itself, in its graph):
- maps the int16 range [-32768, 32767] linearly onto [-1, 1], so float input is descaled ~32768x and
  offset by 1/65535;
- frames the signal (frame = win_length, hop; one frame if shorter; zero padding split evenly around the
  signal so the frames tile it), multiplies by the periodic window and zero-pads each frame to n_fft;
- a learnable "frequency B-spline" transform (LinearFBSP): a complex n_fft -> n_fft/2+1 linear map whose
  kernel is materialised from three per-bin parameters (m, fb, fc);
- power, split of the frequency axis into 3 equal bands used as image channels, 10 * log10 with 1e-18 floor.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from omninft.reward_servers.functional.waveform import pad_or_trim

AUDIOCLIP_SAMPLE_RATE = 16_000  # JavisBench --audio_sr default (AudioCLIP itself was trained at 44.1 kHz)
AUDIOCLIP_MAX_AUDIO_LEN_S = 4.0
FBSP_EPS = 1e-8
LOG10_EPS = 1e-18
# 4-term Blackman-Harris (scipy.signal.windows.blackmanharris) coefficients.
_BLACKMANHARRIS = (0.35875, 0.48829, 0.14128, 0.01168)


def audio_num_samples(
    max_audio_len_s: float = AUDIOCLIP_MAX_AUDIO_LEN_S, sr: int = AUDIOCLIP_SAMPLE_RATE
) -> int:
    """``int(max_audio_len_s * sr)``: the fixed waveform length of the reference."""
    n = int(max_audio_len_s * sr)
    if n <= 0:
        raise ValueError(f"max_audio_len_s must give at least one sample, got {max_audio_len_s} s at {sr} Hz")
    return n


def fit_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """Truncate to num_samples, or right-pad with zeros (read_audio(..., padding=True)); float32."""
    return pad_or_trim(waveform, num_samples)


def blackmanharris_window(length: int) -> np.ndarray:
    """Periodic ("fftbins") Blackman-Harris window, float64, as scipy.signal.get_window('blackmanharris', n)."""
    if length <= 0:
        raise ValueError(f"window length must be positive, got {length}")
    phase = 2.0 * np.pi * np.arange(length, dtype=np.float64) / length
    a0, a1, a2, a3 = _BLACKMANHARRIS
    return a0 - a1 * np.cos(phase) + a2 * np.cos(2 * phase) - a3 * np.cos(3 * phase)


def int16_range_to_unit(x: torch.Tensor) -> torch.Tensor:
    """ESResNeXt's input mapping of [-32768, 32767] onto [-1, 1] (same operation order as the reference)."""
    return ((x - (-32768.0)) * 2.0) / 65535.0 + (-1.0)


def frame_layout(signal_length: int, frame_length: int, hop_length: int) -> tuple[int, int, int]:
    """(num_frames, pad_left, pad_right) of the reference framing for a signal of signal_length samples."""
    if signal_length <= frame_length:
        num_frames = 1
    else:
        num_frames = 1 + int(math.ceil((1.0 * signal_length - frame_length) / hop_length))
    pad = max(int((num_frames - 1) * hop_length + frame_length) - signal_length, 0)
    return num_frames, pad // 2, pad - pad // 2


def frame_indices(signal_length: int, frame_length: int, hop_length: int) -> torch.Tensor:
    """(num_frames, frame_length) int64 gather indices into the zero-padded signal."""
    num_frames, _, _ = frame_layout(signal_length, frame_length, hop_length)
    starts = torch.arange(num_frames, dtype=torch.int64) * hop_length
    return starts[:, None] + torch.arange(frame_length, dtype=torch.int64)[None, :]


def frame_signal(x: torch.Tensor, window: torch.Tensor, hop_length: int, n_fft: int) -> torch.Tensor:
    """(B, N) -> (B, frames, n_fft): centred zero padding, windowed frames, each zero-padded to n_fft."""
    frame_length = int(window.shape[0])
    n = int(x.shape[-1])
    _, left, right = frame_layout(n, frame_length, hop_length)
    if left or right:
        x = torch.nn.functional.pad(x, (left, right))
    frames = x[..., frame_indices(n, frame_length, hop_length).to(x.device)] * window
    if n_fft > frame_length:
        extra = n_fft - frame_length
        frames = torch.nn.functional.pad(frames, (extra // 2, extra - extra // 2))
    return frames


def _complex_power(base: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """(re, im) ** (re, im) in polar form, the reference's formula (last axis holds re, im)."""
    mag = (base[..., 0] ** 2 + base[..., 1] ** 2) ** 0.5
    phase = base[..., 1].atan2(base[..., 0])
    p_re, p_im = exponent[..., 0], exponent[..., 1]
    mag_out = (mag**2) ** (0.5 * p_re) * torch.exp(-p_im * phase)
    angle = p_re * phase + 0.5 * p_im * (mag**2).log()
    return mag_out.unsqueeze(-1) * torch.stack((angle.cos(), angle.sin()), dim=-1)


def fbsp_kernel(
    m: torch.Tensor,
    fb: torch.Tensor,
    fc: torch.Tensor,
    in_features: int,
    *,
    normalized: bool,
    eps: float = FBSP_EPS,
) -> torch.Tensor:
    """LinearFBSP weights (out_features, in_features, 2 = re/im) from its per-bin parameters m, fb, fc.

    Each bin is a complex exponential at frequency fc over t in pi * [-1, 1], under a sinc window of width
    fb / m raised to the power m, scaled by sqrt(fb) (and 1/sqrt(in_features) when normalised).
    """
    t = (
        math.pi * torch.linspace(-1.0, 1.0, in_features, dtype=m.dtype, device=m.device).reshape(1, -1, 1)
        + eps
    )
    m_, fb_, fc_ = m.reshape(-1, 1, 1), fb.reshape(-1, 1, 1), fc.reshape(-1, 1, 1)
    carrier = torch.cat((torch.cos(fc_ * t), -torch.sin(fc_ * t)), dim=-1)
    arg = fb_ * t / (m_ + eps)
    sinc = torch.where(arg == 0, torch.ones_like(arg), torch.sin(arg) / arg)
    win = _complex_power(
        torch.cat((sinc, torch.zeros_like(sinc)), dim=-1), torch.cat((m_, torch.zeros_like(m_)), dim=-1)
    )
    weights = fb_.sqrt() * torch.cat(
        (
            win[..., :1] * carrier[..., :1] - win[..., 1:] * carrier[..., 1:],
            win[..., :1] * carrier[..., 1:] + win[..., 1:] * carrier[..., :1],
        ),
        dim=-1,
    )
    return weights / (in_features**0.5) if normalized else weights


def fbsp_spectrum(frames: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real frames (..., n_fft) through an FBSP kernel -> (re, im), each (..., bins)."""
    return (
        torch.nn.functional.linear(frames, kernel[..., 0]),
        torch.nn.functional.linear(frames, kernel[..., 1]),
    )


def banded_log_power(re: torch.Tensor, im: torch.Tensor, bands: int = 3) -> torch.Tensor:
    """(B, frames, bins) spectrum -> (B, bands, bins // bands, frames) dB image; the top bins % bands dropped."""
    per_band = re.shape[-1] // bands
    power = re[..., : bands * per_band] ** 2 + im[..., : bands * per_band] ** 2
    power = power.transpose(-1, -2).reshape(re.shape[0], bands, per_band, re.shape[-2])
    power = torch.where(power > 0.0, power, torch.full_like(power, LOG10_EPS))
    return torch.log10(power).mul(10.0)
