"""ONNX Runtime backend: exported graphs on the CPU, CUDA or TensorRT execution providers."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import (
    DEFAULT_OPSET,
    locate_onnx,
)
from omninft.reward_servers.backends.providers import (
    Provider,
    default_intra_op_threads,
    parse_device,
    profile_shapes,
    select_providers,
)

logger = logging.getLogger(__name__)

TENSORRT_EP_ENV = "OMNINFT_ORT_TENSORRT"

# ONNX tensor type strings as reported by InferenceSession.get_inputs().
_ORT_TYPES: dict[str, np.dtype[Any]] = {
    f"tensor({name})": np.dtype(dtype)
    for name, dtype in {
        "float": np.float32,
        "float16": np.float16,
        "double": np.float64,
        "bool": np.bool_,
        "int8": np.int8,
        "int16": np.int16,
        "int32": np.int32,
        "int64": np.int64,
        "uint8": np.uint8,
        "uint16": np.uint16,
        "uint32": np.uint32,
        "uint64": np.uint64,
    }.items()
}


def _env_flag(name: str) -> bool:
    """Truthy environment flag ("1", "true", "yes", "on")."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class _Graph:
    """One inference session plus the I/O contract it was exported with."""

    def __init__(self, name: str, session: Any, path: Path) -> None:
        self.name = name
        self.session = session
        self.path = path
        self.inputs = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]


SPIN_ENV = (
    "OMNINFT_ORT_SPIN"  # "1": let intra-op threads spin (lower latency when one session owns the cores)
)


# Graph optimisation level: disabled | basic | extended | all (default; measured per scorer in
# bench/perf/scripts/ort_vs_torch.py --ort-variants).
OPT_LEVEL_ENV = "OMNINFT_ORT_OPT_LEVEL"
_OPT_LEVELS = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def _opt_level(ort: Any) -> Any:
    """The GraphOptimizationLevel $OMNINFT_ORT_OPT_LEVEL names (default: all)."""
    raw = os.environ.get(OPT_LEVEL_ENV, "").strip().lower() or "all"
    if raw not in _OPT_LEVELS:
        raise ValueError(f"{OPT_LEVEL_ENV} must be one of {', '.join(_OPT_LEVELS)}, got {raw!r}")
    return getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[raw])


