"""Backends that execute a scorer's graphs: torch (eager), onnxruntime (CPU/CUDA/TensorRT EP), tensorrt."""

from __future__ import annotations

from collections.abc import Mapping

from omninft.reward_servers.backends.base import Backend, GraphSpec

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def create_backend(
    kind: str,
    graphs: Mapping[str, GraphSpec],
    *,
    device: str = "cpu",
    onnx_dir: str = "",
    cache_key: str = "",
    max_batch_size: int = 16,
    prefer_tensorrt_ep: bool | None = None,
) -> Backend:
    """Create a backend of `kind` for `graphs`; exported backends export missing graphs into `onnx_dir` first."""
    if kind == "torch":
        from omninft.reward_servers.backends.torch_backend import TorchBackend

        return TorchBackend(graphs, device=device)
    if kind == "onnxruntime":
        from omninft.reward_servers.backends.onnxruntime_backend import OrtBackend

        return OrtBackend.from_graphs(
            graphs,
            device=device,
            onnx_dir=onnx_dir,
            cache_key=cache_key,
            max_batch_size=max_batch_size,
            prefer_tensorrt_ep=prefer_tensorrt_ep,
        )
    if kind == "tensorrt":
        from omninft.reward_servers.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend.from_graphs(
            graphs, device=device, onnx_dir=onnx_dir, cache_key=cache_key, max_batch_size=max_batch_size
        )
    raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "GraphSpec", "create_backend"]
