"""OmniNFT training rewards: the release's post-processing over the metric scorers, failures as errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omninft.reward_servers.media import DecodedAudio, DecodedSample
from omninft.reward_servers.scorers import omninft_rewards as rewards
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig


def _sample(sid: str, seed: int, audio_prompt: str = "a dog barks") -> DecodedSample:
    pcm = (np.random.default_rng(seed).standard_normal((1, 48_000)) * 0.1).astype(np.float32)
    return DecodedSample(id=sid, prompt="a video", audio_prompt=audio_prompt, audio=DecodedAudio(pcm, 48_000))


def _score(scorer: Scorer, samples: list[DecodedSample]) -> list[dict[str, float]]:
    items = [scorer.preprocess(s) for s in samples]
    return [scorer.postprocess(raw).scores for raw in scorer.forward(items)]


@pytest.mark.parametrize(
    ("combine", "scores", "expected"),
    [
        (
            rewards.videoalign_combine,
            {"visual_quality": 1.5, "text_alignment": -0.5, "motion_quality": 9.0},
            0.5,
        ),
        (
            rewards.audiobox_combine,
            {"ce": 6.0, "cu": 7.0, "pq": 8.0, "pc": 3.0, "audio_quality": 0.0},
            18.0 / 40,
        ),
        (rewards.clap_combine, {"clap_score": 0.5}, 0.75),
        (rewards.clap_combine, {"clap_score": -1.5}, 0.0),
        (rewards.clap_combine, {"clap_score": 1.2}, 1.0),
        (rewards.desync_combine, {"desync": 0.0}, 1.0),
        (rewards.desync_combine, {"desync": 0.6}, 1.0 / 1.6),
    ],
)
def test_release_post_processing(combine, scores, expected) -> None:
    assert combine(scores) == pytest.approx(expected, abs=1e-12)


def test_every_reward_is_registered_with_its_recipe() -> None:
    for name, recipe in rewards.RECIPES.items():
        assert registry.target(name).startswith("omninft.reward_servers.scorers.omninft_rewards:")
        assert recipe.output == name
        assert registry.target(recipe.inner)  # the wrapped metric scorer exists


def test_clap_reward_maps_the_clap_scorer_and_keeps_its_identity() -> None:
    cfg = ScorerConfig(weights="tiny", max_batch_size=4)
    clap = registry.build("clap", cfg)
    reward = registry.build("clap_reward", cfg)
    assert isinstance(reward, Scorer)
    info = reward.info
    assert info.name == "clap_reward" and info.outputs == ("clap_reward",) and info.protocol == "omninft-v1"
    assert info.weights == clap.info.weights and info.version.endswith(clap.info.version)
    samples = [_sample(str(i), i) for i in range(3)]
    plain = _score(clap, samples)
    derived = _score(reward, samples)
    for p, d in zip(plain, derived, strict=True):
        assert d == {"clap_reward": pytest.approx(min(1.0, max(0.0, (p["clap_score"] + 1) / 2)), abs=1e-12)}


def test_a_failure_is_an_error_never_a_zero() -> None:
    reward = registry.build("clap_reward", ScorerConfig(weights="tiny"))
    with pytest.raises(InvalidSample):
        reward.preprocess(DecodedSample(id="silent", prompt="", audio_prompt=""))  # no audio at all

    class NaNInner:
        info = reward.inner.info

        def postprocess(self, raw):
            from omninft.reward_servers.scorers.base import ScorerOutput

            return ScorerOutput(scores={"desync": math.nan})

    broken = rewards.DerivedRewardScorer("desync_reward", NaNInner(), rewards.RECIPES["desync_reward"])  # type: ignore[arg-type]
    with pytest.raises(InvalidSample, match="not finite"):
        broken.postprocess(None)


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="omninft-v1"):
        registry.build("clap_reward", ScorerConfig(weights="tiny", protocol="javisbench-v1"))


def _av_sample(sid: str, seed: int, seconds: float = 2.0) -> DecodedSample:
    from omninft.reward_servers.media import DecodedVideo

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(int(seconds * 8), 32, 32, 3), dtype=np.uint8)
    pcm = (rng.standard_normal((1, int(seconds * 16_000))) * 0.1).astype(np.float32)
    return DecodedSample(
        id=sid,
        prompt="a drum is hit",
        audio_prompt="a drum",
        video=DecodedVideo(frames, 8.0),
        audio=DecodedAudio(pcm, 16_000),
    )


@pytest.mark.parametrize("reward_name", ["desync_reward", "audiobox_reward", "videoalign_reward"])
def test_reward_equals_the_release_combination_of_its_inner_scorer(reward_name: str) -> None:
    recipe = rewards.RECIPES[reward_name]
    module = registry.target(recipe.inner).split(":")[0]
    pytest.importorskip(module)
    reward = registry.build(reward_name, ScorerConfig(weights="tiny", max_batch_size=2))
    inner = registry.build(
        recipe.inner,
        ScorerConfig(
            weights="tiny", max_batch_size=2, options=dict(recipe.options), protocol=recipe.inner_protocol
        ),
    )
    samples = [_av_sample(str(i), i) for i in range(2)]
    for plain, derived in zip(_score(inner, samples), _score(reward, samples), strict=True):
        assert derived == {reward_name: pytest.approx(recipe.combine(plain), rel=1e-6, abs=1e-9)}


def test_videoalign_reward_runs_bfloat16_and_has_an_fp32_variant():
    ref = registry.build("videoalign_reward", ScorerConfig(weights="tiny", max_batch_size=1))
    fp32 = registry.build(
        "videoalign_reward", ScorerConfig(weights="tiny", max_batch_size=1, protocol="omninft-v1-fp32")
    )
    assert ref.info.protocol == "omninft-v1" and fp32.info.protocol == "omninft-v1-fp32"
    assert ref.inner.info.protocol == "javisbench-v1" and fp32.inner.info.protocol == "javisbench-v1-fp32"
    with pytest.raises(ValueError, match="unknown protocol"):
        registry.build("clap_reward", ScorerConfig(weights="tiny", protocol="omninft-v1-fp32"))