class OrtBackend:
    """Runs exported ONNX graphs with onnxruntime; a drop-in replacement for TorchBackend.

    `run` validates names, dtypes and fixed dimensions before calling ORT, so a caller bug surfaces as a
    clear TypeError/ValueError instead of an opaque ORT status. ORT sessions allow concurrent `run` calls,
    and this class keeps no mutable per-call state, so it is thread-safe.
    """

    name = "onnxruntime"

    def __init__(
        self,
        paths: Mapping[str, str | os.PathLike[str]],
        *,
        device: str = "cpu",
        intra_op_threads: int | None = None,
        prefer_tensorrt_ep: bool = False,
        trt_cache_dir: str | None = None,
        trt_profiles: Mapping[str, Any] | None = None,
        trt_fp16: bool = True,
    ) -> None:
        parse_device(device)
        self.device = device
        self.intra_op_threads = intra_op_threads or default_intra_op_threads()
        self._graphs: dict[str, _Graph] = {}
        for graph, path in paths.items():
            providers = select_providers(
                device,
                prefer_tensorrt_ep=prefer_tensorrt_ep,
                trt_cache_dir=trt_cache_dir,
                trt_fp16=trt_fp16,
                trt_profile=(trt_profiles or {}).get(graph),
            )
            self._graphs[graph] = _Graph(graph, self._session(Path(path), providers), Path(path))

    def _session(self, path: Path, providers: Sequence[Provider]) -> Any:
        """An InferenceSession with full graph optimisation and the configured thread count."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = _opt_level(ort)
        options.intra_op_num_threads = self.intra_op_threads
        # One executor thread per device calls us; ORT's inter-op pool would only compete for the same cores.
        options.inter_op_num_threads = 1
        # A server holds several sessions (graphs x scorers) on the same cores; threads that spin after a run
        # steal those cores from the next session (measured: tiny CLAP forward 57 ms spinning vs 30 ms not).
        if os.environ.get(SPIN_ENV, "0") != "1":
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=list(providers))

    @classmethod
    def from_graphs(
        cls,
        graphs: Mapping[str, GraphSpec],
        *,
        device: str = "cpu",
        onnx_dir: str | os.PathLike[str] = "",
        cache_key: str = "",
        max_batch_size: int = 16,
        opset: int = DEFAULT_OPSET,
        dynamo: bool | None = None,
        prefer_tensorrt_ep: bool | None = None,
        intra_op_threads: int | None = None,
    ) -> OrtBackend:
        """Export missing or stale graphs to `<onnx_dir or cache>/<cache_key>/<graph>.onnx`, then open sessions.

        `cache_key` should identify the weights (their sha256); without one the weights are hashed at start-up
        so a different checkpoint never reuses a stale graph. `prefer_tensorrt_ep` (default: the
        $OMNINFT_ORT_TENSORRT flag) puts onnxruntime's TensorRT EP first on CUDA devices, with an engine cache
        next to the graphs and an optimisation profile up to `max_batch_size`.
        """
        parse_device(device)
        use_trt = _env_flag(TENSORRT_EP_ENV) if prefer_tensorrt_ep is None else prefer_tensorrt_ep
        paths: dict[str, Path] = {}
        profiles: dict[str, Any] = {}
        for graph, spec in graphs.items():
            paths[graph], exported = locate_onnx(
                graph, spec, onnx_dir=onnx_dir, cache_key=cache_key, opset=opset, dynamo=dynamo
            )
            logger.info("graph %r: %s %s", graph, "exported to" if exported else "reusing", paths[graph])
            if use_trt:
                profiles[graph] = profile_shapes(spec, max_batch_size)
        trt_cache = next(iter(paths.values())).parent / "ort-trt-cache" if paths and use_trt else None
        return cls(
            paths,
            device=device,
            intra_op_threads=intra_op_threads,
            prefer_tensorrt_ep=use_trt,
            trt_cache_dir=str(trt_cache) if trt_cache else None,
            trt_profiles=profiles,
        )

    @property
    def graphs(self) -> list[str]:
        """Names of the loaded graphs."""
        return list(self._graphs)

    def path(self, graph: str) -> Path:
        """The ONNX file behind `graph`."""
        return self._get(graph).path

    def providers(self, graph: str) -> list[str]:
        """Execution providers ORT actually enabled for `graph` (in priority order)."""
        return list(self._get(graph).session.get_providers())

    def metadata(self, graph: str) -> dict[str, str]:
        """The custom metadata stored in `graph`'s ONNX file (exporter, fingerprints)."""
        return dict(self._get(graph).session.get_modelmeta().custom_metadata_map)

    def _get(self, graph: str) -> _Graph:
        try:
            return self._graphs[graph]
        except KeyError:
            raise KeyError(f"unknown graph {graph!r}; this backend has {sorted(self._graphs)}") from None

    def _feed(self, g: _Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check every declared input against the session's types and fixed dims; extra keys are ignored."""
        missing = [name for name, _, _ in g.inputs if name not in inputs]
        if missing:
            raise ValueError(
                f"graph {g.name!r} needs inputs {[n for n, _, _ in g.inputs]}; missing {missing} "
                f"(got {sorted(inputs)})"
            )
        feed: dict[str, np.ndarray] = {}
        for name, type_str, shape in g.inputs:
            arr = np.asarray(inputs[name])
            expected = _ORT_TYPES.get(type_str)
            if expected is not None and arr.dtype != expected:
                raise TypeError(
                    f"graph {g.name!r} input {name!r} must be {expected} ({type_str}), got {arr.dtype}; "
                    f"cast it in the scorer's preprocess"
                )
            if arr.ndim != len(shape):
                raise ValueError(
                    f"graph {g.name!r} input {name!r} must have rank {len(shape)} {shape}, got shape {arr.shape}"
                )
            bad = [
                (i, d, arr.shape[i]) for i, d in enumerate(shape) if isinstance(d, int) and d != arr.shape[i]
            ]
            if bad:
                raise ValueError(f"graph {g.name!r} input {name!r} has shape {arr.shape}, expected {shape}")
            feed[name] = np.ascontiguousarray(arr)
        return feed

    def run(self, graph: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run graph `graph` on a batch; returns output name -> float32 array (batch first), like TorchBackend."""
        g = self._get(graph)
        outs = g.session.run(g.output_names, self._feed(g, inputs))
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(g.output_names, outs, strict=True)}
