"""Audio front-end math: windows, framed power STFT, mel filter banks, dB conversion, CLAP input fitting.

Pure numpy, no I/O. The CLAP pieces reproduce the non-fusion feature path of transformers'
``ClapFeatureExtractor`` with the ``laion/clap-htsat-unfused`` settings (see specs/models.md §4.2):
48 kHz, periodic Hann 1024, hop 480, power 2, 64 Slaney mels over 50-14000 Hz, 10*log10 dB, 10 s windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClapMelSettings:
    """Front-end constants of the unfused CLAP checkpoints (HF preprocessor_config.json keys in comments)."""

    sample_rate: int = 48_000  # sampling_rate
    n_fft: int = 1024  # fft_window_size
    hop_length: int = 480  # hop_length
    n_mels: int = 64  # feature_size
    f_min: float = 50.0  # frequency_min
    f_max: float = 14_000.0  # frequency_max
    max_length_s: int = 10  # max_length_s

    @property
    def max_samples(self) -> int:
        """Samples in one model window (480000 at 48 kHz)."""
        return self.max_length_s * self.sample_rate

    @property
    def n_frames(self) -> int:
        """STFT frames of one centred window (1001)."""
        return self.max_samples // self.hop_length + 1


CLAP_MEL = ClapMelSettings()


def hann_window(length: int, periodic: bool = True) -> np.ndarray:
    """Hann window in float64; periodic=True is the DFT-even window used by torch.stft/librosa."""
    if length <= 0:
        raise ValueError(f"window length must be positive, got {length}")
    n = length + 1 if periodic else length
    if n == 1:
        return np.ones(1)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / (n - 1))
    return w[:length] if periodic else w


def frame_signal(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Strided view of a 1-D signal as frames: (n_frames, frame_length); no padding."""
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    if x.shape[0] < frame_length:
        raise ValueError(f"signal of {x.shape[0]} samples is shorter than one frame ({frame_length})")
    n_frames = 1 + (x.shape[0] - frame_length) // hop_length
    return np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, frame_length), strides=(x.strides[0] * hop_length, x.strides[0]), writeable=False
    )


def power_stft(
    x: np.ndarray,
    n_fft: int,
    hop_length: int,
    window: np.ndarray | None = None,
    *,
    center: bool = True,
    pad_mode: str = "reflect",
    power: float = 2.0,
) -> np.ndarray:
    """|STFT|**power of a 1-D signal, float64, shape (n_frames, n_fft // 2 + 1).

    With center=True the signal is padded by n_fft // 2 on both sides (reflect by default), as torch.stft and
    librosa do, so frame t is centred on sample t * hop_length.
    """
    if window is None:
        window = hann_window(n_fft)
    if window.shape != (n_fft,):
        raise ValueError(f"window must have length n_fft={n_fft}, got {window.shape}")
    sig = np.asarray(x)
    if center:
        half = n_fft // 2
        if pad_mode == "reflect" and sig.shape[0] <= half:
            raise ValueError(f"reflect padding needs more than {half} samples, got {sig.shape[0]}")
        sig = np.pad(sig, (half, half), mode=pad_mode)  # type: ignore[call-overload]
    frames = frame_signal(np.ascontiguousarray(sig, dtype=np.float64), n_fft, hop_length)
    spec = np.fft.rfft(frames * window.astype(np.float64), n=n_fft, axis=-1)
    mag = np.abs(spec)
    return mag**2 if power == 2.0 else mag**power


def hz_to_mel(freq: np.ndarray | float, scale: str = "slaney") -> np.ndarray:
    """Hertz to mels: 'htk' (2595 log10(1 + f/700)) or 'slaney' (linear below 1 kHz, log above)."""
    f = np.asarray(freq, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if scale != "slaney":
        raise ValueError(f"unknown mel scale {scale!r}; use 'slaney' or 'htk'")
    f_sp = 200.0 / 3.0
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    lin = f / f_sp
    with np.errstate(divide="ignore"):
        log = min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, lin)


