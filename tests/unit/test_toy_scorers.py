"""The toy reward scorers: registered, per-sample errors for media outside the toy convention, emulated latency."""

from __future__ import annotations

import time

import pytest

from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig


@pytest.mark.parametrize("name", ["toy_video", "toy_audio", "toy_sync"])
def test_toy_scorers_score_their_warmup_and_refuse_foreign_prompts(name: str) -> None:
    scorer = registry.build(name, ScorerConfig())
    assert isinstance(scorer, Scorer) and scorer.info.outputs == (name,)
    warm = scorer.warmup_sample()
    (raw,) = scorer.forward([scorer.preprocess(warm)])
    value = scorer.postprocess(raw).scores[name]
    assert -4.0 <= value <= 1.0
    if "prompt" in scorer.info.input_spec.modalities:
        bad = DecodedSample(id="x", prompt="a dog", video=warm.video, audio=warm.audio)
        with pytest.raises(InvalidSample, match="class"):
            scorer.preprocess(bad)


def test_emulated_latency_scales_with_the_batch() -> None:
    scorer = registry.build("toy_video", ScorerConfig(options={"latency_per_item_s": 0.05}))
    item = scorer.preprocess(scorer.warmup_sample())
    t0 = time.perf_counter()
    assert scorer.forward([item] * 4) == [item] * 4
    assert time.perf_counter() - t0 >= 0.2
    with pytest.raises(ValueError, match=">= 0"):
        registry.build("toy_video", ScorerConfig(options={"latency_per_item_s": -1}))
