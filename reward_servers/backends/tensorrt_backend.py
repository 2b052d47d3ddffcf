"""TensorRT backend: one serialized engine per graph, built from its ONNX export, run with the TensorRT 10+ API.

`tensorrt` is imported lazily (it exists only in GPU installs); torch CUDA tensors serve as device buffers and a
dedicated CUDA stream orders copies and execution.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import (
    DEFAULT_OPSET,
    META_STATE,
    META_STRUCTURE,
    ensure_onnx,
    locate_onnx,
    onnx_metadata,
)
from omninft.reward_servers.backends.providers import ProfileShapes, parse_device, profile_shapes

logger = logging.getLogger(__name__)

FP16_ENV = "OMNINFT_TRT_FP16"
INSTALL_HINT = 'pip install "omninft[gpu]"'


def import_tensorrt() -> Any:
    """The `tensorrt` module, or an ImportError that says how to install it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise ImportError(f"the TensorRT backend needs the `tensorrt` package: {INSTALL_HINT}") from exc
    return tensorrt


def cuda_index(device: str) -> int:
    """CUDA device index of `device`; a clear error for CPU devices or machines without a usable GPU."""
    kind, index = parse_device(device)
    if kind != "cuda":
        raise ValueError(f"TensorRT runs on CUDA devices only; got device {device!r} (use 'cuda:N')")
    if not torch.cuda.is_available():
        raise RuntimeError(
            "TensorRT needs a CUDA GPU, but torch sees none (CPU-only torch build or no driver)"
        )
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible"
        )
    return index


def sm_tag(index: int) -> str:
    """Compute capability of CUDA device `index` as used in plan names, e.g. "sm_90"; plans are tied to it."""
    major, minor = torch.cuda.get_device_capability(index)
    return f"sm_{major}{minor}"


def has_fp16_flag(trt: Any) -> bool:
    """TensorRT 10 builds fp16 from an fp32 ONNX with a builder flag; TensorRT 11 removed weak typing."""
    return hasattr(trt.BuilderFlag, "FP16")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename (readers never see half a plan)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    *,
    profile: ProfileShapes,
    fp16: bool = False,
    device: str = "cuda:0",
    workspace_bytes: int | None = None,
) -> Path:
    """Parse `onnx_path`, build an engine with one optimisation profile and write it to `plan_path`.

    `fp16` uses the FP16 builder flag (TensorRT 10). TensorRT 11+ has no such flag: give it an ONNX that is
    already fp16 inside (`export_graph(..., half=True)`) and leave `fp16` False.
    """
    trt = import_tensorrt()
    index = cuda_index(device)
    trt_logger = trt.Logger(trt.Logger.WARNING)
    with torch.cuda.device(index):
        builder = trt.Builder(trt_logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, trt_logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        if workspace_bytes:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
        if fp16:
            if not has_fp16_flag(trt):
                raise ValueError(
                    f"TensorRT {trt.__version__} has no FP16 builder flag; build from an fp16 ONNX "
                    "(export_graph(..., half=True)) instead"
                )
            config.set_flag(trt.BuilderFlag.FP16)
        opt_profile = builder.create_optimization_profile()
        network_inputs = [network.get_input(i).name for i in range(network.num_inputs)]
        missing = [name for name in network_inputs if name not in profile]
        if missing:
            raise ValueError(f"no profile shapes for network inputs {missing} of {onnx_path}")
        for name in network_inputs:
            lo, opt, hi = profile[name]
            opt_profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(opt_profile)
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(
            f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)"
        )
    plan_path = Path(plan_path)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(plan_path, bytes(serialized))
    return plan_path


def plan_identity(onnx_path: Path, *, profile: ProfileShapes, fp16: bool, trt_version: str) -> dict[str, Any]:
    """What a cached plan must match to be reused: TensorRT version, precision, profile and the ONNX graph."""
    meta = onnx_metadata(onnx_path)
    return {
        "tensorrt": trt_version,
        "fp16": fp16,
        "profile": {k: [list(s) for s in v] for k, v in sorted(profile.items())},
        "onnx": meta.get(META_STRUCTURE) or str(Path(onnx_path).stat().st_mtime_ns),
        "onnx_state": meta.get(META_STATE, ""),
    }


class _Engine:
    """A deserialized engine, its execution context and the lock that serialises use of the context."""

    def __init__(self, trt: Any, plan: bytes, name: str) -> None:
        self.name = name
        # The logger and runtime must outlive the engine, so they live as long as this object.
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise RuntimeError(
                f"could not deserialize the TensorRT plan of graph {name!r} (version mismatch?)"
            )
        self.context = self.engine.create_execution_context()
        self.lock = threading.Lock()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.dtypes: dict[str, np.dtype[Any]] = {}
        for i in range(self.engine.num_io_tensors):
            tensor = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(tensor)
            self.dtypes[tensor] = np.dtype(trt.nptype(self.engine.get_tensor_dtype(tensor)))


def _torch_dtype(dtype: np.dtype[Any]) -> torch.dtype:
    """The torch dtype with the same layout as a numpy dtype."""
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


