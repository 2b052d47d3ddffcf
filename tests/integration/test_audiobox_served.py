"""audiobox_aesthetics behind a real server on 127.0.0.1: gRPC scores equal in-process scores, batching does not
change them, and a bad sample fails alone."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.media import DecodedAudio, DecodedSample
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client import AsyncRewardClient, Sample, media

NAME = "audiobox_aesthetics"
OUTPUTS = {"audio_quality", "ce", "cu", "pc", "pq"}


@pytest.fixture(scope="module")
def scorer():
    return build(NAME, ScorerConfig(weights="tiny", max_batch_size=4))


def _clips() -> list:
    # a 16 kHz and a 48 kHz clip (the latter goes through the reference's non-16 kHz read path)
    return [
        bouncing_disc_clip(0, seconds=1.5, height=32, width=32, fps=8.0),
        bouncing_disc_clip(1, seconds=2.0, height=32, width=32, fps=8.0, sample_rate=48_000),
    ]


async def test_served_scores_match_in_process_and_a_bad_sample_fails_alone(scorer) -> None:
    cfg = ServerConfig(
        port=0, metrics_port=-1, scorers={NAME: ScorerConfig(max_batch_size=4, max_queue_delay_ms=20)}
    )
    server = create_server(cfg, {NAME: scorer})
    await server.start()
    try:
        await server.wait_serving(60)
        clips = _clips()
        wire = [
            Sample(id=f"s{i}", prompt=c.prompt, audio=media.audio_pcm(c.pcm, c.sample_rate))
            for i, c in enumerate(clips)
        ]
        bad = Sample(
            id="bad", prompt="x", video=media.video_frames(clips[0].frames, clips[0].fps)
        )  # no audio
        async with AsyncRewardClient(server.address, timeout_s=120) as client:
            desc = await client.list_scorers()
            together = await client.score([wire[0], bad, wire[1]], [NAME])
            alone = [(await client.score([w], [NAME]))[0] for w in wire]
        (info,) = [s for s in desc.scorers if s.name == NAME]
        assert info.tiny_weights
        good = [together[0], together[2]]
        assert not together[1].ok and together[0].ok and together[2].ok
        assert "audio" in str(together[1].scorer_errors.get(NAME) or together[1].error)
        for clip, t, a in zip(clips, good, alone, strict=True):
            s = DecodedSample("x", clip.prompt, audio=DecodedAudio(clip.pcm, clip.sample_rate))
            ref = scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores
            assert set(t.scores) == OUTPUTS
            for key, value in ref.items():
                assert t.scores[key] == pytest.approx(value, abs=1e-5), key
                assert a.scores[key] == pytest.approx(value, abs=1e-5), key
            assert t.scores["audio_quality"] == pytest.approx(
                np.mean([t.scores[k] for k in ("ce", "cu", "pc", "pq")])
            )
    finally:
        await server.stop(1)
