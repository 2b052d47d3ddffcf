"""OrtBackend (export cache, parity with TorchBackend, input validation) and execution-provider selection."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends import create_backend, onnx_export, providers
from omninft.reward_servers.backends.base import Backend, GraphSpec
from omninft.reward_servers.backends.onnx_export import export_graph, fingerprint_metadata
from omninft.reward_servers.backends.onnxruntime_backend import OrtBackend
from omninft.reward_servers.backends.providers import (
    CPU_EP,
    CUDA_EP,
    TENSORRT_EP,
    default_intra_op_threads,
    profile_shapes,
    select_providers,
    tensorrt_ep_options,
)
from omninft.reward_servers.backends.torch_backend import TorchBackend


class _Scorer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(50, 8)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1).float()
        pooled = h.sum(1) / attention_mask.sum(1, keepdim=True).clamp(min=1).float()
        out = self.mlp(pooled)
        return out, out.norm(dim=-1)


def make_graphs() -> dict[str, GraphSpec]:
    """Two small graphs: token ids with a variable length, and a plain float MLP."""
    torch.manual_seed(0)
    ids = np.random.default_rng(0).integers(1, 50, size=(2, 6)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 4:] = 0
    return {
        "text": GraphSpec(
            module=_Scorer().eval(),
            input_names=("input_ids", "attention_mask"),
            output_names=("embeds", "norm"),
            example_inputs={"input_ids": ids, "attention_mask": mask},
            dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}},
        ),
        "mlp": GraphSpec(
            module=torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh()).eval(),
            input_names=("input",),
            output_names=("output",),
            example_inputs={"input": np.random.default_rng(1).standard_normal((2, 5)).astype(np.float32)},
        ),
    }


@pytest.fixture
def export_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every real export (by file name)."""
    calls: list[str] = []
    real = onnx_export.export_graph

    def counting(spec, path, **kwargs):
        calls.append(Path(path).name)
        return real(spec, path, **kwargs)

    monkeypatch.setattr(onnx_export, "export_graph", counting)
    return calls


@pytest.fixture(scope="module")
def cached_backend(tmp_path_factory: pytest.TempPathFactory) -> tuple[OrtBackend, dict[str, GraphSpec]]:
    """One OrtBackend over make_graphs(), exported with the default (dynamo-first) exporter."""
    graphs = make_graphs()
    root = tmp_path_factory.mktemp("onnx")
    return OrtBackend.from_graphs(graphs, onnx_dir=str(root), cache_key="w-1234"), graphs


def test_backend_protocol_and_layout(cached_backend, tmp_path: Path) -> None:
    backend, _ = cached_backend
    assert isinstance(backend, Backend)
    assert backend.name == "onnxruntime" and backend.device == "cpu"
    assert backend.graphs == ["text", "mlp"]
    assert backend.path("text").parent.name == "w-1234" and backend.path("text").name == "text.onnx"
    assert backend.providers("text") == [CPU_EP]
    assert backend.metadata("text")[onnx_export.META_EXPORTER] == "dynamo"


@pytest.mark.parametrize("batch", [1, 3, 5])
def test_matches_torch_backend(cached_backend, batch: int) -> None:
    backend, graphs = cached_backend
    reference = TorchBackend(graphs)
    rng = np.random.default_rng(batch)
    ids = rng.integers(1, 50, size=(batch, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[0, 7:] = 0
    text = {"input_ids": ids, "attention_mask": mask}
    mlp = {"input": rng.standard_normal((batch, 5)).astype(np.float32)}
    for graph, inputs in (("text", text), ("mlp", mlp)):
        got, want = backend.run(graph, inputs), reference.run(graph, inputs)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == np.float32 and got[name].shape == want[name].shape
            np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=1e-5)


def test_second_construction_reuses_the_cache(tmp_path: Path, export_counter: list[str]) -> None:
    graphs = make_graphs()
    OrtBackend.from_graphs(graphs, onnx_dir=str(tmp_path), cache_key="k", dynamo=False)
    assert sorted(export_counter) == ["mlp.onnx", "text.onnx"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "k").glob("*.onnx")}
    again = OrtBackend.from_graphs(make_graphs(), onnx_dir=str(tmp_path), cache_key="k", dynamo=False)
    assert len(export_counter) == 2  # nothing re-exported
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "k").glob("*.onnx")} == mtimes
    assert again.run("mlp", {"input": np.zeros((1, 5), np.float32)})["output"].shape == (1, 7)
    # Another checkpoint has another cache key: a separate export, never the stale graph.
    OrtBackend.from_graphs(graphs, onnx_dir=str(tmp_path), cache_key="k2", dynamo=False)
    assert len(export_counter) == 4