class TensorRTBackend:
    """Runs TensorRT engines on one CUDA device; returns numpy like TorchBackend (float32 outputs).

    Each graph has one execution context guarded by a lock, so concurrent `run` calls are safe (serialised
    per graph). Inputs are copied to the device on a dedicated stream, outputs copied back after execution.
    """

    name = "tensorrt"

    def __init__(self, plans: Mapping[str, str | os.PathLike[str]], *, device: str = "cuda:0") -> None:
        trt = import_tensorrt()
        self._index = cuda_index(device)
        self.device = f"cuda:{self._index}"
        self.plans = {g: Path(p) for g, p in plans.items()}
        with torch.cuda.device(self._index):
            self._stream = torch.cuda.Stream(device=self._index)
            self._engines = {g: _Engine(trt, Path(p).read_bytes(), g) for g, p in self.plans.items()}

    @classmethod
    def from_graphs(
        cls,
        graphs: Mapping[str, GraphSpec],
        *,
        device: str = "cuda:0",
        onnx_dir: str | os.PathLike[str] = "",
        cache_key: str = "",
        max_batch_size: int = 16,
        fp16: bool | None = None,
        opset: int = DEFAULT_OPSET,
        dynamo: bool | None = None,
        axis_ranges: Mapping[str, tuple[int, int]] | None = None,
    ) -> TensorRTBackend:
        """Build (or reuse) `<onnx_dir or cache>/<cache_key>/<graph>.<sm_XY>.plan` for every graph, then load them.

        A plan is reused only if its sidecar JSON matches the TensorRT version, precision, profile and the
        ONNX fingerprint; missing ONNX files are exported first. `fp16` defaults to $OMNINFT_TRT_FP16.
        """
        trt = import_tensorrt()
        index = cuda_index(device)
        if fp16 is None:
            fp16 = os.environ.get(FP16_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        plans = {}
        for graph, spec in graphs.items():
            onnx_path, _ = locate_onnx(
                graph, spec, onnx_dir=onnx_dir, cache_key=cache_key, opset=opset, dynamo=dynamo
            )
            plans[graph] = ensure_engine(
                graph,
                spec,
                onnx_path,
                device=f"cuda:{index}",
                trt_version=trt.__version__,
                max_batch_size=max_batch_size,
                fp16=fp16,
                opset=opset,
                dynamo=dynamo,
                axis_ranges=axis_ranges,
                verify_state=not cache_key,
            )
        return cls(plans, device=f"cuda:{index}")

    def run(self, graph: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run graph `graph` on a batch; returns output name -> float32 numpy array (batch first)."""
        try:
            eng = self._engines[graph]
        except KeyError:
            raise KeyError(f"unknown graph {graph!r}; this backend has {sorted(self._engines)}") from None
        missing = [n for n in eng.inputs if n not in inputs]
        if missing:
            raise ValueError(f"graph {graph!r} needs inputs {eng.inputs}; missing {missing}")
        with eng.lock, torch.cuda.device(self._index), torch.cuda.stream(self._stream):
            keep: list[torch.Tensor] = []  # buffers must outlive execution
            for name in eng.inputs:
                arr = np.asarray(inputs[name])
                if arr.dtype != eng.dtypes[name]:
                    raise TypeError(
                        f"graph {graph!r} input {name!r} must be {eng.dtypes[name]}, got {arr.dtype}"
                    )
                tensor = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device, non_blocking=False)
                if not eng.context.set_input_shape(name, tuple(arr.shape)):
                    raise ValueError(
                        f"graph {graph!r} input {name!r} shape {arr.shape} is outside the engine's optimisation "
                        f"profile {tuple(eng.engine.get_tensor_profile_shape(name, 0))}"
                    )
                eng.context.set_tensor_address(name, tensor.data_ptr())
                keep.append(tensor)
            outputs: dict[str, torch.Tensor] = {}
            for name in eng.outputs:
                shape = tuple(eng.context.get_tensor_shape(name))
                if any(d < 0 for d in shape):
                    raise RuntimeError(f"graph {graph!r} output {name!r} has a data-dependent shape {shape}")
                outputs[name] = torch.empty(shape, dtype=_torch_dtype(eng.dtypes[name]), device=self.device)
                eng.context.set_tensor_address(name, outputs[name].data_ptr())
            if not eng.context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"TensorRT execution of graph {graph!r} failed")
            # .cpu() runs on the current (our) stream, so it waits for the engine.
            result = {n: t.float().cpu().numpy() for n, t in outputs.items()}
            del keep
        return result


def ensure_engine(
    graph: str,
    spec: GraphSpec,
    onnx_path: Path,
    *,
    device: str,
    trt_version: str,
    max_batch_size: int = 16,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    dynamo: bool | None = None,
    axis_ranges: Mapping[str, tuple[int, int]] | None = None,
    verify_state: bool = False,
) -> Path:
    """Return the plan for `graph` next to its fp32 `onnx_path`, building it unless a matching one exists.

    The plan is `<folder>/<graph>.<sm_XY>.plan` with a JSON sidecar recording what it was built from.
    """
    trt = import_tensorrt()
    index = cuda_index(device)
    profile = profile_shapes(spec, max_batch_size, axis_ranges)
    folder = Path(onnx_path).parent
    # TensorRT 11 takes precision from the graph: fp16 means an ONNX that is fp16 inside.
    half_graph = fp16 and not has_fp16_flag(trt)
    if half_graph:
        onnx_path, _ = ensure_onnx(
            spec,
            folder / f"{graph}.fp16.onnx",
            opset=opset,
            dynamo=dynamo,
            verify_state=verify_state,
            half=True,
        )
    plan_path = folder / f"{graph}.{sm_tag(index)}.plan"
    sidecar = plan_path.with_name(plan_path.name + ".json")
    want = plan_identity(onnx_path, profile=profile, fp16=fp16, trt_version=trt_version)
    if plan_path.exists() and sidecar.exists():
        try:
            if json.loads(sidecar.read_text()) == want:
                logger.info("graph %r: reusing TensorRT plan %s", graph, plan_path)
                return plan_path
        except (OSError, ValueError):
            pass
    logger.info("graph %r: building TensorRT plan %s (this can take minutes)", graph, plan_path)
    build_engine(onnx_path, plan_path, profile=profile, fp16=fp16 and not half_graph, device=device)
    _write_atomic(sidecar, json.dumps(want, indent=2, sort_keys=True).encode())
    return plan_path
