"""GPU backends against torch: ORT CUDA EP, TensorRT engines (fp32 and fp16), engine cache reuse, export CLI.

Opt-in (tests/gpu/conftest.py): needs a CUDA device and OMNINFT_RUN_GPU=1; TensorRT tests also need the
`tensorrt` package and ORT tests the GPU build of onnxruntime (pip install "omninft[gpu]").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.torch_backend import TorchBackend

FP32_TOL = 1e-3
FP16_TOL = 2e-2


class _Text(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).text_embeds


def make_graphs() -> dict[str, GraphSpec]:
    """A tiny CLAP text tower (int64 ids, dynamic length) and a conv+MLP over float frames."""
    from transformers import ClapTextConfig, ClapTextModelWithProjection

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = ClapTextConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        projection_dim=16,
    )
    ids = rng.integers(3, 99, size=(2, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    frames = torch.nn.Sequential(
        torch.nn.Conv1d(4, 8, 3, padding=1),
        torch.nn.GELU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 5),
    )
    return {
        "text": GraphSpec(
            module=_Text(ClapTextModelWithProjection(cfg)).eval(),
            input_names=("input_ids", "attention_mask"),
            output_names=("text_embeds",),
            example_inputs={"input_ids": ids, "attention_mask": mask},
            dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}},
        ),
        "frames": GraphSpec(
            module=frames.eval(),
            input_names=("input",),
            output_names=("output",),
            example_inputs={"input": rng.standard_normal((2, 4, 16)).astype(np.float32)},
        ),
    }


def batches(batch: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Inputs for both graphs at `batch` (text length 7, inside the 1..18 profile)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, 99, size=(batch, 7)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[0, 5:] = 0
    return {
        "text": {"input_ids": ids, "attention_mask": mask},
        "frames": {"input": rng.standard_normal((batch, 4, 16)).astype(np.float32)},
    }


def assert_close(backend, graphs: dict[str, GraphSpec], tol: float) -> None:
    """Backend outputs equal torch eager within `tol` of each output's scale, at batch 1, 3 and 8."""
    reference = TorchBackend(graphs)
    for batch in (1, 3, 8):
        for graph, inputs in batches(batch, seed=batch).items():
            got, want = backend.run(graph, inputs), reference.run(graph, inputs)
            for name in want:
                scale = max(float(np.abs(want[name]).max()), 1e-6)
                err = float(np.abs(got[name] - want[name]).max()) / scale
                assert err <= tol, f"{graph}/{name} at batch {batch}: relative error {err:.2e} > {tol}"


def test_ort_cuda_ep_matches_torch(tmp_path: Path) -> None:
    import onnxruntime as ort

    from omninft.reward_servers.backends.onnxruntime_backend import OrtBackend

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip('onnxruntime has no CUDA EP: pip install "omninft[gpu]"')
    graphs = make_graphs()
    backend = OrtBackend.from_graphs(graphs, device="cuda:0", onnx_dir=str(tmp_path), cache_key="k")
    assert backend.providers("text")[0] == "CUDAExecutionProvider"
    assert_close(backend, graphs, FP32_TOL)


def test_ort_tensorrt_ep_matches_torch(tmp_path: Path) -> None:
    import onnxruntime as ort

    from omninft.reward_servers.backends.onnxruntime_backend import OrtBackend

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no TensorRT EP")
    graphs = make_graphs()
    backend = OrtBackend.from_graphs(
        graphs,
        device="cuda:0",
        onnx_dir=str(tmp_path),
        cache_key="k",
        prefer_tensorrt_ep=True,
        max_batch_size=8,
    )
    assert backend.providers("frames")[0] == "TensorrtExecutionProvider"
    assert_close(backend, graphs, FP16_TOL)  # the EP builds fp16 engines
    assert any((tmp_path / "k" / "ort-trt-cache").iterdir())


@pytest.mark.parametrize(("fp16", "tol"), [(False, FP32_TOL), (True, FP16_TOL)], ids=["fp32", "fp16"])
def test_tensorrt_engine_matches_torch(tmp_path: Path, fp16: bool, tol: float) -> None:
    pytest.importorskip("tensorrt")
    from omninft.reward_servers.backends.tensorrt_backend import TensorRTBackend, sm_tag

    graphs = make_graphs()
    backend = TensorRTBackend.from_graphs(
        graphs, device="cuda:0", onnx_dir=str(tmp_path), cache_key="k", max_batch_size=8, fp16=fp16
    )
    assert backend.name == "tensorrt" and backend.device == "cuda:0"
    plan = tmp_path / "k" / f"text.{sm_tag(0)}.plan"
    assert backend.plans["text"] == plan and plan.exists()
    sidecar = json.loads(plan.with_name(plan.name + ".json").read_text())
    assert sidecar["fp16"] is fp16 and sidecar["profile"]["input_ids"] == [[1, 1], [4, 9], [8, 18]]
    assert_close(backend, graphs, tol)


def test_tensorrt_engine_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorrt")
    from omninft.reward_servers.backends import tensorrt_backend

    graphs = make_graphs()
    tensorrt_backend.TensorRTBackend.from_graphs(
        graphs, device="cuda:0", onnx_dir=str(tmp_path), cache_key="k"
    )
    plans = sorted((tmp_path / "k").glob("*.plan"))
    assert len(plans) == 2
    mtimes = [p.stat().st_mtime_ns for p in plans]
    builds: list[Path] = []
    real = tensorrt_backend.build_engine
    monkeypatch.setattr(
        tensorrt_backend, "build_engine", lambda *a, **k: builds.append(a[1]) or real(*a, **k)
    )
    again = tensorrt_backend.TensorRTBackend.from_graphs(
        graphs, device="cuda:0", onnx_dir=str(tmp_path), cache_key="k"
    )
    assert builds == [] and [p.stat().st_mtime_ns for p in plans] == mtimes
    assert_close(again, graphs, FP32_TOL)
    # Another profile (max batch) is another engine.
    tensorrt_backend.TensorRTBackend.from_graphs(
        graphs, device="cuda:0", onnx_dir=str(tmp_path), cache_key="k", max_batch_size=4
    )
    assert len(builds) == 2


def test_tensorrt_rejects_bad_inputs(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt")
    from omninft.reward_servers.backends.tensorrt_backend import TensorRTBackend

    graphs = make_graphs()
    backend = TensorRTBackend.from_graphs(
        graphs, device="cuda:0", onnx_dir=str(tmp_path), cache_key="k", max_batch_size=4
    )
    with pytest.raises(ValueError, match="outside the engine's optimisation profile"):
        backend.run("frames", {"input": np.zeros((5, 4, 16), np.float32)})
    with pytest.raises(TypeError, match="must be float32"):
        backend.run("frames", {"input": np.zeros((1, 4, 16), np.float64)})
    with pytest.raises(ValueError, match="missing"):
        backend.run("text", {"input_ids": np.ones((1, 4), np.int64)})


def test_export_cli_builds_tensorrt_plans(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt")
    pytest.importorskip("omninft.reward_servers.scorers.clap")
    from click.testing import CliRunner

    from omninft.reward_servers.export import main

    result = CliRunner().invoke(
        main, ["--scorer", "clap", "--format", "tensorrt", "--out", str(tmp_path), "--max-batch-size", "4"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == "tensorrt" and manifest["versions"]["tensorrt"]
    for entry in manifest["graphs"].values():
        assert entry["plan"].endswith(".plan") and entry["check"]["max_rel"] <= FP32_TOL
