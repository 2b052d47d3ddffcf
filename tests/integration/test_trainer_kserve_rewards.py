"""The trainer's reward dispatcher on a KServe v2 pool (`kserve://host:port`) scores as on RewardService.

Rollout media go to a KServe pool as lossless containers (FFV1, float WAV); the rewards must equal, bit for
bit, the ones computed from the raw frames and PCM sent to RewardService.
"""

from __future__ import annotations

import asyncio

import numpy as np

from omninft.trainer.policies.base import Media, PromptRecord
from omninft.trainer.rollout import RewardDispatcher, RewardRoute, encode_video_lossless
from tests.helpers.server import default_scorers, running_server


def _rollouts(n: int) -> tuple[list[str], list[Media], list[PromptRecord]]:
    rng = np.random.default_rng(3)
    media = [
        Media(
            frames=rng.integers(0, 256, (6, 16, 20, 3), dtype=np.uint8),
            fps=12.0,
            audio=(0.3 * rng.standard_normal((1, 8000))).astype(np.float32),
            sample_rate=16000,
        )
        for _ in range(n)
    ]
    prompts = [
        PromptRecord(id=f"p{i}", prompt_av=f"a cat {i}", prompt_v=f"a cat {i}", prompt_a=f"meow {i}")
        for i in range(n)
    ]
    return [f"r{i}" for i in range(n)], media, prompts


async def test_kserve_pool_gives_the_rewards_of_reward_service() -> None:
    async with running_server(default_scorers(max_batch_size=2)) as r:
        addr = r.server.address
        names = {"brightness": "brightness", "loudness_db": "loudness", "caption_score": "caption"}
        plain = [RewardRoute(n, s, addr) for n, s in names.items()]
        kserve = [RewardRoute(n, s, f"kserve://{addr}") for n, s in names.items()]
        ids, media, prompts = _rollouts(3)

        def run(routes: list[RewardRoute]) -> tuple[dict[str, np.ndarray], dict[str, object]]:
            with RewardDispatcher(routes, timeout_s=30) as disp:
                prov = disp.wait_ready(20)
                batch = disp.submit(ids, media, prompts).result(timeout=60)
            assert batch.errors == []
            return batch.values, prov

        want, _ = await asyncio.to_thread(run, plain)
        got, prov = await asyncio.to_thread(run, kserve)
    assert set(got) == set(want)
    for name in want:
        assert np.isfinite(got[name]).all()
        np.testing.assert_array_equal(got[name], want[name])
    assert set(prov[f"kserve://{addr}"]) == {"brightness", "loudness", "caption"}  # type: ignore[arg-type]


def test_lossless_video_round_trip() -> None:
    import io

    import av

    frames = np.random.default_rng(0).integers(0, 256, (4, 10, 14, 3), dtype=np.uint8)
    with av.open(io.BytesIO(encode_video_lossless(frames, 24.0))) as c:
        stream = c.streams.video[0]
        back = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])
        assert float(stream.average_rate) == 24.0
    np.testing.assert_array_equal(back, frames)