def test_without_cache_key_weights_are_verified(tmp_path: Path, export_counter: list[str]) -> None:
    graphs = {"mlp": make_graphs()["mlp"]}
    first = OrtBackend.from_graphs(graphs, onnx_dir=str(tmp_path), dynamo=False)
    assert first.path("mlp") == tmp_path / "mlp.onnx"
    OrtBackend.from_graphs(graphs, onnx_dir=str(tmp_path), dynamo=False)
    assert export_counter == ["mlp.onnx"]
    with torch.no_grad():
        graphs["mlp"].module[0].weight.mul_(2.0)
    changed = OrtBackend.from_graphs(graphs, onnx_dir=str(tmp_path), dynamo=False)
    assert export_counter == ["mlp.onnx", "mlp.onnx"]
    x = {"input": np.ones((2, 5), np.float32)}
    np.testing.assert_allclose(
        changed.run("mlp", x)["output"], TorchBackend(graphs).run("mlp", x)["output"], atol=1e-6
    )


def test_default_cache_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNINFT_CACHE_DIR", str(tmp_path))
    backend = create_backend("onnxruntime", {"mlp": make_graphs()["mlp"]}, cache_key="abc")
    assert isinstance(backend, OrtBackend)
    assert backend.path("mlp") == tmp_path / "onnx" / "abc" / "mlp.onnx"


def test_flat_export_folder_is_used_when_weights_match(tmp_path: Path, export_counter: list[str]) -> None:
    spec = make_graphs()["mlp"]
    meta = fingerprint_metadata(spec, opset=18, with_state=True)
    export_graph(spec, tmp_path / "mlp.onnx", dynamo=False, metadata=meta)
    backend = OrtBackend.from_graphs({"mlp": spec}, onnx_dir=str(tmp_path), cache_key="key")
    assert backend.path("mlp") == tmp_path / "mlp.onnx"
    assert export_counter == []  # the backend exported nothing itself
    with torch.no_grad():
        spec.module[0].bias.add_(1.0)
    backend = OrtBackend.from_graphs({"mlp": spec}, onnx_dir=str(tmp_path), cache_key="key", dynamo=False)
    assert backend.path("mlp") == tmp_path / "key" / "mlp.onnx"  # flat file is for other weights


def test_input_validation_errors_are_clear(cached_backend) -> None:
    backend, _ = cached_backend
    ids = np.ones((2, 4), np.int64)
    with pytest.raises(TypeError, match=r"input 'input_ids' must be int64 .*got int32"):
        backend.run("text", {"input_ids": ids.astype(np.int32), "attention_mask": ids})
    with pytest.raises(TypeError, match=r"'input' must be float32 .*got float64"):
        backend.run("mlp", {"input": np.zeros((1, 5))})
    with pytest.raises(ValueError, match=r"missing \['attention_mask'\]"):
        backend.run("text", {"input_ids": ids})
    with pytest.raises(ValueError, match="rank 2"):
        backend.run("mlp", {"input": np.zeros((1, 5, 1), np.float32)})
    with pytest.raises(ValueError, match=r"shape \(1, 6\), expected \['batch', 5\]"):
        backend.run("mlp", {"input": np.zeros((1, 6), np.float32)})
    with pytest.raises(KeyError, match="unknown graph 'audio'"):
        backend.run("audio", {})
    # Extra keys are ignored, exactly like TorchBackend.
    assert backend.run("mlp", {"input": np.zeros((1, 5), np.float32), "extra": np.zeros(1)})[
        "output"
    ].shape == (1, 7)


def test_concurrent_runs_are_safe(cached_backend) -> None:
    backend, graphs = cached_backend
    rng = np.random.default_rng(0)
    batches = [{"input": rng.standard_normal((i + 1, 5)).astype(np.float32)} for i in range(8)]
    want = [TorchBackend(graphs).run("mlp", b)["output"] for b in batches]
    got: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        for _ in range(5):
            got[i] = backend.run("mlp", batches[i])["output"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, atol=1e-5)


def test_thread_knob(monkeypatch: pytest.MonkeyPatch, cached_backend) -> None:
    backend, _ = cached_backend
    monkeypatch.setenv("OMNINFT_ORT_THREADS", "1")
    assert default_intra_op_threads() == 1
    one = OrtBackend({"mlp": backend.path("mlp")})
    assert one.intra_op_threads == 1
    monkeypatch.setenv("OMNINFT_ORT_THREADS", "zero")
    with pytest.raises(ValueError, match="OMNINFT_ORT_THREADS"):
        default_intra_op_threads()
    monkeypatch.delenv("OMNINFT_ORT_THREADS")
    assert 1 <= default_intra_op_threads() <= (torch.get_num_threads() or 1) * 4


