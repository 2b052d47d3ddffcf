"""CONTRIBUTING.md's "add a reward" recipe, followed for a throwaway reward so the recipe cannot rot.

The reward lives in a temporary package (its own functional math, model family with WEIGHTS and tiny config,
and scorer module with SCORERS); it is found like a third-party plugin (the omninft.scorers entry-point
group), and nothing central is edited: the registry lists it, options are typed, fetch-weights sees its
family's weights, the bench route table and the Helm schema pick it up, the conformance harness runs it and
a golden record can be written for it.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerOutput
from omninft.reward_servers.serving.config import ServerConfig
from tests.conformance import harness as H

ROOT = Path(__file__).resolve().parents[2]

FILES = {
    # 1. pure math
    "throwaway_reward/__init__.py": "",
    "throwaway_reward/functional.py": '''
        """Pure math of the throwaway reward."""

        import numpy as np


        def colour_means(frames: np.ndarray) -> np.ndarray:
            """Per-channel mean of uint8 T x H x W x 3 frames, in [0, 1] (float32, shape (3,))."""
            return (np.asarray(frames, dtype=np.float64).mean(axis=(0, 1, 2)) / 255.0).astype(np.float32)
        ''',
    # 2. the model family: architecture, tiny config, official weights
    "throwaway_reward/family/__init__.py": '''
        """Throwaway family: a linear head over colour means."""

        import torch

        from omninft.reward_servers.weights import WeightSpec

        WEIGHTS = (WeightSpec("throwaway", "https://example.invalid/throwaway.pth",
                              family="throwaway_reward.family"),)


        def build(hidden: int = 4, seed: int = 0) -> torch.nn.Module:
            """The architecture, randomly initialised (the tiny config)."""
            torch.manual_seed(seed)
            return torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)).eval()
        ''',
    # 3. the scorer and its spec
    "throwaway_reward/scorer.py": '''
        """throwaway_score: a tiny head over the clip's colour means."""

        from collections.abc import Sequence
        from dataclasses import dataclass

        import numpy as np

        from omninft.reward_servers.backends import GraphSpec
        from omninft.reward_servers.media import DecodedSample, DecodedVideo
        from omninft.reward_servers.scorers._common import backend_for
        from omninft.reward_servers.scorers.base import InputSpec, InvalidSample, ScorerConfig, ScorerOutput, WeightsInfo
        from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, finite, scorer_options
        from throwaway_reward import family
        from throwaway_reward.functional import colour_means


        @dataclass(frozen=True)
        class ThrowawayOptions(ModelOptions):
            """Options of throwaway_score."""

            # Width of the hidden layer of the tiny head.
            hidden: int = 4


        class ThrowawayScorer:
            """Colour means -> linear head."""

            def __init__(self, name: str, cfg: ScorerConfig) -> None:
                opts = scorer_options(ThrowawayOptions, name, cfg)
                module = family.build(opts.hidden, cfg.seed)
                graph = GraphSpec(module=module, input_names=("input",), output_names=("y",),
                                  example_inputs={"input": np.zeros((2, 3), np.float32)})
                self.backend = backend_for("throwaway", cfg, {"head": graph}, "0" * 64)
                weights = WeightsInfo(f"tiny-random(seed={cfg.seed})", "", tiny=True)
                self.info = SPEC.info(name, cfg, weights=weights, backend=self.backend.name,
                                      device=self.backend.device)

            def preprocess(self, sample: DecodedSample) -> np.ndarray:
                if sample.video is None:
                    raise InvalidSample("throwaway_score needs video")
                return colour_means(sample.video.frames)

            def forward(self, items: Sequence[np.ndarray]) -> list[float]:
                y = self.backend.run("head", {"input": np.stack(items)})["y"]
                return [float(v) for v in np.asarray(y).reshape(-1)]

            def postprocess(self, output: float) -> ScorerOutput:
                return ScorerOutput(scores={"throwaway_score": finite(output, "throwaway_score")})

            def warmup_sample(self) -> DecodedSample:
                return DecodedSample(id="warmup", video=DecodedVideo(np.full((2, 8, 8, 3), 90, np.uint8), 8.0))


        def build(name: str, cfg: ScorerConfig) -> ThrowawayScorer:
            """Registry target."""
            return ThrowawayScorer(name, cfg)


        SPEC = ScorerSpec(
            name="throwaway_score", build=build, version="0.1.0", protocols=("throwaway-v1",),
            outputs=("throwaway_score",), modalities=("video",), options=ThrowawayOptions,
            families=("throwaway_reward.family",),
            bench=(BenchMetric("throwawaybench", "colourfulness", output="throwaway_score"),),
        )
        SCORERS = (SPEC,)
        ''',
}


@pytest.fixture
def throwaway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path))
    # A fresh discovery that also scans the throwaway module, as the entry-point group would.
    monkeypatch.setattr(registry, "_SPECS", {})
    monkeypatch.setattr(registry, "_ORIGIN", {})
    monkeypatch.setattr(registry, "_discovered", False)
    scanned = registry._scorer_modules
    monkeypatch.setattr(registry, "_scorer_modules", lambda: [*scanned(), "throwaway_reward.scorer"])
    yield importlib.import_module("throwaway_reward.scorer")
    for mod in [m for m in sys.modules if m.startswith("throwaway_reward")]:
        del sys.modules[mod]


def test_the_recipe_registers_a_working_reward_without_central_edits(throwaway) -> None:
    assert "throwaway_score" in registry.available()
    assert registry.spec("throwaway_score") is throwaway.SPEC
    assert [w.name for w in registry.official_weights("throwaway_score")] == ["throwaway"]

    # options are typed and checked when a server config loads
    with pytest.raises(
        ValueError, match=r"scorers\.throwaway_score\.options\.hiden: unknown option; did you mean hidden\?"
    ):
        ServerConfig.from_dict({"scorers": {"throwaway_score": {"options": {"hiden": 8}}}})

    # the conformance harness runs it: outputs match the info, batch == one by one, warm-up finite
    scorer = registry.build("throwaway_score", H.config())
    assert scorer.info.outputs == ("throwaway_score",) and scorer.info.protocol == "throwaway-v1"
    clips = H.clips(2)
    together = H.run(scorer, clips)
    alone = [H.run(scorer, [c])[0] for c in clips]
    assert all(isinstance(o, ScorerOutput) for o in together + alone)
    assert [o.scores for o in together] == [o.scores for o in alone]
    (warm,) = H.run(scorer, [scorer.warmup_sample()])
    assert np.isfinite(warm.scores["throwaway_score"])


def test_generated_tables_and_golden_pick_it_up(throwaway, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_bench_routes
        import gen_chart_schema
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    routes = gen_bench_routes.build_tables()["throwawaybench"]["metrics"]
    assert routes == {
        "colourfulness": {"scorer": "throwaway_score", "higher_is_better": True, "output": "throwaway_score"}
    }
    schema = gen_chart_schema.per_scorer_schemas()["throwaway_score"]["allOf"][1]["properties"]["options"]
    assert schema["properties"]["hidden"] == {
        "type": "integer",
        "default": 4,
        "description": "Width of the hidden layer of the tiny head.",
    }

    from tests.golden import regen

    record = regen.golden_for("throwaway_score", registry.build("throwaway_score", H.config()))
    assert record["protocol"] == "throwaway-v1" and record["version"] == "0.1.0"
    assert set(record["samples"]) == {"clip0", "clip1"}
    json.dumps(record)  # what regen writes to tests/golden/throwaway_score.json
