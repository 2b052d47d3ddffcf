"""Toy rewards for the trainer's CPU "sounding video" problem: ``toy_video``, ``toy_audio``, ``toy_sync``.

They score decoded media only (no weights) and rely on the toy's rendering convention, documented in
``omninft.trainer.policies.toy`` and repeated here as constants (the server must not import the trainer; keep the
two in step):

- video: grey frames whose side is a multiple of ``GRID`` (=8) pixels; each ``GRID`` cell is the mean of its
  block of pixels, values in [0, 1];
- audio: ``SAMPLE_RATE`` Hz, ``HOP`` samples per audio frame, band b a sine of ``BAND_HZ[b]`` Hz scaled by
  ``GAIN``; band amplitudes are recovered exactly by projecting each frame onto the band sines;
- the prompt names the class as ``class <c>``; class c's tone is band ``2c``.

Rewards (spec §6.1), all bounded and cheap:
``toy_video`` = mean over frames of the max normalised cross-correlation with a sharp 5×5 Gaussian (σ = 0.8),
in [−1, 1]; ``toy_audio`` = −4·std of the off-tone bands (noise floor, an SNR proxy);
``toy_sync`` = Pearson correlation at zero lag between the per-frame peak of the sounding blob (the two grid rows
around its class row ``ROW0 + ROW_STEP·c``, so a silent distractor elsewhere does not count; resampled to audio
frames) and the tone band's envelope |a| (0 when either is flat).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
)
from omninft.reward_servers.scorers.spec import NO_WEIGHTS, ScorerSpec, scorer_options

VERSION = "1.0"
GRID = 8
SAMPLE_RATE = 8000
HOP = 500
BANDS = 8
BAND_HZ: tuple[float, ...] = tuple(128.0 * (b + 1) for b in range(BANDS))
GAIN = 0.1
TEMPLATE_SIGMA = 0.8
ROW0 = 1.5
ROW_STEP = 1.6
_CLASS_RE = re.compile(r"class\s+(\d+)")


def _template() -> np.ndarray:
    r = np.arange(5, dtype=np.float64) - 2.0
    t = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * TEMPLATE_SIGMA**2))
    t = t - t.mean()
    return t / np.linalg.norm(t)


_TEMPLATE = _template()


def video_grid(video: DecodedVideo) -> np.ndarray:
    """Frames as a (T, GRID, GRID) float array in [0, 1] (channel mean, block mean)."""
    f = video.frames
    t, h, w, _ = f.shape
    if t == 0 or h % GRID or w % GRID:
        raise InvalidSample(
            f"toy video frames must be non-empty with sides a multiple of {GRID}, got {h}x{w}"
        )
    g = f.astype(np.float64).mean(axis=3) / 255.0
    return g.reshape(t, GRID, h // GRID, GRID, w // GRID).mean(axis=(2, 4))


def band_amplitudes(audio: DecodedAudio) -> np.ndarray:
    """Per-frame band amplitudes (TA, BANDS) recovered from the waveform (mono mix)."""
    if audio.sample_rate != SAMPLE_RATE:
        raise InvalidSample(f"toy audio must be {SAMPLE_RATE} Hz, got {audio.sample_rate}")
    pcm = audio.pcm.astype(np.float64).mean(axis=0)
    ta = pcm.shape[0] // HOP
    if ta < 2:
        raise InvalidSample(f"toy audio needs at least {2 * HOP} samples")
    n = np.arange(HOP)
    basis = np.sin(2.0 * np.pi * np.asarray(BAND_HZ)[:, None] * n[None, :] / SAMPLE_RATE)
    frames = pcm[: ta * HOP].reshape(ta, HOP)
    # Whole cycles per frame: the band sines are orthogonal with squared norm HOP/2.
    return frames @ basis.T * (2.0 / (HOP * GAIN))


def prompt_class(sample: DecodedSample) -> int:
    """Class c named by ``class <c>`` in the prompt (audio prompt first)."""
    for text in (sample.audio_prompt, sample.prompt):
        m = _CLASS_RE.search(text or "")
        if m:
            c = int(m.group(1))
            if 2 * c >= BANDS:
                raise InvalidSample(f"toy class {c} has no tone band")
            return c
    raise InvalidSample("toy prompt must name its class as 'class <c>'")


def video_sharpness(grid: np.ndarray) -> float:
    """Mean over frames of the max NCC with the sharp Gaussian template (zero-padded borders)."""
    padded = np.pad(grid, ((0, 0), (2, 2), (2, 2)))
    win = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(1, 2))
    win = win - win.mean(axis=(-1, -2), keepdims=True)
    num = (win * _TEMPLATE).sum(axis=(-1, -2))
    den = np.sqrt((win**2).sum(axis=(-1, -2)))
    ncc = np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0)
    return float(ncc.reshape(ncc.shape[0], -1).max(axis=1).mean())


def audio_noise_floor(amps: np.ndarray, c: int) -> float:
    """−4·std of every band except class c's tone band."""
    off = np.delete(amps, 2 * c, axis=1)
    return float(-4.0 * off.std())


def sounding_rows(c: int, size: int = GRID) -> list[int]:
    """The two grid rows around class c's blob row (clipped to the frame)."""
    row = ROW0 + ROW_STEP * c
    return sorted({min(max(int(np.floor(row)), 0), size - 1), min(max(int(np.ceil(row)), 0), size - 1)})


