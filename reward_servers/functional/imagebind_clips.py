"""ImageBind's input samplers and transforms (official data.py, pytorchvideo, JavisBench). Pure numpy/torch.

- Clip placement: pytorchvideo's ConstantClipsPerVideoSampler as pinned by ImageBind and JavisBench
  (commit 9368f30 and later): clip i of k starts at i * max(duration - clip, 0) / max(k - 1, 1), in exact
  Fraction arithmetic; each clip is `clip_duration` long (it may run past the end of a short input).
- Video (load_and_transform_video_data): 5 clips of 2 s; decord-style frame selection [ceil(fps * start),
  min(ceil(fps * end), T)); UniformTemporalSubsample(2) = the first and last of those frames; /255;
  ShortSideScale(224) = torch bilinear (align_corners False, no antialias) to (224, floor(224 * long / short));
  CLIP mean/std; SpatialCrop(224, 3): the two ends and the centre (offset ceil(margin / 2)) of the long side.
- Audio (load_and_transform_audio_data): 16 kHz; 3 clips of 2 s, samples [int(start * sr), int(end * sr));
  per clip: subtract the clip mean *in place* on one copy of the waveform, clip after clip (the reference's
  `waveform -= waveform.mean()` acts on views, so overlapping clips and JavisScore windows see earlier clips'
  centring), Kaldi fbank of channel 0 (functional.fbank), transpose to (128, frames), zero-pad or cut to 204
  frames, then (x + 4.268) / 9.138.
- JavisScore windows (AVScoreDataset.segment_clip_transform): 2.0 s windows with 1.5 s overlap in frames
  (int(s * fps)) and in samples; starts clamped to n - window; the loop stops once a window reaches the end;
  both lists truncated to the shorter; a single whole-clip window when either side is no longer than a window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from omninft.reward_servers.functional.fbank import IMAGEBIND_FBANK, FbankSettings, kaldi_fbank
from omninft.reward_servers.functional.image import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

SAMPLE_RATE = 16_000
CLIP_SECONDS = 2
VIDEO_CLIPS = 5
FRAMES_PER_CLIP = 2
SPATIAL_CROPS = 3
AUDIO_CLIPS = 3
IMAGE_SIZE = 224
TARGET_FRAMES = 204
AUDIO_MEAN = -4.268
AUDIO_STD = 9.138


def clip_starts(duration_s: float, clip_s: float, clips: int) -> list[Fraction]:
    """Start times (exact Fractions) of ConstantClipsPerVideoSampler over a `duration_s` input."""
    if clips <= 0:
        raise ValueError(f"clips must be positive, got {clips}")
    max_start = Fraction(max(duration_s - clip_s, 0))
    step = max_start / max(clips - 1, 1)
    return [step * i for i in range(clips)]


def audio_clip_bounds(
    num_samples: int, sample_rate: int = SAMPLE_RATE, clip_s: int = CLIP_SECONDS, clips: int = AUDIO_CLIPS
) -> list[tuple[int, int]]:
    """[start, end) sample indices of the audio clips (end may exceed num_samples for short inputs)."""
    duration = num_samples / sample_rate
    return [
        (int(s * sample_rate), int((s + clip_s) * sample_rate)) for s in clip_starts(duration, clip_s, clips)
    ]


def uniform_temporal_subsample(count: int, num_samples: int) -> np.ndarray:
    """pytorchvideo UniformTemporalSubsample indices into `count` frames: linspace(0, count-1, n), truncated."""
    idx = torch.linspace(0, count - 1, num_samples).clamp(0, count - 1).long()
    return idx.numpy().astype(np.int64)


def video_clip_frame_indices(
    num_frames: int,
    fps: float,
    clip_s: int = CLIP_SECONDS,
    clips: int = VIDEO_CLIPS,
    frames_per_clip: int = FRAMES_PER_CLIP,
) -> np.ndarray:
    """(clips, frames_per_clip) frame indices the official video loader picks; ValueError if a clip is empty."""
    if num_frames <= 0 or not fps > 0:
        raise ValueError(f"need frames and a positive fps, got {num_frames} frames at {fps} fps")
    duration = float(num_frames) / float(fps)
    rows = []
    for start in clip_starts(duration, clip_s, clips):
        first = math.ceil(fps * float(start))
        last = min(math.ceil(fps * float(start + clip_s)), num_frames)
        if last <= first:
            raise ValueError(
                f"no frame in the clip starting at {float(start):.3f} s ({num_frames} frames at {fps} fps)"
            )
        rows.append(first + uniform_temporal_subsample(last - first, frames_per_clip))
    return np.stack(rows)


def short_side_scale(frames: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """pytorchvideo ShortSideScale (torch backend): bilinear resize of (..., H, W) so the short side is `size`."""
    h, w = frames.shape[-2:]
    if w < h:
        new_h, new_w = int(math.floor(float(h) / w * size)), size
    else:
        new_h, new_w = size, int(math.floor(float(w) / h * size))
    lead = frames.shape[:-2]
    flat = frames.reshape(-1, 1, h, w)
    out = torch.nn.functional.interpolate(flat, size=(new_h, new_w), mode="bilinear", align_corners=False)
    return out.reshape(*lead, new_h, new_w)


def spatial_crop_offsets(
    height: int, width: int, size: int = IMAGE_SIZE, crops: int = SPATIAL_CROPS
) -> list[tuple[int, int]]:
    """(top, left) of ImageBind's SpatialCrop crops: start / centre / end of the long side (centre only if 1)."""
    if height < size or width < size:
        raise ValueError(f"frame {height}x{width} is smaller than the {size} crop")
    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    top, left = int(math.ceil((height - size) / 2)), int(math.ceil((width - size) / 2))
    out = []
    for idx in (1,) if crops == 1 else (0, 1, 2):
        t, lf = top, left
        if height > width:
            t = 0 if idx == 0 else (height - size if idx == 2 else top)
        else:
            lf = 0 if idx == 0 else (width - size if idx == 2 else left)
        out.append((t, lf))
    return out


