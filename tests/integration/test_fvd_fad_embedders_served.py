"""The FVD/FAD feature extractors (`i3d`, `audioclip`) behind a real server, called with the sync RewardClient.

Embeddings over gRPC must equal the in-process ones, and a bad sample fails alone (its neighbours in the same
request, hence the same batches, still get their embeddings).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client import RewardClient, Sample, media

NAMES = ("i3d", "audioclip")
OPTIONS = {"i3d": {"max_frames": 9}, "audioclip": {"max_audio_len_s": 1.0}}


def _cfg(name: str) -> ScorerConfig:
    return ScorerConfig(weights="tiny", max_batch_size=4, max_queue_delay_ms=20, options=OPTIONS[name])


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {n: build(n, _cfg(n)) for n in NAMES}


def _in_process(scorer, clip) -> dict[str, np.ndarray]:
    s = DecodedSample(
        "x", video=DecodedVideo(clip.frames, clip.fps), audio=DecodedAudio(clip.pcm, clip.sample_rate)
    )
    return scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).embeddings


async def test_embed_three_clips_and_one_bad_sample(scorers: dict) -> None:
    cfg = ServerConfig(port=0, metrics_port=-1, scorers={n: _cfg(n) for n in NAMES})
    server = create_server(cfg, scorers)
    await server.start()
    try:
        await server.wait_serving(120)
        clips = [bouncing_disc_clip(i, seconds=0.5, height=36, width=64, fps=16.0) for i in range(3)]
        wire = [
            Sample(
                id=f"s{i}",
                video=media.video_frames(c.frames, c.fps),
                audio=media.audio_pcm(c.pcm, c.sample_rate),
            )
            for i, c in enumerate(clips)
        ]
        # 1 x 300 frames cannot be letterboxed (i3d rejects it) and there is no audio (audioclip needs it)
        bad = Sample(id="bad", video=media.video_frames(np.zeros((4, 1, 300, 3), np.uint8), 16.0))

        def call() -> tuple:
            with RewardClient(server.address, timeout_s=300) as client:
                names = {
                    s.name: (tuple(s.embeddings), s.tiny_weights, tuple(s.outputs))
                    for s in client.list_scorers().scorers
                }
                return names, client.embed([wire[0], bad, wire[1], wire[2]], NAMES)

        described, results = await asyncio.to_thread(call)
    finally:
        await server.stop(1)
    assert described == {"i3d": (("i3d",), True, ()), "audioclip": (("audioclip",), True, ())}
    assert [r.id for r in results] == ["s0", "bad", "s1", "s2"]
    good = [results[0], results[2], results[3]]
    for clip, r in zip(clips, good, strict=True):
        assert r.ok, (r.error, r.scorer_errors)
        assert set(r.embeddings) == {"i3d.i3d", "audioclip.audioclip"}
        assert r.embeddings["i3d.i3d"].shape == (400,) and r.embeddings["audioclip.audioclip"].shape == (
            1024,
        )
        assert r.embeddings["i3d.i3d"].dtype == np.float32
        for name in NAMES:
            ref = _in_process(scorers[name], clip)[name]
            np.testing.assert_allclose(r.embeddings[f"{name}.{name}"], ref, rtol=1e-4, atol=1e-5)
    failed = results[1]
    assert not failed.ok and not failed.embeddings and failed.error is None
    assert set(failed.scorer_errors) == {"i3d", "audioclip"}
    assert "elongated" in failed.scorer_errors["i3d"].message
    assert "audio" in failed.scorer_errors["audioclip"].message
