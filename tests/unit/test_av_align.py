"""AV-Align: onsets against librosa, Farneback flow on synthetic motion, IoU and peak rules by hand, the scorer."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional import av_align as av
from omninft.reward_servers.functional import farneback as fb
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import av_align as scorer_mod
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig


def _bursts(sr: int, seconds: float, starts: list[float], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = rng.standard_normal(t.shape[0]) * 0.005
    for i, t0 in enumerate(starts):
        y += (t >= t0) * np.exp(-(t - t0) * 25) * np.sin(2 * np.pi * (300 + 200 * i) * t) * 0.5
    return y.astype(np.float32)


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (bilinearly enlarged noise), float64 in [0, 255]."""
    coarse = np.random.default_rng(seed).random((h // 6 + 3, w // 6 + 3)).astype(np.float32)
    big = fb.resize_linear(coarse, coarse.shape[0] * 6, coarse.shape[1] * 6)
    return big.astype(np.float64) * 255


# ------------------------------------------------------------------------------------------ audio onsets


@pytest.mark.parametrize(
    ("sr", "starts"), [(16_000, [0.3, 1.1, 1.2, 2.5]), (44_100, [0.5, 0.9]), (22_050, [0.05, 1.5, 1.6, 1.7])]
)
def test_onsets_match_librosa_onset_detect(sr, starts):
    librosa = pytest.importorskip("librosa")
    y = _bursts(sr, 3.0, starts, seed=sr)
    env_ref = librosa.onset.onset_strength(y=y, sr=sr)
    np.testing.assert_allclose(av.onset_strength(y, sr), env_ref, rtol=1e-4, atol=1e-5 * env_ref.max())
    ref = librosa.onset.onset_detect(onset_envelope=env_ref, sr=sr)
    np.testing.assert_array_equal(av.onset_frames(y, sr), ref)
    np.testing.assert_allclose(av.audio_peak_times(y, sr), librosa.frames_to_time(ref, sr=sr))
    assert av.onset_frames(np.zeros(sr, np.float32), sr).size == 0


def test_peak_pick_matches_librosa_on_random_envelopes():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(1)
    for pre_max, post_max, pre_avg, post_avg, wait in ((0, 1, 3, 4, 0), (1, 1, 3, 4, 1), (2, 3, 5, 6, 2)):
        x = rng.random(200).astype(np.float32)
        ref = librosa.util.peak_pick(
            x, pre_max=pre_max, post_max=post_max, pre_avg=pre_avg, post_avg=post_avg, delta=0.07, wait=wait
        )
        np.testing.assert_array_equal(av.peak_pick(x, pre_max, post_max, pre_avg, post_avg, 0.07, wait), ref)


# ------------------------------------------------------------------------------------------ video peaks / IoU


def test_iou_by_hand():
    # fps 4: tolerance 0.25 s, strict on both sides
    assert av.av_align_iou([0.6, 1.3], [0.75, 1.5], 4.0) == pytest.approx(2 / (2 + 2 - 2 + 1e-6))
    assert av.av_align_iou([0.5], [0.75], 4.0) == 0.0  # exactly one frame apart: no match
    assert av.av_align_iou([1.0], [0.9, 1.1], 4.0) == pytest.approx(1 / (1 + 2 - 1 + 1e-6))  # counted once
    # several audio peaks may match one video peak, so the reference "IoU" can exceed 1
    assert av.av_align_iou([1.0, 1.05], [1.0], 4.0) == pytest.approx(2 / (2 + 1 - 2 + 1e-6))
    assert av.av_align_iou([], [], 24.0) == 0.0
    assert av.av_align_iou([0.1, 0.2, 0.3], [], 24.0) == 0.0


def test_local_maxima_are_strict_and_interior():
    assert av.local_maxima_times([5, 1, 3, 2, 2, 4, 4, 1, 0, 7], 2.0).tolist() == [1.0]
    assert av.local_maxima_times([0, 2, 1, 3, 0], 10.0).tolist() == [0.1, 0.3]
    assert av.local_maxima_times([1, 2], 10.0).size == 0


def test_gray_matches_opencv_fixed_point():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 20, 30]]], dtype=np.uint8)
    # (R*9798 + G*19235 + B*3735 + 2**14) >> 15
    assert av.rgb_to_gray(rgb).tolist() == [[76, 150, 29, 255, 18]]


