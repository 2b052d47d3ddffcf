"""TensorRT plan building and caching logic on the CPU, against a recording stand-in for the `tensorrt` module.

The real engine build and execution are covered by tests/gpu/test_tensorrt.py; here we check what does not
need a GPU: which ONNX file is built, with which profile and precision flags, and when a plan is reused.
"""

from __future__ import annotations

import contextlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from omninft.reward_servers.backends import tensorrt_backend
from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import ensure_onnx


def fake_tensorrt(version: str, *, with_fp16_flag: bool, parse_ok: bool = True) -> types.SimpleNamespace:
    """A minimal `tensorrt` look-alike that records what the builder was asked to do."""
    log: dict[str, list] = {"parsed": [], "flags": [], "shapes": [], "builds": []}

    class Network:
        def __init__(self) -> None:
            self.inputs: list[str] = []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> types.SimpleNamespace:
            return types.SimpleNamespace(name=self.inputs[i])

    class OnnxParser:
        num_errors = 1

        def __init__(self, network: Network, logger: object) -> None:
            self.network = network

        def parse_from_file(self, path: str) -> bool:
            log["parsed"].append(Path(path).name)
            self.network.inputs = [i.name for i in onnx.load(path, load_external_data=False).graph.input]
            return parse_ok

        def get_error(self, i: int) -> str:
            return "unsupported operator FancyOp"

    class Profile:
        def set_shape(self, name: str, lo: tuple, opt: tuple, hi: tuple) -> None:
            log["shapes"].append((name, tuple(lo), tuple(opt), tuple(hi)))

    class Config:
        def set_flag(self, flag: str) -> None:
            log["flags"].append(flag)

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            pass

        def add_optimization_profile(self, profile: Profile) -> None:
            pass

    class Builder:
        def __init__(self, logger: object) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            log["builds"].append(list(network.inputs))
            return b"PLAN"

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            pass

    flags = types.SimpleNamespace(FP16="FP16") if with_fp16_flag else types.SimpleNamespace()
    return types.SimpleNamespace(
        __version__=version,
        Logger=Logger,
        Builder=Builder,
        OnnxParser=OnnxParser,
        BuilderFlag=flags,
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="WORKSPACE"),
        log=log,
    )


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch):
    """Pretend cuda:0 exists (compute capability 9.0) so the TensorRT code paths run on the CPU."""
    monkeypatch.setattr(tensorrt_backend, "cuda_index", lambda device: 0)
    monkeypatch.setattr(tensorrt_backend, "sm_tag", lambda index: "sm_90")
    monkeypatch.setattr(torch.cuda, "device", lambda index: contextlib.nullcontext())

    def install(trt: types.SimpleNamespace) -> types.SimpleNamespace:
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return trt

    return install


def spec() -> GraphSpec:
    """A small graph with a named dynamic axis."""
    torch.manual_seed(0)
    return GraphSpec(
        module=torch.nn.Conv1d(3, 4, 3).eval(),
        input_names=("input",),
        output_names=("output",),
        example_inputs={"input": np.random.default_rng(0).standard_normal((2, 3, 12)).astype(np.float32)},
        dynamic_axes={"input": {2: "time"}, "output": {2: "time_out"}},
    )


def test_plan_is_built_once_and_rebuilt_when_inputs_change(tmp_path: Path, fake_gpu) -> None:
    trt = fake_gpu(fake_tensorrt("10.9.0", with_fp16_flag=True))
    graph = spec()
    onnx_path, _ = ensure_onnx(graph, tmp_path / "g.onnx", dynamo=False)
    plan = tensorrt_backend.ensure_engine(
        "g", graph, onnx_path, device="cuda:0", trt_version="10.9.0", max_batch_size=8
    )
    assert plan == tmp_path / "g.sm_90.plan" and plan.read_bytes() == b"PLAN"
    assert trt.log["shapes"] == [("input", (1, 3, 1), (4, 3, 12), (8, 3, 24))]
    sidecar = json.loads((tmp_path / "g.sm_90.plan.json").read_text())
    assert sidecar["tensorrt"] == "10.9.0" and sidecar["fp16"] is False and sidecar["onnx"]
    tensorrt_backend.ensure_engine(
        "g", graph, onnx_path, device="cuda:0", trt_version="10.9.0", max_batch_size=8
    )
    assert len(trt.log["builds"]) == 1  # reused
    tensorrt_backend.ensure_engine(
        "g", graph, onnx_path, device="cuda:0", trt_version="10.10.0", max_batch_size=8
    )
    tensorrt_backend.ensure_engine(
        "g", graph, onnx_path, device="cuda:0", trt_version="10.10.0", max_batch_size=4
    )
    assert len(trt.log["builds"]) == 3  # new TensorRT version, new profile
    assert trt.log["flags"] == []


