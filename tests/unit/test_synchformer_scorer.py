"""The `desync` scorer: tiny-model score equals a hand composition, batching invariance, input rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.functional import sync_frontend as sf
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.models import synchformer as S
from omninft.reward_servers.scorers import desync
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, WeightsInfo


def _clip(seed: int, seconds: float = 1.5, fps: float = 16.0, sr: int = 16_000, h: int = 40, w: int = 56):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    frames = np.zeros((n, h, w, 3), dtype=np.uint8)
    for t in range(n):  # a bright square moving right over a noisy background
        frames[t] = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        x = (3 * t) % (w - 8)
        frames[t, 10:18, x : x + 8] = (250, 200, 40)
    pcm = (rng.standard_normal((2, int(seconds * sr))) * 0.05).astype(np.float32)
    pcm[:, :: sr // 3] = 0.9
    return DecodedSample(id=f"c{seed}", video=DecodedVideo(frames, fps), audio=DecodedAudio(pcm, sr))


@pytest.fixture(scope="module")
def model() -> S.Synchformer:
    return S.load("tiny", seed=0)[0]


def _scorer(model: S.Synchformer, **options) -> desync.DesyncScorer:
    cfg = ScorerConfig(max_batch_size=4, options=options)
    return desync.DesyncScorer(
        "desync",
        cfg,
        backend=TorchBackend(desync.make_graphs(model)),
        weights=WeightsInfo("tiny", "0" * 64, True),
        model_cfg=model.cfg,
    )


def _by_hand(model: S.Synchformer, sample: DecodedSample, seconds: float) -> float:
    """The JavisBench recipe written out step by step on the torch model."""
    n_frames, n_samples = int(25 * seconds), int(16000 * seconds)
    idx = sf.fps_resample_indices(sample.video.frames.shape[0], sample.video.fps)[:n_frames]
    frames = np.zeros((n_frames, sample.video.frames.shape[1], sample.video.frames.shape[2], 3), np.uint8)
    frames[: idx.shape[0]] = sample.video.frames[idx]  # black padding before the transform, as the reference
    video = torch.from_numpy(
        sf.normalize_frames(sf.resize_short_side_center_crop(frames))
    )  # (T, 3, 224, 224)
    wave = sample.audio.pcm.mean(axis=0)  # already 16 kHz
    wave = np.concatenate([wave, np.zeros(max(0, n_samples - wave.shape[0]), np.float32)])[:n_samples]
    s = (n_frames - 16) // 8 + 1
    vseg = torch.stack([video[8 * i : 8 * i + 16] for i in range(s)])
    aseg = np.stack([wave[5120 * i : 5120 * i + 10240] for i in range(s)])
    mel = torch.from_numpy(sf.sync_log_mel(aseg))[:, None]
    grid = np.linspace(-2, 2, 21)
    with torch.inference_mode():
        v, a = model.extract_vfeats(vseg), model.extract_afeats(mel)
        chunks = [list(range(i, min(i + 14, s))) for i in range(0, s, 14)]
        values = []
        for ci, chunk in enumerate(chunks):
            if len(chunk) < 14:
                chunk = (chunk * 14)[:14] if ci == 0 else list(range(s - 14, s))
            logits = model.compare_v_a(v[chunk][None], a[chunk][None])
            values.append(abs(grid[int(torch.argmax(logits[0]))]))
    return float(np.mean(values))


def test_is_a_scorer_with_documented_info(model: S.Synchformer) -> None:
    sc = _scorer(model)
    assert isinstance(sc, Scorer)
    assert sc.info.outputs == ("desync",) and sc.info.input_spec.modalities == ("video", "audio")
    assert sc.info.input_spec.video_fps == 25.0 and sc.info.input_spec.video_frames == 100
    assert sc.info.input_spec.max_audio_seconds == 4.0 and sc.info.protocol == "javisbench-v1"
    assert sc.n_segments == 11 and [w.tolist() for w in sc.windows] == [list(range(11)) + [0, 1, 2]]


@pytest.mark.parametrize("seconds", [4.0, 5.12])  # 11 segments (wrap-around), 15 (last-14 rule)
def test_tiny_score_equals_hand_composition(model: S.Synchformer, seconds: float) -> None:
    sc = _scorer(model, max_audio_len_s=seconds)
    sample = _clip(1)
    (raw,) = sc.forward([sc.preprocess(sample)])
    assert raw.shape == ((1 if seconds == 4.0 else 2), 21)
    got = sc.postprocess(raw).scores["desync"]
    assert got == pytest.approx(_by_hand(model, sample, seconds), abs=1e-6)
    assert 0.0 <= got <= 2.0 and round(got / 0.1, 4) == round(
        got / 0.1
    )  # multiples of 0.1 s (mean of 0.2 steps)


def test_batching_and_segment_chunking_do_not_change_scores(model: S.Synchformer) -> None:
    samples = [_clip(2, seconds=1.0, fps=24.0), _clip(3, seconds=2.0, fps=30.0, sr=22_050)]
    small = _scorer(model, segment_batch=3, max_audio_len_s=1.0)  # 2 segments per clip
    big = _scorer(model, max_audio_len_s=1.0)
    items = [small.preprocess(s) for s in samples]
    together = small.forward(items)
    alone = [big.forward([it])[0] for it in items]
    for t, a in zip(together, alone, strict=True):
        np.testing.assert_allclose(t, a, atol=1e-5)


def test_input_rules(model: S.Synchformer) -> None:
    sc = _scorer(model, max_audio_len_s=1.0)
    good = _clip(4, seconds=0.3)  # far shorter than L: padded (black frames, zeros), still scored
    assert np.isfinite(sc.postprocess(sc.forward([sc.preprocess(good)])[0]).scores["desync"])
    with pytest.raises(InvalidSample, match="audio"):
        sc.preprocess(dataclasses.replace(good, audio=None))
    with pytest.raises(InvalidSample, match="video"):
        sc.preprocess(dataclasses.replace(good, video=None))
    nan = good.audio.pcm.copy()
    nan[0, 5] = np.nan
    with pytest.raises(InvalidSample, match="NaN"):
        sc.preprocess(dataclasses.replace(good, audio=DecodedAudio(nan, 16_000)))
    with pytest.raises(InvalidSample):
        sc.preprocess(dataclasses.replace(good, video=DecodedVideo(np.zeros((0, 8, 8, 3), np.uint8), 25.0)))
    with pytest.raises(InvalidSample, match="frame rate"):
        sc.preprocess(dataclasses.replace(good, video=DecodedVideo(good.video.frames, 0.0)))
    silent = dataclasses.replace(good, audio=DecodedAudio(np.zeros((1, 8000), np.float32), 16_000))
    assert np.isfinite(sc.postprocess(sc.forward([sc.preprocess(silent)])[0]).scores["desync"])


def test_options_and_protocol_are_validated(model: S.Synchformer) -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        desync.DesyncScorer(
            "desync",
            ScorerConfig(protocol="javisbench-v9"),
            backend=TorchBackend(desync.make_graphs(model)),
            weights=None,  # type: ignore[arg-type]
            model_cfg=model.cfg,
        )
    with pytest.raises(ValueError, match="shorter than one"):
        desync.build("desync", ScorerConfig(options={"max_audio_len_s": 0.5}))
    assert desync.segments_for_length(5.0) == 14


def _offset_clip(seed: int, shift_s: float) -> DecodedSample:
    """A generated bouncing-disc sounding video with its audio rolled by shift_s seconds."""
    from omninft.bench.synth import bouncing_disc_clip

    c = bouncing_disc_clip(seed, seconds=4.0, height=120, width=160)
    pcm = np.roll(c.pcm, int(shift_s * c.sample_rate), axis=1)
    return DecodedSample(
        id=f"b{seed}_{shift_s}", video=DecodedVideo(c.frames, c.fps), audio=DecodedAudio(pcm, c.sample_rate)
    )


def test_tiny_weights_are_not_degenerate_at_the_logits_level(model: S.Synchformer) -> None:
    """Raw random init gives every clip the same offset class; the calibrated tiny head must not (issue 9)."""
    raw = S.build(S.SynchformerConfig.tiny(), seed=0)  # same seed, uncalibrated head
    clips = [_offset_clip(0, 0.0), _offset_clip(0, 0.6), _offset_clip(2, 0.0)]

    def logits(m: S.Synchformer) -> np.ndarray:
        sc = _scorer(m)
        return np.concatenate(sc.forward([sc.preprocess(c) for c in clips]))  # one window per 4 s clip

    cal, unc = logits(model), logits(raw)
    assert cal.shape == unc.shape == (3, 21)
    assert len(set(unc.argmax(axis=1).tolist())) == 1  # the degeneracy this guards against
    # the offset alone moves calibrated logits by a visible fraction of their unit spread, and changes the class
    assert np.abs(cal[0] - cal[1]).max() > 0.03
    assert len(set(cal.argmax(axis=1).tolist())) > 1
    scores = [sc.postprocess(o).scores["desync"] for sc in [_scorer(model)] for o in np.split(cal, 3)]
    assert len(set(scores)) > 1


@pytest.mark.parametrize(
    ("fps", "n", "hw"), [(24.0, 31, (37, 53)), (30.0, 40, (61, 29)), (12.5, 9, (24, 24))]
)
def test_front_end_equals_the_per_frame_recipe(
    model: S.Synchformer, fps: float, n: int, hw: tuple[int, int]
) -> None:
    # the scorer resizes each distinct source frame once and normalises each frame once; the recipe below is the
    # plain one (every 25 fps frame resized, black padding, normalised per 16-frame segment as the forward used to)
    sc = _scorer(model, max_audio_len_s=2.0)
    frames = np.random.default_rng(n).integers(0, 256, (n, *hw, 3), dtype=np.uint8)
    sample = DecodedSample(
        id="f", video=DecodedVideo(frames, fps), audio=DecodedAudio(np.zeros((1, 32000), np.float32), 16000)
    )
    item = sc.preprocess(sample)
    idx = sf.fps_resample_indices(n, fps)[:50]
    if fps == 24.0:
        assert len(np.unique(idx)) < len(idx)  # the 25 fps grid repeats a frame: the shortcut is exercised
    want = np.zeros((50, 224, 224, 3), np.uint8)
    want[: idx.shape[0]] = np.stack([sf.resize_short_side_center_crop(frames[i : i + 1])[0] for i in idx])
    for s in item.segment_starts:
        np.testing.assert_array_equal(item.frames[s : s + 16], sf.normalize_frames(want[s : s + 16]))
    assert item.frames.dtype == np.float32 and item.frames.shape == (50, 3, 224, 224)