def test_farneback_pieces():
    assert fb.gaussian_kernel(3, 0).tolist() == [0.25, 0.5, 0.25]
    k = fb.gaussian_kernel(9, 1.5)
    assert k.sum() == pytest.approx(1.0, abs=1e-6) and k[4] == k.max() and np.allclose(k, k[::-1])
    img = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_allclose(fb.resize_linear(img, 2, 3), [[3.5, 5.5, 7.5], [15.5, 17.5, 19.5]])
    assert [p[1:] for p in fb.pyramid_plan(240, 426, 0.5, 3)] == [(60, 106), (120, 213), (240, 426)]
    assert [p[1:] for p in fb.pyramid_plan(48, 64, 0.5, 3)] == [(48, 64)]
    # polynomial expansion of an exact quadratic recovers its local coefficients away from the border
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float64)
    a, b, c, d, e = 0.01, -0.02, 0.015, 0.3, -0.5
    r = fb.poly_expansion((a * xx**2 + b * yy**2 + c * xx * yy + d * xx + e * yy + 50).astype(np.float32))
    x0, y0 = 25, 20
    np.testing.assert_allclose(
        r[y0, x0], [2 * b * y0 + c * x0 + e, 2 * a * x0 + c * y0 + d, b, a, c], atol=2e-5
    )


@pytest.mark.parametrize(("dx", "dy"), [(2, 1), (-3, 0)])
def test_farneback_recovers_a_translation(dx, dy):
    tex = _texture(120, 140, seed=dx + 10)
    h, w = 80, 96
    frame0 = tex[20 : 20 + h, 20 : 20 + w]
    frame1 = tex[20 - dy : 20 - dy + h, 20 - dx : 20 - dx + w]  # content moves by (+dx, +dy)
    flow = fb.farneback_flow(np.round(frame0).astype(np.uint8), np.round(frame1).astype(np.uint8))
    inner = flow[15:-15, 15:-15]
    assert np.median(inner[..., 0]) == pytest.approx(dx, abs=0.1)
    assert np.median(inner[..., 1]) == pytest.approx(dy, abs=0.1)
    # identical frames: zero inside; OpenCV's border rule leaves a small flow in the outermost pixels
    still = fb.farneback_flow(np.round(frame0).astype(np.uint8), np.round(frame0).astype(np.uint8))
    assert np.abs(still[20:-20, 20:-20]).max() < 1e-3 and np.abs(still).max() < 0.5


