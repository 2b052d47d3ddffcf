"""video_stats / audio_stats scorers: levels and luma against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig
from omninft.reward_servers.scorers.media_stats import build_audio, build_video, rms_dbfs


def test_full_scale_square_is_0_dbfs_and_half_is_minus_6() -> None:
    sq = np.where(np.arange(4000) % 20 < 10, 1.0, -1.0).astype(np.float32)
    assert rms_dbfs(sq) == pytest.approx(0.0, abs=1e-6)
    assert rms_dbfs(0.5 * sq) == pytest.approx(20 * np.log10(0.5), abs=1e-6)


def _run(scorer: Scorer, sample: DecodedSample) -> dict[str, float]:
    return scorer.postprocess(scorer.forward([scorer.preprocess(sample)])[0]).scores


def test_video_stats() -> None:
    scorer = build_video("video_stats", ScorerConfig())
    assert isinstance(scorer, Scorer)
    frames = np.zeros((48, 4, 4, 3), np.uint8)
    frames[..., 0] = 100  # pure red 100 -> luma 29.9
    frames[..., 2] = 10  # + blue 10 -> +1.14
    out = _run(scorer, DecodedSample("a", video=DecodedVideo(frames, 24.0)))
    assert out == {"video_duration_s": pytest.approx(2.0), "video_mean_luma": pytest.approx(29.9 + 1.14)}
    with pytest.raises(InvalidSample, match="needs a video"):
        scorer.preprocess(DecodedSample("c", audio=DecodedAudio(np.zeros((1, 10), np.float32), 16000)))


def test_audio_stats() -> None:
    scorer = build_audio("audio_stats", ScorerConfig())
    audio = DecodedAudio(np.full((2, 8000), 0.25, np.float32), 16000)
    out = _run(scorer, DecodedSample("b", audio=audio))
    assert out["audio_duration_s"] == pytest.approx(0.5)
    assert out["audio_rms_dbfs"] == pytest.approx(20 * np.log10(0.25), abs=1e-5)
    with pytest.raises(InvalidSample, match="needs an audio"):
        scorer.preprocess(DecodedSample("c"))