def test_fp16_uses_the_flag_on_tensorrt_10(tmp_path: Path, fake_gpu) -> None:
    trt = fake_gpu(fake_tensorrt("10.9.0", with_fp16_flag=True))
    graph = spec()
    onnx_path, _ = ensure_onnx(graph, tmp_path / "g.onnx", dynamo=False)
    tensorrt_backend.ensure_engine("g", graph, onnx_path, device="cuda:0", trt_version="10.9.0", fp16=True)
    assert trt.log["flags"] == ["FP16"] and trt.log["parsed"] == ["g.onnx"]


def test_fp16_builds_from_an_fp16_graph_on_tensorrt_11(tmp_path: Path, fake_gpu) -> None:
    trt = fake_gpu(fake_tensorrt("11.4.0", with_fp16_flag=False))
    graph = spec()
    onnx_path, _ = ensure_onnx(graph, tmp_path / "g.onnx", dynamo=False)
    tensorrt_backend.ensure_engine("g", graph, onnx_path, device="cuda:0", trt_version="11.4.0", fp16=True)
    assert trt.log["flags"] == [] and trt.log["parsed"] == ["g.fp16.onnx"]
    half = onnx.load(str(tmp_path / "g.fp16.onnx"))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer)
    assert json.loads((tmp_path / "g.sm_90.plan.json").read_text())["fp16"] is True
    with pytest.raises(ValueError, match="no FP16 builder flag"):
        tensorrt_backend.build_engine(onnx_path, tmp_path / "x.plan", profile={}, fp16=True)


def test_parse_errors_are_reported(tmp_path: Path, fake_gpu) -> None:
    fake_gpu(fake_tensorrt("10.9.0", with_fp16_flag=True, parse_ok=False))
    graph = spec()
    onnx_path, _ = ensure_onnx(graph, tmp_path / "g.onnx", dynamo=False)
    with pytest.raises(RuntimeError, match="could not parse .*unsupported operator FancyOp"):
        tensorrt_backend.ensure_engine("g", graph, onnx_path, device="cuda:0", trt_version="10.9.0")
    assert not (tmp_path / "g.sm_90.plan").exists()


def test_export_scorer_tensorrt_plumbing(tmp_path: Path, fake_gpu, monkeypatch: pytest.MonkeyPatch) -> None:
    from omninft.reward_servers import export
    from omninft.reward_servers.scorers import registry

    fake_gpu(fake_tensorrt("10.9.0", with_fp16_flag=True))
    module = types.ModuleType("omninft_test_trt_scorer")
    module.build = lambda name, cfg: None  # type: ignore[attr-defined]
    module.graphs_for = lambda name, cfg: {"conv": spec()}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(registry, "_PLUGINS", dict(registry._PLUGINS))
    registry.register("trttest", f"{module.__name__}:build")
    result = export.export_scorer(
        "trttest", out=tmp_path, fmt="tensorrt", check=False, max_batch_size=4, dynamo=False
    )
    assert [g.plan for g in result.graphs] == [tmp_path / "conv.sm_90.plan"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == "tensorrt" and manifest["versions"]["tensorrt"] == "10.9.0"
    assert manifest["graphs"]["conv"]["plan"] == "conv.sm_90.plan"
    assert manifest["graphs"]["conv"]["files"] == ["conv.onnx"]
    assert "conv.sm_90.plan" in export.format_table(result)