def test_farneback_equals_opencv_when_available():
    cv2 = pytest.importorskip("cv2")
    tex = _texture(150, 200, seed=5)
    f0 = np.round(tex[10:130, 10:170]).astype(np.uint8)
    f1 = np.round(tex[12:132, 7:167]).astype(np.uint8)
    ref = cv2.calcOpticalFlowFarneback(f0, f1, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    np.testing.assert_allclose(fb.farneback_flow(f0, f1), ref, atol=1e-4)


def test_flow_trajectory_repeats_the_first_pair_and_peaks_at_motion_bursts():
    tex = _texture(80, 120, seed=7)
    offsets = [0, 0, 3, 3, 3, 8, 8, 8]  # motion into frames 2 and 5 (the second one larger)
    gray = np.stack([np.round(tex[10:58, 20 + o : 84 + o]).astype(np.uint8) for o in offsets])
    traj = av.flow_trajectory(gray)
    assert traj.shape == (8,) and traj[0] == traj[1] < 0.05
    assert traj[5] > traj[2] > 1.0 and max(traj[3], traj[4], traj[6], traj[7]) < 0.05
    assert av.local_maxima_times(traj, 8.0).tolist() == [2 / 8, 5 / 8]


# ------------------------------------------------------------------------------------------ scorer


def _clip(seconds: float = 2.0, fps: float = 8.0, sr: int = 16_000) -> DecodedSample:
    tex = _texture(80, 200, seed=3)
    n = int(seconds * fps)
    steps = [0] + [6 if i % 4 == 0 else 0 for i in range(1, n)]
    pos = np.cumsum(steps)
    gray = np.stack([np.round(tex[10:58, 10 + p : 74 + p]) for p in pos]).astype(np.uint8)
    frames = np.repeat(gray[..., None], 3, axis=-1)
    moves = [i / fps for i in range(1, n) if steps[i]]
    pcm = _bursts(sr, seconds, moves)[None]
    return DecodedSample(id="c", video=DecodedVideo(frames, fps), audio=DecodedAudio(pcm, sr))


def test_scorer_end_to_end_and_invalid_samples():
    s = registry.build("av_align", ScorerConfig(max_batch_size=4))
    assert (
        isinstance(s, Scorer)
        and s.info.outputs == ("av_align",)
        and s.info.input_spec.modalities == ("video", "audio")
    )
    sample = _clip()
    out = s.postprocess(s.forward([s.preprocess(sample)])[0]).scores
    ref = av.av_align_iou(
        av.audio_peak_times(sample.audio.pcm[0], 16_000),
        av.local_maxima_times(av.flow_trajectory(av.rgb_to_gray(sample.video.frames)), 8.0),
        8.0,
    )
    assert out == {"av_align": pytest.approx(ref)} and 0.3 < out["av_align"] <= 1.0
    short = scorer_mod.AvAlignScorer("av_align", ScorerConfig(options={"max_length_s": 1.0}))
    assert short.preprocess(sample) == pytest.approx(
        scorer_mod.av_align_score(
            DecodedVideo(sample.video.frames[:8], 8.0), DecodedAudio(sample.audio.pcm[:, :16_000], 16_000)
        )
    )
    with pytest.raises(InvalidSample, match="video and an audio"):
        s.preprocess(DecodedSample(id="x", audio=sample.audio))
    with pytest.raises(InvalidSample, match="at least 2 video frames"):
        s.preprocess(
            DecodedSample(id="x", video=DecodedVideo(sample.video.frames[:1], 8.0), audio=sample.audio)
        )
    warm = s.postprocess(s.forward([s.preprocess(s.warmup_sample())])[0]).scores
    assert np.isfinite(warm["av_align"])


def test_opencv_and_numpy_flows_give_the_same_score():
    pytest.importorskip("cv2")
    sample = _clip()
    fast = scorer_mod.AvAlignScorer("av_align", ScorerConfig(options={"flow": "opencv"}))
    slow = scorer_mod.AvAlignScorer("av_align", ScorerConfig(options={"flow": "numpy"}))
    assert fast.info.backend == "opencv" and slow.info.backend == "numpy"
    assert fast.preprocess(sample) == pytest.approx(slow.preprocess(sample), abs=1e-12)
    with pytest.raises(ValueError, match="'auto', 'opencv', 'numpy'"):
        scorer_mod.AvAlignScorer("av_align", ScorerConfig(options={"flow": "gpu"}))


def test_opencv_gray_equals_the_numpy_fixed_point_on_odd_frames():
    pytest.importorskip("cv2")
    from omninft.reward_servers.scorers.av_align import opencv_gray

    gray = opencv_gray()
    assert gray is not None
    rng = np.random.default_rng(11)
    for shape in ((3, 7, 5, 3), (2, 241, 427, 3), (1, 1, 1, 3)):
        frames = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(gray(frames), av.rgb_to_gray(frames))
    # a non-contiguous stack (every other frame of a decoded clip) converts the same
    frames = rng.integers(0, 256, (6, 9, 11, 3), dtype=np.uint8)[::2]
    np.testing.assert_array_equal(gray(frames), av.rgb_to_gray(frames))
