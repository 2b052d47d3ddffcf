"""The tiny `desync` scorer behind a real server on 127.0.0.1, called with the real async client.

gRPC scores equal in-process scores, do not depend on batching, and a bad sample fails alone.
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

SCORER_CFG = ScorerConfig(weights="tiny", max_batch_size=4, max_queue_delay_ms=20)


@pytest.fixture(scope="module")
def scorer():
    return build("desync", SCORER_CFG)


def _clips() -> list:
    return [bouncing_disc_clip(i, seconds=1.0, height=48, width=64, fps=12.0) for i in range(2)]


def _wire(clip, i: int, *, audio: bool = True) -> Sample:
    return Sample(
        id=f"s{i}",
        prompt=clip.prompt,
        video=media.video_frames(clip.frames, clip.fps),
        audio=media.audio_pcm(clip.pcm, clip.sample_rate) if audio else None,
    )


def _in_process(scorer, clip) -> float:
    s = DecodedSample(
        "x",
        clip.prompt,
        video=DecodedVideo(clip.frames, clip.fps),
        audio=DecodedAudio(clip.pcm, clip.sample_rate),
    )
    return scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores["desync"]


async def test_desync_served_matches_in_process_and_bad_sample_fails_alone(scorer) -> None:
    cfg = ServerConfig(port=0, metrics_port=-1, scorers={"desync": SCORER_CFG})
    server = create_server(cfg, {"desync": scorer})
    await server.start()
    try:
        await server.wait_serving(120)
        clips = _clips()
        async with AsyncRewardClient(server.address, timeout_s=300) as client:
            desc = await client.list_scorers()
            (info,) = desc.scorers
            assert info.name == "desync" and info.tiny_weights
            batch = [_wire(clips[0], 0), _wire(clips[1], 1, audio=False), _wire(clips[1], 2)]
            good0, bad, good1 = await client.score(batch, ["desync"])
            (alone,) = await client.score([_wire(clips[0], 0)], ["desync"])
        assert good0.ok and good1.ok and alone.ok
        assert (
            not bad.ok
            and set(bad.scorer_errors) == {"desync"}
            and "audio" in bad.scorer_errors["desync"].message
        )
        for result, clip in ((good0, clips[0]), (good1, clips[1])):
            ref = _in_process(scorer, clip)
            assert set(result.scores) == {"desync"}
            assert result.scores["desync"] == pytest.approx(ref, abs=1e-6)
            assert 0.0 <= ref <= 2.0 and np.isfinite(ref)
        assert alone.scores["desync"] == pytest.approx(good0.scores["desync"], abs=1e-6)
    finally:
        await server.stop(1)
