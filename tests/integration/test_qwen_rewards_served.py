"""The Qwen2-VL reward scorers (videoalign, hpsv3, hpsv3_video) behind a real server on 127.0.0.1:0.

Scores through gRPC equal the in-process scorer on the same frames, and a bad sample (no prompt) fails alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client import AsyncRewardClient, Sample, media

NAMES = ("videoalign", "hpsv3", "hpsv3_video")


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {n: build(n, ScorerConfig(weights="tiny", max_batch_size=4)) for n in NAMES}


def _in_process(scorer, frames: np.ndarray, fps: float, prompt: str) -> dict[str, float]:
    s = DecodedSample("x", prompt, video=DecodedVideo(frames, fps))
    return scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores


async def test_served_scores_equal_in_process_and_a_bad_sample_fails_alone(scorers: dict) -> None:
    cfg = ServerConfig(
        port=0,
        metrics_port=-1,
        scorers={n: ScorerConfig(max_batch_size=4, max_queue_delay_ms=20) for n in NAMES},
    )
    server = create_server(cfg, scorers)
    await server.start()
    try:
        await server.wait_serving(120)
        clips = [bouncing_disc_clip(i, seconds=1.0, height=48, width=64, fps=8.0) for i in range(2)]
        wire = [
            Sample(id=f"s{i}", prompt=c.prompt, video=media.video_frames(c.frames, c.fps))
            for i, c in enumerate(clips)
        ]
        wire.insert(1, Sample(id="bad", prompt="", video=media.video_frames(clips[0].frames, clips[0].fps)))
        async with AsyncRewardClient(server.address, timeout_s=300) as client:
            desc = await client.list_scorers()
            results = await client.score(wire, NAMES)
        assert {s.name: tuple(s.outputs) for s in desc.scorers} == {
            "videoalign": ("visual_quality", "motion_quality", "text_alignment"),
            "hpsv3": ("hpsv3",),
            "hpsv3_video": ("hpsv3_video",),
        }
        assert all(s.tiny_weights for s in desc.scorers)
        good = [results[0], results[2]]
        for clip, res in zip(clips, good, strict=True):
            assert res.ok, res
            ref = {
                k: v
                for n in NAMES
                for k, v in _in_process(scorers[n], clip.frames, clip.fps, clip.prompt).items()
            }
            assert set(res.scores) == set(ref)
            for key, value in ref.items():
                assert res.scores[key] == pytest.approx(value, abs=1e-4), key
        bad = results[1]
        assert bad.id == "bad" and not bad.scores
        assert set(bad.scorer_errors) == set(NAMES)
        assert all("prompt" in e.message for e in bad.scorer_errors.values())
    finally:
        await server.stop(1)