def video_clips(
    frames: np.ndarray, fps: float, *, size: int = IMAGE_SIZE, crops: int = SPATIAL_CROPS
) -> np.ndarray:
    """uint8 (T, H, W, 3) RGB -> float32 (clips * crops, 3, 2, size, size): the official video input of one sample."""
    idx = video_clip_frame_indices(frames.shape[0], fps)
    picked = torch.from_numpy(np.ascontiguousarray(frames[idx.reshape(-1)])).to(torch.float32) / 255.0
    x = picked.permute(0, 3, 1, 2)  # (clips * 2, 3, H, W)
    x = short_side_scale(x, size)
    mean = torch.tensor(OPENAI_CLIP_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(OPENAI_CLIP_STD, dtype=torch.float32)[:, None, None]
    x = (x - mean) / std
    n_clips = idx.shape[0]
    x = x.reshape(n_clips, idx.shape[1], 3, *x.shape[-2:]).permute(0, 2, 1, 3, 4)  # (clips, 3, 2, h, w)
    out = [
        x[c, :, :, t : t + size, lf : lf + size]
        for c in range(n_clips)
        for t, lf in spatial_crop_offsets(x.shape[-2], x.shape[-1], size, crops)
    ]
    return torch.stack(out).contiguous().numpy()


def waveform_to_melspec(
    clip: np.ndarray,
    settings: FbankSettings = IMAGEBIND_FBANK,
    target_frames: int = TARGET_FRAMES,
    *,
    centre: bool = True,
) -> np.ndarray:
    """(C, n) waveform clip -> (1, num_mel_bins, target_frames) log-mel of channel 0, as ImageBind waveform2melspec.

    `centre=False` when the caller has already subtracted the clip mean (see `audio_clips`).
    """
    x = np.asarray(clip, dtype=np.float32)
    if centre:
        x = x - x.mean(dtype=np.float64).astype(np.float32)  # the reference centres all channels together
    fb = kaldi_fbank(x[0], settings).T  # (mel, frames)
    n = fb.shape[1]
    if n == 0:
        raise ValueError(
            f"audio clip of {x.shape[1]} samples is shorter than one {settings.frame_length}-sample frame"
        )
    if n < target_frames:
        fb = np.pad(fb, ((0, 0), (0, target_frames - n)))
    return np.ascontiguousarray(fb[None, :, :target_frames])


def _centred_clips_in_place(x: np.ndarray, sample_rate: int, clips: int, clip_s: int) -> np.ndarray:
    """Normalised fbank clips of the float32 (C, N) array `x`, centring each clip's samples *in `x`*, in clip order.

    The reference's waveform2melspec runs `waveform -= waveform.mean()` on a slice (a view) of one loaded
    waveform, so where clips overlap (inputs shorter than clips x clip_s) a later clip sees the samples already
    shifted by every earlier clip's mean; JavisScore's windows are views of one waveform too.
    """
    out = []
    for a, b in audio_clip_bounds(x.shape[1], sample_rate, clip_s, clips):
        view = x[:, a:b]
        if view.size:
            view -= view.mean(dtype=np.float64).astype(np.float32)
        out.append(waveform_to_melspec(view, centre=False))
    return ((np.stack(out) - np.float32(AUDIO_MEAN)) / np.float32(AUDIO_STD)).astype(np.float32)


def _float32_copy(pcm: np.ndarray) -> np.ndarray:
    x = np.array(pcm, dtype=np.float32, copy=True)
    return x[None] if x.ndim == 1 else x


def audio_clips(
    pcm: np.ndarray, *, sample_rate: int = SAMPLE_RATE, clips: int = AUDIO_CLIPS, clip_s: int = CLIP_SECONDS
) -> np.ndarray:
    """(C, N) waveform at 16 kHz -> float32 (clips, 1, 128, 204): the official normalised fbank clips.

    Clips are centred one after the other on a single copy of the waveform, as the reference does in place.
    """
    return _centred_clips_in_place(_float32_copy(pcm), sample_rate, clips, clip_s)


def window_audio_clips(
    pcm: np.ndarray,
    windows: list[tuple[int, int]],
    *,
    sample_rate: int = SAMPLE_RATE,
    clips: int = AUDIO_CLIPS,
    clip_s: int = CLIP_SECONDS,
) -> np.ndarray:
    """(M, clips, 1, 128, 204): `audio_clips` of each [start, end) window in order, all on one waveform copy
    (AVScoreDataset's windows are views of one waveform, so overlapping windows share the in-place centring)."""
    x = _float32_copy(pcm)
    return np.stack([_centred_clips_in_place(x[:, a:b], sample_rate, clips, clip_s) for a, b in windows])


@dataclass(frozen=True)
class JavisWindows:
    """JavisScore windows of one sample: [start, end) frame and sample ranges (same count M)."""

    video: list[tuple[int, int]]
    audio: list[tuple[int, int]]
    single: bool  # the whole-clip fallback (one window of all frames and the whole waveform)

    @property
    def frames_per_window(self) -> int:
        """N: frames in each video window."""
        return self.video[0][1] - self.video[0][0]


def _sliding(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    out = []
    for start in range(0, n, stride):
        start = min(start, n - window)
        out.append((start, start + window))
        if start + window >= n:
            break
    return out


def javis_windows(
    num_frames: int,
    fps: float,
    num_samples: int,
    *,
    sample_rate: int = SAMPLE_RATE,
    window_s: float = 2.0,
    overlap_s: float = 1.5,
) -> JavisWindows:
    """The JavisScore window grid of a clip with num_frames frames at fps and num_samples audio samples."""
    v_win, v_over = int(window_s * fps), int(overlap_s * fps)
    a_win, a_over = int(window_s * sample_rate), int(overlap_s * sample_rate)
    if num_frames <= v_win or num_samples <= a_win:
        return JavisWindows([(0, num_frames)], [(0, num_samples)], single=True)
    if v_win - v_over <= 0 or a_win - a_over <= 0:
        raise ValueError(
            f"window stride is not positive at {fps} fps (window {v_win}, overlap {v_over} frames)"
        )
    video = _sliding(num_frames, v_win, v_win - v_over)
    audio = _sliding(num_samples, a_win, a_win - a_over)
    m = min(len(video), len(audio))
    return JavisWindows(video[:m], audio[:m], single=False)


def lowest_fraction_mean(sim: np.ndarray, fraction: float = 0.4) -> float:
    """JavisScore: per row the mean of the int(N * fraction) smallest values, then the mean over rows.

    NaN when that count is 0 (the reference's empty topk mean); callers decide what NaN means.
    """
    s = np.asarray(sim, dtype=np.float64)
    k = int(s.shape[1] * fraction)
    if k <= 0:
        return float("nan")
    lowest = np.sort(s, axis=1)[:, :k]
    return float(lowest.mean(axis=1).mean())
