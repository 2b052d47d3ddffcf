"""Synchformer cores export to ONNX (dynamo, dynamic batch) and agree with torch in onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.onnx_export import export_graph
from omninft.reward_servers.models import synchformer as S
from omninft.reward_servers.scorers import desync


@pytest.mark.parametrize("graph", ["video", "sync"])  # the re-implemented parts; "audio" is transformers' AST
def test_tiny_core_exports_with_dynamic_batch(graph: str, tmp_path) -> None:
    import onnxruntime as ort

    model, _ = S.load("tiny", seed=0)
    spec = desync.make_graphs(model)[graph]
    path = export_graph(spec, tmp_path / f"{graph}.onnx", dynamo=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {k: np.concatenate([v, v[:1]], axis=0) for k, v in spec.example_inputs.items()}  # batch 3 != 2
    (out,) = sess.run(None, inputs)
    with torch.inference_mode():
        ref = spec.module(*(torch.from_numpy(inputs[k]) for k in spec.input_names)).numpy()
    assert out.shape == ref.shape and out.shape[0] == 3
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
