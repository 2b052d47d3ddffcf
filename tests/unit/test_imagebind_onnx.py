"""The tiny ImageBind graphs export to ONNX (dynamo) and match eager torch at other batch sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.backends import create_backend
from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.models import imagebind as ib
from omninft.reward_servers.scorers import imagebind as S


@pytest.mark.slow
def test_tiny_graphs_export_with_dynamic_batch(tmp_path: Path) -> None:
    model, tok, _ = ib.load("tiny", seed=0)
    ort = create_backend(
        "onnxruntime", S.make_graphs(model), onnx_dir=str(tmp_path), cache_key="ib-test", max_batch_size=8
    )
    eager = TorchBackend(S.make_graphs(model))
    rng = np.random.default_rng(1)
    inputs = {
        "vision": {"pixel_values": rng.standard_normal((3, 3, 2, 224, 224)).astype(np.float32)},
        "audio": {"fbank": rng.standard_normal((5, 1, 128, 204)).astype(np.float32)},
        "text": {"input_ids": tok(["a dog", "rain on a tin roof", "x " * 90])},
    }
    for graph, feed in inputs.items():
        got, ref = ort.run(graph, feed)["embeds"], eager.run(graph, feed)["embeds"]
        assert got.shape == ref.shape == (next(iter(feed.values())).shape[0], model.config.out_embed_dim)
        np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)
