"""OmniNFT's training rewards: the released post-processing on top of the metric scorers, as versioned outputs.

Each reward wraps one metric scorer built with the settings the OmniNFT release uses (zghhui/OmniNFT
`flow_grpo/rewards.py`; specs/trainer.md §3.2) and maps its outputs to one number. Servers own this
post-processing so every trainer gets the same reward for the same name and version. Where the release
scores a failure as 0.0 (or DeSync d = 2), the inner scorer's per-sample error is returned instead: a
trainer drops that sample from the reward's group statistics rather than biasing the baseline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.audiobox import AudioboxOptions
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, ScorerOutput
from omninft.reward_servers.scorers.clap import ClapOptions
from omninft.reward_servers.scorers.desync import DesyncOptions
from omninft.reward_servers.scorers.spec import ScorerSpec
from omninft.reward_servers.scorers.videoalign import VideoAlignOptions

PROTOCOL = "omninft-v1"


def videoalign_combine(scores: Mapping[str, float]) -> float:
    """(VQ + TA) / 2 of the normalised VideoAlign heads."""
    return (scores["visual_quality"] + scores["text_alignment"]) / 2.0


def audiobox_combine(scores: Mapping[str, float]) -> float:
    """(CE + CU + PQ - PC) / 40: production complexity counts against the reward."""
    return (scores["ce"] + scores["cu"] + scores["pq"] - scores["pc"]) / 40.0


def clap_combine(scores: Mapping[str, float]) -> float:
    """The CLAP cosine mapped to [0, 1]: clip((s + 1) / 2, 0, 1)."""
    return min(1.0, max(0.0, (scores["clap_score"] + 1.0) / 2.0))


def desync_combine(scores: Mapping[str, float]) -> float:
    """1 / (1 + d) for a mean absolute offset d in seconds."""
    return 1.0 / (1.0 + scores["desync"])


@dataclass(frozen=True)
class RewardRecipe:
    """How one OmniNFT reward derives from a metric scorer."""

    inner: str
    output: str
    combine: Callable[[Mapping[str, float]], float]
    version: str
    # Inner-scorer options the release fixes (the caller's options win, so deployments can still tune).
    options: Mapping[str, Any] = field(default_factory=dict)
    inner_protocol: str = ""
    # Further reward protocols and the inner-scorer protocol each selects.
    variants: Mapping[str, str] = field(default_factory=dict)


RECIPES: dict[str, RewardRecipe] = {
    # VideoReward with use_norm=True, frames sampled at 24 fps.
    # bfloat16 as the release runs it; "omninft-v1-fp32" runs the same model in float32.
    "videoalign_reward": RewardRecipe(
        "videoalign",
        "videoalign_reward",
        videoalign_combine,
        "1",
        options={"use_norm": True, "fps": 24.0},
        variants={"omninft-v1-fp32": "javisbench-v1-fp32"},
    ),
    # Audiobox Aesthetics at 16 kHz mono over the whole clip: the release hands AesPredictor wav paths, which
    # it resamples properly (no JavisBench 4 s cut, no JavisBench (N, 1)-resampling quirk).
    "audiobox_reward": RewardRecipe(
        "audiobox_aesthetics",
        "audiobox_reward",
        audiobox_combine,
        "1",
        options={"max_audio_len_s": 0.0},
        inner_protocol="javisbench-v1-resampled",
    ),
    # CLAP htsat-unfused, 48 kHz mono, text = the audio prompt (the scorer's audio_text rule).
    "clap_reward": RewardRecipe("clap", "clap_reward", clap_combine, "1"),
    # Synchformer over an 8 s window.
    "desync_reward": RewardRecipe(
        "desync", "desync_reward", desync_combine, "1", options={"max_audio_len_s": 8.0}
    ),
}


class DerivedRewardScorer:
    """A metric scorer whose per-sample scores are combined into one training reward."""

    def __init__(self, name: str, inner: Scorer, recipe: RewardRecipe) -> None:
        self.inner = inner
        self.recipe = recipe
        base = inner.info
        self.info = dataclasses.replace(
            base,
            name=name,
            version=f"{recipe.version}+{base.model_family}-{base.version}",
            outputs=(recipe.output,),
            embeddings=(),
            protocol=PROTOCOL,
        )

    def preprocess(self, sample: DecodedSample) -> Any:
        """The inner scorer's preprocessing."""
        return self.inner.preprocess(sample)

    def forward(self, items: Sequence[Any]) -> list[Any]:
        """The inner scorer's batched forward."""
        return self.inner.forward(items)

    def postprocess(self, output: Any) -> ScorerOutput:
        """Inner postprocess, then the release's combination; a non-finite reward fails the sample."""
        scores = self.inner.postprocess(output).scores
        value = float(self.recipe.combine(scores))
        if not math.isfinite(value):
            raise InvalidSample(f"{self.info.name} is not finite ({value}) for this sample")
        return ScorerOutput(scores={self.recipe.output: value})

    def warmup_sample(self) -> DecodedSample:
        """The inner scorer's warm-up sample."""
        return self.inner.warmup_sample()


