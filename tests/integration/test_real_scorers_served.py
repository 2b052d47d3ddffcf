"""The real CLAP/CLIP/video_stats/audio_stats scorers behind a real server, called with the real async client.

A score through gRPC must equal the same scorer called in-process on the same media (E4d), batching must not
change a score (E4a), and a sample lacking a modality fails only the scorers that need it.
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

NAMES = ("clap", "clip", "video_stats", "audio_stats")


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {n: build(n, ScorerConfig(weights="tiny", max_batch_size=4)) for n in NAMES}


def _clips(n: int) -> list:
    return [bouncing_disc_clip(i, seconds=1.0, height=48, width=64, fps=12.0) for i in range(n)]


def _wire(clip, i: int, *, video: bool = True, audio: bool = True) -> Sample:
    return Sample(id=f"s{i}", prompt=clip.prompt, audio_prompt=clip.audio_prompt,
                  video=media.video_frames(clip.frames, clip.fps) if video else None,
                  audio=media.audio_pcm(clip.pcm, clip.sample_rate) if audio else None)


def _in_process(scorer, clip) -> dict[str, float]:
    s = DecodedSample("x", clip.prompt, clip.audio_prompt, DecodedVideo(clip.frames, clip.fps),
                      DecodedAudio(clip.pcm, clip.sample_rate))
    return scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores


async def test_grpc_scores_equal_in_process_and_do_not_depend_on_batching(scorers: dict) -> None:
    cfg = ServerConfig(port=0, metrics_port=-1,
                       scorers={n: ScorerConfig(max_batch_size=4, max_queue_delay_ms=20) for n in NAMES})
    server = create_server(cfg, scorers)
    await server.start()
    try:
        await server.wait_serving(60)
        clips = _clips(5)
        async with AsyncRewardClient(server.address, timeout_s=120) as client:
            desc = await client.list_scorers()
            assert {s.name: s.tiny_weights for s in desc.scorers} == {"clap": True, "clip": True, "video_stats": False, "audio_stats": False}
            together = await client.score([_wire(c, i) for i, c in enumerate(clips)], NAMES)
            alone = [(await client.score([_wire(c, i)], NAMES))[0] for i, c in enumerate(clips)]
            embeds = await client.embed([_wire(clips[0], 0)], ["clap", "clip"])
        for clip, t, a in zip(clips, together, alone, strict=True):
            assert t.ok and a.ok
            ref = {k: v for n in NAMES for k, v in _in_process(scorers[n], clip).items()}
            assert set(t.scores) == set(ref)
            for key, value in ref.items():
                assert t.scores[key] == pytest.approx(value, abs=1e-5), key
                assert a.scores[key] == pytest.approx(value, abs=1e-5), key
        e = embeds[0].embeddings
        assert set(e) == {"clap.audio", "clap.text", "clip.video", "clip.text"}
        assert float(np.dot(e["clap.audio"], e["clap.text"])) == pytest.approx(together[0].scores["clap_score"], abs=1e-5)
    finally:
        await server.stop(1)


async def test_missing_modality_fails_only_the_scorers_that_need_it(scorers: dict) -> None:
    cfg = ServerConfig(port=0, metrics_port=-1, scorers={n: ScorerConfig(max_batch_size=4) for n in NAMES})
    server = create_server(cfg, scorers)
    await server.start()
    try:
        await server.wait_serving(60)
        clip = _clips(1)[0]
        async with AsyncRewardClient(server.address, timeout_s=120) as client:
            video_only, audio_only = await client.score(
                [_wire(clip, 0, audio=False), _wire(clip, 1, video=False)], NAMES)
        assert set(video_only.scores) == {"clip_score", "video_duration_s", "video_mean_luma"}
        assert set(video_only.scorer_errors) == {"clap", "audio_stats"} and "audio" in video_only.scorer_errors["clap"].message
        assert set(audio_only.scores) == {"clap_score", "audio_duration_s", "audio_rms_dbfs"}
        assert set(audio_only.scorer_errors) == {"clip", "video_stats"}
        assert video_only.error is None and audio_only.error is None
    finally:
        await server.stop(1)


async def test_clap_text_embeds_prompts_only_and_matches_clap(scorers: dict) -> None:
    from omninft_client import InvalidArgumentError

    text_only = build("clap_text", ScorerConfig(weights="tiny", max_batch_size=4))
    cfg = ServerConfig(port=0, metrics_port=-1,
                       scorers={"clap": ScorerConfig(max_batch_size=4), "clap_text": ScorerConfig(max_batch_size=4)})
    server = create_server(cfg, {"clap": scorers["clap"], "clap_text": text_only})
    await server.start()
    try:
        await server.wait_serving(60)
        clip = _clips(1)[0]
        async with AsyncRewardClient(server.address, timeout_s=120) as client:
            (prompt_only,) = await client.embed([Sample(id="p", audio_prompt=clip.audio_prompt)], ["clap_text"])
            (full,) = await client.embed([_wire(clip, 0)], ["clap"])
            with pytest.raises(InvalidArgumentError, match="call Embed"):
                await client.score([Sample(id="p", prompt="x")], ["clap_text"])
        np.testing.assert_allclose(prompt_only.embeddings["clap_text.text"], full.embeddings["clap.text"], atol=1e-6)
    finally:
        await server.stop(1)
