"""I3D exports to ONNX (dynamic batch) and onnxruntime reproduces the torch embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig


@pytest.mark.slow
def test_onnxruntime_matches_torch_at_another_batch_size(tmp_path: Path) -> None:
    opts = {"max_frames": 9}
    ref = registry.build("i3d", ScorerConfig(weights="tiny", max_batch_size=4, options=opts))
    ort = registry.build(
        "i3d",
        ScorerConfig(
            weights="tiny", backend="onnxruntime", onnx_dir=str(tmp_path), max_batch_size=4, options=opts
        ),
    )
    assert ort.info.backend == "onnxruntime"
    rng = np.random.default_rng(0)
    items = [
        ref.preprocess(
            DecodedSample(
                str(i), video=DecodedVideo(rng.integers(0, 256, (6, 40, 56, 3), dtype=np.uint8), 24.0)
            )
        )
        for i in range(3)
    ]  # export used batch 2
    a, b = np.stack(ref.forward(items)), np.stack(ort.forward(items))
    # calibrated tiny logits have unit spread (O(1)-O(10) values): float32 kernel differences bounded absolutely
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
