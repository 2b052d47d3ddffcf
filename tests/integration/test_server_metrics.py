"""The Prometheus endpoint: a real HTTP scrape after real traffic."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from omninft.reward_servers.scorers.base import ScorerConfig
from omninft_client.v1 import reward_pb2
from tests.helpers.media import gradient_frames
from tests.helpers.scorers import make
from tests.helpers.server import frames_video, running_server, sample


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_endpoint_exposes_counters_and_histograms() -> None:
    scorers = {
        "brightness": make("brightness", forward_delay_s=0.02, max_batch_size=8),
        "caption": make("caption"),
    }
    cfg = {"scorers": {"brightness": ScorerConfig(max_batch_size=8, max_queue_delay_ms=20)}}
    async with running_server(scorers, **cfg) as r:
        assert r.server.metrics_port and r.server.metrics_port > 0
        frames = frames_video(gradient_frames(8, 16, 16))
        reqs = [
            reward_pb2.ScoreRequest(samples=[sample(str(i), video=frames)], scorers=["brightness"])
            for i in range(6)
        ]
        await asyncio.gather(*(r.stub.Score(q, timeout=10) for q in reqs))
        await r.stub.Score(
            reward_pb2.ScoreRequest(samples=[sample(prompt="")], scorers=["caption"]), timeout=10
        )
        m = await asyncio.to_thread(_scrape, r.server.metrics_port)

    def get(name: str, **labels: str) -> float:
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    assert get("omninft_requests_total", method="omninft.v1.RewardService/Score", code="OK") == 7
    assert get("omninft_request_latency_seconds_count", method="omninft.v1.RewardService/Score") == 7
    assert (
        get("omninft_request_latency_seconds_bucket", method="omninft.v1.RewardService/Score", le="+Inf") == 7
    )
    # 6 requests + 1 warm-up item through the brightness batcher.
    assert get("omninft_queue_time_seconds_count", scorer="brightness") == 7
    assert get("omninft_batch_size_sum", scorer="brightness") == 7
    assert get("omninft_batch_size_count", scorer="brightness") < 7  # some requests shared a batch
    assert ("omninft_queue_depth", (("scorer", "brightness"),)) in m
    assert get("omninft_samples_total", scorer="brightness", outcome="ok") == 7
    assert get("omninft_samples_total", scorer="caption", outcome="invalid") == 1
    assert get("omninft_request_success_total", scorer="brightness") == 7
    assert get("omninft_queue_duration_us_total", scorer="brightness") > 0
    # Stage times and decode counts: 6 videos decoded once each (warm-up samples skip decoding).
    assert get("omninft_decodes_total", modality="video") == 6
    assert get("omninft_stage_seconds_total", scorer="", stage="decode") > 0
    for stage in ("preprocess", "forward", "postprocess"):
        assert get("omninft_stage_seconds_total", scorer="brightness", stage=stage) > 0
    # The forward includes the 20 ms delay of every batch.
    assert get("omninft_stage_seconds_total", scorer="brightness", stage="forward") >= 0.02 * get(
        "omninft_batch_size_count", scorer="brightness"
    )
    infos = [k for k in m if k[0] == "omninft_scorer_info"]
    assert {dict(k[1])["scorer"] for k in infos} == {"brightness", "caption"}
    assert {dict(k[1])["tiny"] for k in infos} == {"true", "false"}
    assert all(len(dict(k[1])["weights_sha256"]) == 64 for k in infos)


async def test_each_sample_is_decoded_once_for_all_scorers_of_a_request() -> None:
    scorers = {"brightness": make("brightness"), "video_embed": make("video_embed")}
    async with running_server(scorers) as r:
        frames = frames_video(gradient_frames(8, 16, 16))
        req = reward_pb2.EmbedRequest(
            samples=[sample(str(i), video=frames) for i in range(3)], scorers=["brightness", "video_embed"]
        )
        resp = await r.stub.Embed(req, timeout=10)
        assert len(resp.results) == 3 and all(not res.error.code for res in resp.results)
        m = await asyncio.to_thread(_scrape, r.server.metrics_port)
    # Two video scorers, three samples: three decodes.
    assert m[("omninft_decodes_total", (("modality", "video"),))] == 3


async def test_a_sample_sent_in_score_and_embed_is_decoded_once(tmp_path) -> None:
    from tests.helpers.media import encode_audio, encode_video, sine

    paths = []
    for i in range(2):
        v, a = tmp_path / f"s{i}.mp4", tmp_path / f"s{i}.wav"
        v.write_bytes(encode_video(gradient_frames(8, 16, 16, level=40 * i)))
        a.write_bytes(encode_audio(sine(0.5, 16000, freq=300.0 + 100 * i)))
        paths.append((v, a))
    scorers = {
        "brightness": make("brightness"),
        "loudness": make("loudness"),
        "video_embed": make("video_embed"),
    }
    async with running_server(scorers, allowed_uri_roots=[str(tmp_path)]) as r:
        samples = [
            sample(str(i), video=reward_pb2.Video(uri=v.as_uri()), audio=reward_pb2.Audio(uri=a.as_uri()))
            for i, (v, a) in enumerate(paths)
        ]
        score = await r.stub.Score(
            reward_pb2.ScoreRequest(samples=samples, scorers=["brightness", "loudness"]), timeout=10
        )
        embed = await r.stub.Embed(
            reward_pb2.EmbedRequest(samples=samples, scorers=["video_embed"]), timeout=10
        )
        assert all(set(x.scores) >= {"brightness", "loudness_db"} for x in score.results), score
        assert all(not x.error.code for x in embed.results)
        m = await asyncio.to_thread(_scrape, r.server.metrics_port)
    # Two RPCs, one decode per stream: the Embed call reuses the Score call's decoded video.
    assert m[("omninft_decodes_total", (("modality", "video"),))] == 2
    assert m[("omninft_decodes_total", (("modality", "audio"),))] == 2
    assert m[("omninft_decode_cache_hits_total", (("modality", "video"),))] == 2