def build_reward(name: str, cfg: ScorerConfig, recipe: RewardRecipe) -> DerivedRewardScorer:
    """Build the inner scorer with the release's settings and wrap it."""
    protocol = cfg.protocol or PROTOCOL
    if protocol != PROTOCOL and protocol not in recipe.variants:
        raise ValueError(
            f"unknown protocol {cfg.protocol!r} for {name}; choose one of "
            f"{', '.join((PROTOCOL, *recipe.variants))}"
        )
    inner_cfg = dataclasses.replace(
        cfg,
        protocol=recipe.variants.get(protocol, recipe.inner_protocol),
        options={**dict(recipe.options), **cfg.options},
    )
    scorer = DerivedRewardScorer(name, registry.build(recipe.inner, inner_cfg), recipe)
    scorer.info = dataclasses.replace(scorer.info, protocol=protocol)
    return scorer


def build_videoalign(name: str, cfg: ScorerConfig) -> DerivedRewardScorer:
    """videoalign_reward: (VQ + TA) / 2 with use_norm=True at 24 fps."""
    return build_reward(name, cfg, RECIPES["videoalign_reward"])


def build_audiobox(name: str, cfg: ScorerConfig) -> DerivedRewardScorer:
    """audiobox_reward: (CE + CU + PQ - PC) / 40 at 16 kHz mono."""
    return build_reward(name, cfg, RECIPES["audiobox_reward"])


def build_clap(name: str, cfg: ScorerConfig) -> DerivedRewardScorer:
    """clap_reward: clip((cos + 1) / 2, 0, 1) with the audio prompt as text."""
    return build_reward(name, cfg, RECIPES["clap_reward"])


def build_desync(name: str, cfg: ScorerConfig) -> DerivedRewardScorer:
    """desync_reward: 1 / (1 + d) over an 8 s window."""
    return build_reward(name, cfg, RECIPES["desync_reward"])


def _reward_spec(
    name: str,
    build: Callable[[str, ScorerConfig], Scorer],
    modalities: tuple[str, ...],
    options: type,
    family: str,
    summary: str,
    batch_rtol: float = 1e-5,
) -> ScorerSpec:
    recipe = RECIPES[name]
    return ScorerSpec(
        name=name,
        build=build,
        version=recipe.version,
        protocols=(PROTOCOL,),
        outputs=(recipe.output,),
        modalities=modalities,
        options=options,
        families=(family,),
        summary=summary,
        batch_rtol=batch_rtol,
    )


SCORERS = (
    _reward_spec(
        "videoalign_reward",
        build_videoalign,
        ("video", "prompt"),
        VideoAlignOptions,
        "videoalign",
        "OmniNFT reward: (VQ + TA) / 2 of normalised VideoAlign",
    ),
    _reward_spec(
        "audiobox_reward",
        build_audiobox,
        ("audio",),
        AudioboxOptions,
        "audiobox",
        "OmniNFT reward: (CE + CU + PQ - PC) / 40 of Audiobox Aesthetics",
    ),
    _reward_spec(
        "clap_reward",
        build_clap,
        ("audio", "audio_prompt"),
        ClapOptions,
        "clap",
        "OmniNFT reward: CLAP cosine mapped to [0, 1]",
    ),
    _reward_spec(
        "desync_reward",
        build_desync,
        ("video", "audio"),
        DesyncOptions,
        "synchformer",
        "OmniNFT reward: 1 / (1 + DeSync) over 8 s",
        batch_rtol=0.0,
    ),
)