def mel_to_hz(mels: np.ndarray | float, scale: str = "slaney") -> np.ndarray:
    """Inverse of hz_to_mel for the same scale."""
    m = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if scale != "slaney":
        raise ValueError(f"unknown mel scale {scale!r}; use 'slaney' or 'htk'")
    f_sp = 200.0 / 3.0
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filter_bank(
    n_freqs: int,
    n_mels: int,
    f_min: float,
    f_max: float,
    sample_rate: int,
    *,
    scale: str = "slaney",
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters, float64, shape (n_freqs, n_mels) so that power @ filters -> mel power.

    The defaults (Slaney scale, Slaney area normalisation) are librosa.filters.mel's; scale='htk', norm=None
    gives the torchaudio-style bank. FFT bin k sits at k * sample_rate / (2 * (n_freqs - 1)) Hz.
    """
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    if not 0.0 <= f_min <= f_max:
        raise ValueError(f"need 0 <= f_min <= f_max, got {f_min}, {f_max}")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_freqs)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2), scale)
    widths = np.diff(edges)
    # distance of every FFT bin to every edge frequency: (n_freqs, n_mels + 2)
    dist = edges[None, :] - fft_freqs[:, None]
    rising = -dist[:, :-2] / widths[:-1]
    falling = dist[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        filters *= (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return filters


def power_to_db(
    power: np.ndarray, *, reference: float = 1.0, amin: float = 1e-10, top_db: float | None = None
) -> np.ndarray:
    """10 * log10(max(power, amin) / max(reference, amin)); optionally floor at (max - top_db)."""
    if amin <= 0:
        raise ValueError("amin must be positive")
    if reference <= 0:
        raise ValueError("reference must be positive")
    db = 10.0 * np.log10(np.maximum(power, amin)) - 10.0 * np.log10(max(reference, amin))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        db = np.maximum(db, db.max() - top_db)
    return db


def log_mel_spectrogram(
    waveform: np.ndarray,
    *,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    mel_filters: np.ndarray,
    mel_floor: float = 1e-10,
) -> np.ndarray:
    """Centred (reflect) power-2 STFT -> mel (floored at mel_floor) -> dB; float32 (frames, n_mels)."""
    del sample_rate  # part of the signature so callers state the rate the filters were built for
    spec = power_stft(np.asarray(waveform, dtype=np.float64), n_fft, hop_length, hann_window(n_fft))
    mel = np.maximum(mel_floor, spec @ mel_filters)
    return power_to_db(mel, reference=1.0, amin=1e-10).astype(np.float32)


def repeatpad(waveform: np.ndarray, max_len: int) -> np.ndarray:
    """CLAP 'repeatpad': tile int(max_len / len) whole copies, then zero-pad on the right to max_len."""
    n = waveform.shape[0]
    if n == 0:
        raise ValueError("cannot repeat-pad an empty waveform")
    if n >= max_len:
        raise ValueError(f"repeatpad is for waveforms shorter than {max_len} samples, got {n}")
    tiled = np.tile(waveform, max_len // n)
    return np.pad(tiled, (0, max_len - tiled.shape[0]))


def rand_trunc(waveform: np.ndarray, max_len: int, offset: int) -> np.ndarray:
    """CLAP 'rand_trunc' with the crop chosen by the caller: waveform[offset : offset + max_len]."""
    n = waveform.shape[0]
    if n <= max_len:
        raise ValueError(f"rand_trunc is for waveforms longer than {max_len} samples, got {n}")
    if not 0 <= offset <= n - max_len:
        raise ValueError(f"crop offset {offset} outside [0, {n - max_len}]")
    return waveform[offset : offset + max_len]


def clap_max_offset(n_samples: int, settings: ClapMelSettings = CLAP_MEL) -> int:
    """Largest valid rand_trunc offset for a waveform of n_samples (0 when it is not longer than 10 s)."""
    return max(n_samples - settings.max_samples, 0)


CLAP_PAD_MODES = ("zero", "repeatpad")


def fit_clap_waveform(
    waveform: np.ndarray, offset: int = 0, settings: ClapMelSettings = CLAP_MEL, pad: str = "zero"
) -> np.ndarray:
    """Bring a mono 48 kHz waveform to exactly one 10 s window: pad if shorter, crop at offset if longer.

    pad="zero" is what ClapFeatureExtractor does when its `padding` argument is not "repeat"/"repeatpad", e.g.
    the `padding=True` that transformers 4.49's ClapProcessor forwards from `processor(..., padding=True)`
    (JavisBench); pad="repeatpad" is the checkpoint's own default (tile whole copies, then zero-pad).
    """
    if pad not in CLAP_PAD_MODES:
        raise ValueError(f"unknown CLAP pad mode {pad!r}; choose one of {', '.join(CLAP_PAD_MODES)}")
    max_len = settings.max_samples
    n = waveform.shape[0]
    if n > max_len:
        return rand_trunc(waveform, max_len, offset)
    if n < max_len:
        if pad == "repeatpad":
            return repeatpad(waveform, max_len)
        return np.pad(waveform, (0, max_len - n))
    return waveform


_SLANEY_CACHE: dict[ClapMelSettings, np.ndarray] = {}


def clap_mel_filters(settings: ClapMelSettings = CLAP_MEL) -> np.ndarray:
    """Slaney mel bank of the non-fusion CLAP path, (n_fft // 2 + 1, n_mels), float64 (memoised)."""
    bank = _SLANEY_CACHE.get(settings)
    if bank is None:
        bank = mel_filter_bank(
            settings.n_fft // 2 + 1, settings.n_mels, settings.f_min, settings.f_max, settings.sample_rate
        )
        bank.setflags(write=False)
        _SLANEY_CACHE[settings] = bank
    return bank


def clap_log_mel(
    waveform_48k: np.ndarray, offset: int = 0, settings: ClapMelSettings = CLAP_MEL, pad: str = "zero"
) -> np.ndarray:
    """CLAP input features for one mono 48 kHz waveform: fit to 10 s (`pad` as fit_clap_waveform), then log-mel."""
    x = np.asarray(waveform_48k)
    if x.ndim != 1:
        raise ValueError(f"expected a mono 1-D waveform, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("empty waveform")
    fitted = fit_clap_waveform(x, offset, settings, pad)
    return log_mel_spectrogram(
        fitted,
        sample_rate=settings.sample_rate,
        n_fft=settings.n_fft,
        hop_length=settings.hop_length,
        mel_filters=clap_mel_filters(settings),
    )
