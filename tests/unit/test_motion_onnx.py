"""RAFT and AMT-S export to ONNX (TorchScript exporter, dynamic batch) and onnxruntime matches torch.

Spatial size is fixed per export (the correlation volume's reshapes are traced with the frame size), so a
server exports one graph per padded frame size. The dynamo exporter also works for RAFT (dynamic batch) but
specialises AMT's batch to the example's, so these tests pin the TorchScript exporter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import check_graph, export_graph
from omninft.reward_servers.models import amt, raft


@pytest.mark.slow
def test_raft_core_exports_and_matches(tmp_path: Path) -> None:
    model, _ = raft.load("tiny", seed=0)
    rng = np.random.default_rng(0)
    spec = GraphSpec(
        module=raft.RAFTCore(model).eval(),
        input_names=("image1", "image2"),
        output_names=("flow",),
        example_inputs={
            k: (rng.random((2, 3, 128, 136)) * 255).astype(np.float32) for k in ("image1", "image2")
        },
    )
    path = export_graph(spec, tmp_path / "raft.onnx", dynamo=False)
    report = check_graph(spec, path, batch_sizes=(1, 3))
    assert report.ok(), report.as_dict()


@pytest.mark.slow
def test_amt_core_exports_and_matches(tmp_path: Path) -> None:
    model, _ = amt.load("tiny", seed=0)
    rng = np.random.default_rng(1)
    spec = GraphSpec(
        module=amt.AMTCore(model).eval(),
        input_names=("img0", "img1"),
        output_names=("frame",),
        example_inputs={k: rng.random((2, 3, 128, 144)).astype(np.float32) for k in ("img0", "img1")},
    )
    path = export_graph(spec, tmp_path / "amt.onnx", dynamo=False)
    report = check_graph(spec, path, batch_sizes=(1, 3))
    assert report.ok(), report.as_dict()
