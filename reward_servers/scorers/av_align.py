"""`av_align`: JavisBench's AV-Align (implemented there, not reported in its tables; specs/javisbench.md §6.11).

Protocol "javisbench-v1": every decoded frame at the container frame rate (no resizing, as `calc_av_align` calls
it with size=None), the audio mono at its native rate, the whole clip (option `max_length_s` reproduces the
reference's optional cut: frames until count >= fps * max_length_s, audio to int(max_length_s * sr) samples).
Audio onsets vs. Farneback motion peaks, IoU with a +-1 frame tolerance; see functional.av_align for the math.
No model: the whole cost is CPU work in `preprocess` (about 0.15-0.3 s per 240p frame in numpy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from omninft.reward_servers.functional.av_align import (
    FARNEBACK_PARAMS,
    audio_peak_times,
    av_align_iou,
    flow_trajectory,
    flow_trajectory_with,
    local_maxima_times,
    rgb_to_gray,
)
from omninft.reward_servers.functional.waveform import all_finite
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo, to_mono
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, scorer_options

VERSION = "1.0.0"
PROTOCOLS = ("javisbench-v1",)
DEFAULT_PROTOCOL = "javisbench-v1"
OUTPUTS = ("av_align",)


FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
GrayFn = Callable[[np.ndarray], np.ndarray]


def opencv_gray() -> GrayFn | None:
    """cv2.cvtColor per frame (the reference's own conversion, ~10x less CPU than the numpy one), or None."""
    try:
        import cv2
    except ImportError:
        return None

    def gray(frames: np.ndarray) -> np.ndarray:
        out = np.empty(frames.shape[:-1], dtype=np.uint8)
        for i, frame in enumerate(frames):
            # RGB2GRAY on RGB frames = the reference's BGR2GRAY on the BGR frames it reads (same weights per colour)
            cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY, dst=out[i])
        return out

    return gray


def opencv_flow() -> FlowFn | None:
    """cv2's Farneback with the reference parameters, or None when OpenCV is not installed."""
    try:
        import cv2
    except ImportError:
        return None
    p = FARNEBACK_PARAMS

    def flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]
            prev,
            nxt,
            None,
            float(p["pyr_scale"]),
            int(p["levels"]),
            int(p["winsize"]),
            int(p["iterations"]),
            int(p["poly_n"]),
            float(p["poly_sigma"]),
            0,
        )

    return flow


def av_align_score(
    video: DecodedVideo,
    audio: DecodedAudio,
    max_length_s: float | None = None,
    flow_fn: FlowFn | None = None,
    gray_fn: GrayFn | None = None,
) -> float:
    """The AV-Align IoU of one clip (raises ValueError when it cannot be computed)."""
    fps = float(video.fps)
    if not fps > 0:
        raise ValueError(f"video frame rate must be positive, got {video.fps}")
    frames = np.asarray(video.frames)
    y = to_mono(np.asarray(audio.pcm))
    if max_length_s is not None:
        # the reference stops reading once it holds at least fps * max_length_s frames
        keep = max(1, math.ceil(fps * max_length_s))
        frames = frames[:keep]
        if y.shape[0] > max_length_s * audio.sample_rate:
            y = y[: int(max_length_s * audio.sample_rate)]
    if frames.shape[0] < 2:
        raise ValueError(f"AV-Align needs at least 2 video frames, got {frames.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("AV-Align needs non-empty audio")
    audio_peaks = audio_peak_times(y, int(audio.sample_rate))
    gray = rgb_to_gray(frames) if gray_fn is None else gray_fn(frames)
    mags = flow_trajectory(gray) if flow_fn is None else flow_trajectory_with(gray, flow_fn)
    video_peaks = local_maxima_times(mags, fps)
    return float(av_align_iou(audio_peaks, video_peaks, fps))


class AvAlignScorer:
    """Audio-onset / motion-peak IoU; no weights, nothing to batch."""

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        opts = scorer_options(AvAlignOptions, name, cfg)
        self.max_length_s = opts.max_length_s
        # OpenCV is the reference implementation and ~6x faster (19 ms per 240x426 frame pair); the project's
        # numpy Farneback (matching it to ~1e-5 px) is the fallback where OpenCV is not installed.
        flow = opts.flow
        self.flow_fn = None if flow == "numpy" else opencv_flow()
        self.gray_fn = opencv_gray() if self.flow_fn is not None else None
        if flow == "opencv" and self.flow_fn is None:
            raise ValueError("option flow=opencv needs OpenCV: pip install opencv-python-headless")
        self.info = SPEC.info(
            name,
            cfg,
            weights=WeightsInfo(weights_id="none", sha256="", tiny=False),
            backend="opencv" if self.flow_fn is not None else "numpy",
            device="cpu",
            family="av_align",
            input_spec=InputSpec(
                modalities=("video", "audio"), max_audio_seconds=float(self.max_length_s or 0.0)
            ),
        )

    def preprocess(self, sample: DecodedSample) -> float:
        """Compute the score (the whole cost is here, on the CPU pool)."""
        if sample.video is None or sample.audio is None:
            raise InvalidSample("av_align needs both a video and an audio track")
        if not all_finite(sample.audio.pcm):
            raise InvalidSample("audio contains NaN or infinite samples")
        try:
            return av_align_score(sample.video, sample.audio, self.max_length_s, self.flow_fn, self.gray_fn)
        except ValueError as e:
            raise InvalidSample(str(e)) from e

    def forward(self, items: Sequence[float]) -> list[float]:
        """Nothing left to compute in batch."""
        return list(items)

    def postprocess(self, output: float) -> ScorerOutput:
        """The IoU as the `av_align` score."""
        return ScorerOutput(scores={"av_align": float(output)})

    def warmup_sample(self) -> DecodedSample:
        """A 0.5 s 32x32 clip of a moving bar with clicks."""
        frames = np.zeros((12, 32, 32, 3), dtype=np.uint8)
        for i in range(12):
            frames[i, :, 2 * i : 2 * i + 6] = 200
        pcm = np.zeros((1, 8000), dtype=np.float32)
        pcm[0, ::2000] = 0.5
        return DecodedSample(id="warmup", video=DecodedVideo(frames, 24.0), audio=DecodedAudio(pcm, 16000))


def build(name: str, cfg: ScorerConfig) -> AvAlignScorer:
    """Registry entry point of `av_align`."""
    return AvAlignScorer(name, cfg)


@dataclass(frozen=True)
class AvAlignOptions:
    """Options of av_align."""

    # Seconds of audio/video compared; None (or "none"/"null") = the whole clip.
    max_length_s: float | None = None
    # Optical flow: auto (OpenCV when installed), opencv or numpy.
    flow: Literal["auto", "opencv", "numpy"] = "auto"

    def __post_init__(self) -> None:
        v = self.max_length_s
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise ValueError(f"max_length_s must be a positive number or None, got {v!r}")


SPEC = ScorerSpec(
    name="av_align",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=OUTPUTS,
    modalities=("video", "audio"),
    options=AvAlignOptions,
    bench=(BenchMetric("javisbench", "av_align", output="av_align"),),
    summary="AV-Align: audio onsets vs optical-flow peaks (IoU)",
)
SCORERS = (SPEC,)