def test_cuda_device_without_gpu_provider_falls_back_loudly(cached_backend, caplog, monkeypatch) -> None:
    backend, _ = cached_backend
    monkeypatch.setattr(providers, "available_providers", lambda: [CPU_EP])
    with caplog.at_level(logging.WARNING, logger=providers.__name__):
        cuda = OrtBackend({"mlp": backend.path("mlp")}, device="cuda:0")
    assert cuda.providers("mlp") == [CPU_EP]
    assert "CUDAExecutionProvider" in caplog.text and 'pip install "omninft[gpu]"' in caplog.text


# ------------------------------------------------------------------------------------ provider selection


def test_cpu_selects_cpu_only() -> None:
    assert select_providers("cpu") == [CPU_EP]
    assert select_providers("cpu", prefer_tensorrt_ep=True) == [CPU_EP]


def test_cuda_with_everything_available(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(providers, "available_providers", lambda: [TENSORRT_EP, CUDA_EP, CPU_EP])
    assert select_providers("cuda:1") == [(CUDA_EP, {"device_id": 1}), CPU_EP]
    chosen = select_providers("cuda:1", prefer_tensorrt_ep=True, trt_cache_dir=str(tmp_path / "trt"))
    assert [p[0] if isinstance(p, tuple) else p for p in chosen] == [TENSORRT_EP, CUDA_EP, CPU_EP]
    trt_options = chosen[0][1]
    assert trt_options["device_id"] == 1 and trt_options["trt_fp16_enable"] is True
    assert trt_options["trt_engine_cache_enable"] and trt_options["trt_engine_cache_path"] == str(
        tmp_path / "trt"
    )
    assert (tmp_path / "trt").is_dir()
    assert select_providers("cuda", prefer_tensorrt_ep=True, trt_fp16=False)[0][1]["trt_fp16_enable"] is False


def test_missing_gpu_providers_warn_or_fail(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setattr(providers, "available_providers", lambda: [CUDA_EP, CPU_EP])
    with caplog.at_level(logging.WARNING, logger=providers.__name__):
        chosen = select_providers("cuda:0", prefer_tensorrt_ep=True)
    assert chosen == [(CUDA_EP, {"device_id": 0}), CPU_EP]
    assert TENSORRT_EP in caplog.text
    monkeypatch.setattr(providers, "available_providers", lambda: [CPU_EP])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=providers.__name__):
        assert select_providers("cuda:0") == [CPU_EP]
    assert "running on the CPU" in caplog.text
    with pytest.raises(RuntimeError, match=r"omninft\[gpu\]"):
        select_providers("cuda:0", strict=True)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "mps", "cpu:1", ""])
def test_bad_devices_are_rejected(device: str) -> None:
    with pytest.raises(ValueError, match="unsupported device"):
        select_providers(device)


def test_profile_shapes_and_ep_profile_strings() -> None:
    spec = make_graphs()["text"]
    profile = profile_shapes(spec, 16)
    assert profile["input_ids"] == ((1, 1), (8, 6), (16, 12))
    assert profile_shapes(spec, 1)["input_ids"] == ((1, 1), (1, 6), (1, 12))
    ranged = profile_shapes(spec, 8, axis_ranges={"tokens": (2, 77)})
    assert ranged["attention_mask"] == ((1, 2), (4, 6), (8, 77))
    assert profile_shapes(make_graphs()["mlp"], 4)["input"] == ((1, 5), (2, 5), (4, 5))
    with pytest.raises(ValueError, match="outside the profile range"):
        profile_shapes(spec, 8, axis_ranges={"tokens": (1, 4)})
    with pytest.raises(ValueError, match="max_batch_size"):
        profile_shapes(spec, 0)
    options = tensorrt_ep_options(0, None, profile=profile)
    assert options["trt_profile_min_shapes"] == "input_ids:1x1,attention_mask:1x1"
    assert options["trt_profile_max_shapes"] == "input_ids:16x12,attention_mask:16x12"
    assert "trt_engine_cache_enable" not in options


# ------------------------------------------------------------------------------ TensorRT without a GPU


def test_tensorrt_backend_fails_clearly_without_tensorrt_or_gpu() -> None:
    pytest.importorskip("omninft.reward_servers.backends.tensorrt_backend")
    from omninft.reward_servers.backends import tensorrt_backend

    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r'pip install "omninft\[gpu\]"'):
            create_backend("tensorrt", make_graphs(), device="cuda:0")
    with pytest.raises(ValueError, match="CUDA devices only"):
        tensorrt_backend.cuda_index("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            tensorrt_backend.cuda_index("cuda:0")
