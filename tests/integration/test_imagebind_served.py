"""The ImageBind scorers (tiny weights) behind a real server on 127.0.0.1, called with the real async client.

Two generated clips score as in-process; a bad sample (10 ms of audio) fails alone, with a clear reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client import AsyncRewardClient, Sample, media

NAMES = ("imagebind", "imagebind_avh")


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {n: build(n, ScorerConfig(weights="tiny", max_batch_size=4)) for n in NAMES}


def _wire(clip, sid: str, pcm: np.ndarray | None = None) -> Sample:
    return Sample(
        id=sid,
        prompt=clip.prompt,
        audio_prompt=clip.audio_prompt,
        video=media.video_frames(clip.frames, clip.fps),
        audio=media.audio_pcm(clip.pcm if pcm is None else pcm, clip.sample_rate),
    )


def _in_process(scorer, clip) -> dict[str, float]:
    s = DecodedSample(
        "x",
        clip.prompt,
        clip.audio_prompt,
        DecodedVideo(clip.frames, clip.fps),
        DecodedAudio(clip.pcm, clip.sample_rate),
    )
    return scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores


async def test_imagebind_scores_served_and_a_bad_sample_fails_alone(scorers: dict) -> None:
    cfg = ServerConfig(
        port=0,
        metrics_port=-1,
        scorers={n: ScorerConfig(weights="tiny", max_batch_size=4, max_queue_delay_ms=20) for n in NAMES},
    )
    server = create_server(cfg, scorers)
    await server.start()
    try:
        await server.wait_serving(120)
        clips = [bouncing_disc_clip(i, seconds=2.5, height=36, width=48, fps=4.0) for i in range(2)]
        bad_pcm = clips[0].pcm[:, : clips[0].sample_rate // 100]  # 10 ms: not one 25 ms fbank frame
        async with AsyncRewardClient(server.address, timeout_s=300) as client:
            desc = await client.list_scorers()
            listed = {s.name: s for s in desc.scorers}
            assert listed["imagebind"].tiny_weights and listed["imagebind_avh"].tiny_weights
            results = await client.score(
                [_wire(clips[0], "a"), _wire(clips[0], "bad", bad_pcm), _wire(clips[1], "b")], NAMES
            )
        good = [results[0], results[2]]
        for clip, res in zip(clips, good, strict=True):
            assert res.error is None and not res.scorer_errors
            ref = {k: v for n in NAMES for k, v in _in_process(scorers[n], clip).items()}
            assert set(res.scores) == {"ib_tv", "ib_ta", "ib_av", "avh_score", "javis_score"}
            for key, value in ref.items():
                assert res.scores[key] == pytest.approx(value, abs=1e-5), key
        bad = results[1]
        assert bad.id == "bad" and bad.error is None and not bad.scores
        assert set(bad.scorer_errors) == set(NAMES)
        assert all("25 ms" in e.message for e in bad.scorer_errors.values())
    finally:
        await server.stop(1)
