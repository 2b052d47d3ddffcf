"""TEST FIXTURE: the `tests/helpers/vbench_fixtures.py` quantities as real served scorers (a server plugin), so the
VBench runner can be tested through `omninft-serve` itself: its output checks, float64 embeddings on the wire, its
decode cache and its metrics. Not VBench.

Usable as ``plugins: {vbench_subject_consistency: "tests.helpers.vbench_plugin:build", ...}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from omninft.bench.suites.vbench.dimensions import DIMENSIONS
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    ScorerOutput,
    WeightsInfo,
)
from omninft_client.testing import FakeSample
from tests.helpers.vbench_fixtures import EMBED_FIXTURES, SCORE_FIXTURES, on_the_wire


class ContractScorer:
    """One `vbench_<dimension>` fixture behind the Scorer protocol (numpy, no model)."""

    def __init__(self, name: str, cfg: ScorerConfig) -> None:
        self.embed = name in EMBED_FIXTURES
        if self.embed:
            self.fn: Any = EMBED_FIXTURES[name]
            names = (
                ("pair_scores", "frame_shape")
                if name == "vbench_static_filter"
                else DIMENSIONS[name.removeprefix("vbench_")].wire_outputs
            )
            outputs: tuple[str, ...] = ()
        else:
            self.fn = on_the_wire(name, SCORE_FIXTURES[name])
            outputs, names = DIMENSIONS[name.removeprefix("vbench_")].wire_outputs, ()
        self.info = ScorerInfo(
            name=name,
            model_family="test-vbench-contract",
            version="1",
            outputs=outputs,
            embeddings=names,
            input_spec=InputSpec(modalities=("video",)),
            protocol=cfg.protocol or "test-v1",
            weights=WeightsInfo("builtin:fixture", hashlib.sha256(name.encode()).hexdigest(), tiny=True),
            backend="numpy",
            device=cfg.device,
            max_batch_size=cfg.max_batch_size,
        )

    def preprocess(self, sample: DecodedSample) -> Any:
        """The whole fixture computation (CPU); a video it cannot use is an InvalidSample."""
        assert sample.video is not None
        fake = FakeSample(
            id=sample.id, prompt=sample.prompt, frames=sample.video.frames, fps=sample.video.fps
        )
        try:
            return self.fn(fake)
        except ValueError as err:
            raise InvalidSample(str(err)) from None

    def forward(self, items: Sequence[Any]) -> list[Any]:
        """Nothing left to batch."""
        return list(items)

    def postprocess(self, output: Any) -> ScorerOutput:
        """Scores, or float64 embeddings."""
        if self.embed:
            return ScorerOutput(embeddings={k: np.asarray(v, np.float64) for k, v in output.items()})
        return ScorerOutput(scores={k: float(v) for k, v in output.items()})

    def warmup_sample(self) -> DecodedSample:
        """An 8-frame grey clip whose prompt every fixture can read."""
        frames = np.full((8, 16, 16, 3), 128, np.uint8)
        frames[::2, :8] = 250
        return DecodedSample(
            id="warmup", prompt='{"color": "red", "object": "car"}', video=DecodedVideo(frames, 8.0)
        )


def build(name: str, cfg: ScorerConfig) -> ContractScorer:
    """Registry entry point."""
    return ContractScorer(name, cfg)