def av_sync(grid: np.ndarray, amps: np.ndarray, c: int) -> float:
    """Pearson correlation of the sounding blob's peak (resampled to audio frames) and the tone envelope."""
    peaks = grid[:, sounding_rows(c, grid.shape[1]), :].reshape(grid.shape[0], -1).max(axis=1)
    ta, t = amps.shape[0], peaks.shape[0]
    pos = (np.arange(ta) + 0.5) * t / ta - 0.5
    up = (
        peaks[np.clip(np.round(pos).astype(int), 0, t - 1)]
        if ta % t == 0
        else np.interp(pos, np.arange(t), peaks)
    )
    env = np.abs(amps[:, 2 * c])
    a, b = up - up.mean(), env - env.mean()
    den = float(np.sqrt((a**2).sum() * (b**2).sum()))
    if den <= 1e-12:
        # A flat peak or envelope carries no synchrony: score it as uncorrelated rather than failing it.
        return 0.0
    return float((a * b).sum() / den)


def _video(sample: DecodedSample) -> float:
    if sample.video is None:
        raise InvalidSample("toy_video needs a video track")
    return video_sharpness(video_grid(sample.video))


def _audio(sample: DecodedSample) -> float:
    if sample.audio is None:
        raise InvalidSample("toy_audio needs an audio track")
    return audio_noise_floor(band_amplitudes(sample.audio), prompt_class(sample))


def _sync(sample: DecodedSample) -> float:
    if sample.video is None or sample.audio is None:
        raise InvalidSample("toy_sync needs video and audio")
    return av_sync(video_grid(sample.video), band_amplitudes(sample.audio), prompt_class(sample))


class ToyScorer:
    """One toy reward; all work is per-sample numpy in preprocess."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        output: str,
        fn: Callable[[DecodedSample], float],
        modalities: tuple[str, ...],
    ) -> None:
        self._fn, self._output = fn, output
        # Seconds slept per item in forward: stands in for a real reward model's cost when measuring how well the
        # trainer overlaps scoring with rollouts (trainer/experiments/async_overlap.py). Per item, so batching
        # cannot make the emulated work disappear. 0 = off.
        self._latency_s = scorer_options(ToyOptions, name, cfg).latency_per_item_s
        if self._latency_s < 0:
            raise ValueError(f"option latency_per_item_s must be >= 0, got {self._latency_s}")
        spec = next(s for s in SCORERS if s.outputs == (output,))
        self.info = spec.info(
            name,
            cfg,
            weights=NO_WEIGHTS,
            backend="numpy",
            device="cpu",
            family="toy",
            input_spec=InputSpec(
                modalities=modalities, audio_sample_rate=SAMPLE_RATE if "audio" in modalities else 0
            ),
        )

    def preprocess(self, sample: DecodedSample) -> float:
        """Compute the reward (raises InvalidSample for media outside the toy convention)."""
        value = self._fn(sample)
        if not np.isfinite(value):
            raise InvalidSample(f"{self._output} is not finite")
        return value

    def forward(self, items: Sequence[float]) -> list[float]:
        """Nothing left to batch (beyond the optional emulated model latency)."""
        if self._latency_s:
            time.sleep(self._latency_s * len(items))
        return list(items)

    def postprocess(self, output: float) -> ScorerOutput:
        """The reward under its output name."""
        return ScorerOutput(scores={self._output: float(output)})

    def warmup_sample(self) -> DecodedSample:
        """A blob that flashes with a tone in band 0 (class 0)."""
        t = 8
        frames = np.zeros((t, 32, 32, 3), dtype=np.uint8)
        amps = np.zeros((16, BANDS))
        for i in range(t):
            level = 255 if i in (2, 5) else 100
            frames[i, 4:12, 4 * i : 4 * i + 8] = level
            if i in (2, 5):
                amps[2 * i : 2 * i + 2, 0] = 1.0
        amps[:, 1:] = 0.05 * np.cos(np.arange(16 * (BANDS - 1))).reshape(16, BANDS - 1)
        n = np.arange(16 * HOP)
        basis = np.sin(2.0 * np.pi * np.asarray(BAND_HZ)[:, None] * n[None, :] / SAMPLE_RATE)
        pcm = (GAIN * (np.repeat(amps, HOP, axis=0) * basis.T).sum(axis=1)).astype(np.float32)[None]
        return DecodedSample(
            id="warmup",
            prompt="toy class 0",
            video=DecodedVideo(frames, 8.0),
            audio=DecodedAudio(pcm, SAMPLE_RATE),
        )


def build_video(name: str, cfg: ScorerConfig) -> ToyScorer:
    """Registry entry point of ``toy_video`` (output ``toy_video``)."""
    return ToyScorer(name, cfg, "toy_video", _video, ("video",))


def build_audio(name: str, cfg: ScorerConfig) -> ToyScorer:
    """Registry entry point of ``toy_audio`` (output ``toy_audio``)."""
    return ToyScorer(name, cfg, "toy_audio", _audio, ("audio", "prompt"))


def build_sync(name: str, cfg: ScorerConfig) -> ToyScorer:
    """Registry entry point of ``toy_sync`` (output ``toy_sync``)."""
    return ToyScorer(name, cfg, "toy_sync", _sync, ("video", "audio", "prompt"))


@dataclass(frozen=True)
class ToyOptions:
    """Options of the toy rewards."""

    # Seconds slept per item in forward (emulated model cost); 0 = off.
    latency_per_item_s: float = 0.0


def _toy_spec(
    name: str, build: Callable[[str, ScorerConfig], ToyScorer], modalities: tuple[str, ...]
) -> ScorerSpec:
    return ScorerSpec(
        name=name,
        build=build,
        version=VERSION,
        protocols=("toy-v1",),
        outputs=(name,),
        modalities=modalities,
        options=ToyOptions,
        summary="analytic toy reward (trainer tests)",
    )


SCORERS = (
    _toy_spec("toy_video", build_video, ("video",)),
    _toy_spec("toy_audio", build_audio, ("audio", "prompt")),
    _toy_spec("toy_sync", build_sync, ("video", "audio", "prompt")),
)
