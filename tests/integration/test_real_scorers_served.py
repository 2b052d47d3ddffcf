"""clap_text behind a real server: prompt-only Embed equals clap's text side.

Served == in-process, batching invariance and missing-modality errors of every scorer are checked by the
conformance tester (tests/conformance/test_scorers.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig
from omninft_client import AsyncRewardClient, Sample, media


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {"clap": build("clap", ScorerConfig(weights="tiny", max_batch_size=4))}


def _clips(n: int) -> list:
    return [bouncing_disc_clip(i, seconds=1.0, height=48, width=64, fps=12.0) for i in range(n)]


def _wire(clip, i: int) -> Sample:
    return Sample(
        id=f"s{i}",
        prompt=clip.prompt,
        audio_prompt=clip.audio_prompt,
        video=media.video_frames(clip.frames, clip.fps),
        audio=media.audio_pcm(clip.pcm, clip.sample_rate),
    )


async def test_clap_text_embeds_prompts_only_and_matches_clap(scorers: dict) -> None:
    from omninft_client import InvalidArgumentError

    text_only = build("clap_text", ScorerConfig(weights="tiny", max_batch_size=4))
    cfg = ServerConfig(
        port=0,
        metrics_port=-1,
        scorers={"clap": ScorerConfig(max_batch_size=4), "clap_text": ScorerConfig(max_batch_size=4)},
    )
    server = create_server(cfg, {"clap": scorers["clap"], "clap_text": text_only})
    await server.start()
    try:
        await server.wait_serving(60)
        clip = _clips(1)[0]
        async with AsyncRewardClient(server.address, timeout_s=120) as client:
            (prompt_only,) = await client.embed(
                [Sample(id="p", audio_prompt=clip.audio_prompt)], ["clap_text"]
            )
            (full,) = await client.embed([_wire(clip, 0)], ["clap"])
            with pytest.raises(InvalidArgumentError, match="call Embed"):
                await client.score([Sample(id="p", prompt="x")], ["clap_text"])
        np.testing.assert_allclose(
            prompt_only.embeddings["clap_text.text"], full.embeddings["clap.text"], atol=1e-6
        )
    finally:
        await server.stop(1)
