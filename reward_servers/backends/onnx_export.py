"""Export one GraphSpec to ONNX (dynamic batch, atomic write, provenance metadata) and check it against torch.

Exporter policy (measured with torch 2.13 / onnxruntime 1.31 on CPU, see the module notes in the report):
the dynamo exporter is tried first because it is the maintained one, fails loudly instead of baking traced
Python branches into constants, and is the only one that handles STFT/rfft front ends and MotionFormer; the
TorchScript exporter is the fallback. Both give the same ORT accuracy and speed on the CLAP/CLIP towers.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import inspect
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from omninft.reward_servers.backends.base import GraphSpec

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
# protobuf refuses messages over 2 GiB; keep headroom for the graph itself.
EXTERNAL_DATA_BYTES = 1_800_000_000
# With external data, tensors smaller than this stay inline (shapes, small constants).
EXTERNAL_TENSOR_MIN_BYTES = 1024
CACHE_ENV = "OMNINFT_CACHE_DIR"

META_EXPORTER = "omninft.exporter"
META_STRUCTURE = "omninft.structure_sha256"
META_STATE = "omninft.state_sha256"
META_TORCH = "omninft.torch_version"

RunFn = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]


class ExportError(RuntimeError):
    """No exporter could turn the graph into a valid ONNX model."""


# ---------------------------------------------------------------------------------------------------------
# Export


class _Positional(torch.nn.Module):
    """Calls `module(**inputs)` from positional tensors so both exporters see one flat, ordered signature."""

    def __init__(self, module: torch.nn.Module, input_names: Sequence[str], half: bool = False) -> None:
        super().__init__()
        self.inner = module
        self.input_names = tuple(input_names)
        self.half_precision = half

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.half_precision:
            args = tuple(a.half() if a.is_floating_point() else a for a in args)
        out = self.inner(**dict(zip(self.input_names, args, strict=True)))
        outs = tuple(out) if isinstance(out, tuple | list) else (out,)
        if self.half_precision:
            # fp32 at the graph boundary keeps the I/O contract of the fp32 graph.
            outs = tuple(o.float() if o.is_floating_point() else o for o in outs)
        return outs


def fold_weight_norm(module: torch.nn.Module) -> torch.nn.Module:
    """Bake weight-norm parametrisations into plain weights (smaller, faster graphs); returns a folded copy.

    Legacy `torch.nn.utils.weight_norm` hooks are left alone: the exporters trace them correctly, and such
    modules cannot be deep-copied.
    """
    from torch.nn.utils import parametrize

    if not any(parametrize.is_parametrized(m) for m in module.modules()):
        return module
    try:
        module = copy.deepcopy(module)
    except RuntimeError as exc:
        logger.info("not folding weight norm (module cannot be copied: %s)", exc)
        return module
    for m in module.modules():
        if parametrize.is_parametrized(m):
            # Not parametrize.remove_parametrizations: it deletes the property from the generated class, which
            # the deep copy shares with the caller's module, breaking the original.
            names = list(cast(torch.nn.ModuleDict, m.parametrizations).keys())
            values = {name: getattr(m, name).detach().clone() for name in names}
            del m.parametrizations
            m.__class__ = type(m).__bases__[0]
            for name, value in values.items():
                m.register_parameter(name, torch.nn.Parameter(value, requires_grad=False))
    return module


def _module_device(module: torch.nn.Module) -> torch.device:
    """Device of the module's first parameter or buffer (CPU for stateless modules)."""
    for param in module.parameters():
        return param.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")


def _state_bytes(module: torch.nn.Module) -> int:
    """Bytes held by parameters and buffers (decides whether weights go to an external data file)."""
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def _export_example_args(spec: GraphSpec, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Example tensors in input order; a batch of 1 is tiled to 2 because exporters specialise size-1 dims."""
    args = []
    for name in spec.input_names:
        if name not in spec.example_inputs:
            raise ValueError(f"GraphSpec has no example input for {name!r}")
        arr = np.ascontiguousarray(spec.example_inputs[name])
        if arr.ndim == 0:
            raise ValueError(f"example input {name!r} is a scalar; every graph input needs a batch axis")
        if arr.shape[0] == 1:
            arr = np.concatenate([arr, arr], axis=0)
        args.append(torch.from_numpy(arr).to(device))
    return tuple(args)


def _axes_by_tensor(spec: GraphSpec) -> dict[str, dict[int, str]]:
    """Axis names for every input and output: batch on axis 0 plus the spec's named axes."""
    axes: dict[str, dict[int, str]] = {}
    for name in (*spec.input_names, *spec.output_names):
        axes[name] = {0: "batch", **{int(k): v for k, v in spec.dynamic_axes.get(name, {}).items()}}
    return axes


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence exporter noise that says nothing about our graphs (missing torchvision ops, tracer chatter)."""

    class _NoTorchvision(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "torchvision" not in record.getMessage()

    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    flt = _NoTorchvision()
    registration.addFilter(flt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*dynamic_axes.*")
            # Shared axis names (batch, tokens) are meant to be one symbol; the exporter notes it at length.
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used.*")
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1.*")
            yield
    finally:
        registration.removeFilter(flt)


def _run_exporter(
    wrapper: _Positional,
    args: tuple[torch.Tensor, ...],
    spec: GraphSpec,
    out: Path,
    *,
    opset: int,
    dynamo: bool,
    external: bool,
) -> None:
    """One torch.onnx.export call with named I/O and the dynamic axes in the form each exporter wants."""
    axes = _axes_by_tensor(spec)
    common: dict[str, Any] = dict(
        input_names=list(spec.input_names),
        output_names=list(spec.output_names),
        opset_version=opset,
        external_data=external,
        verbose=False,
    )
    with torch.no_grad(), _quiet_export():
        if dynamo:
            # Strings become Dim.DYNAMIC and are renamed in the ONNX graph afterwards; unlike named Dims they
            # let torch.export refine ranges (e.g. seq <= max positions) instead of failing.
            shapes = (tuple(axes[n] for n in spec.input_names),)
            torch.onnx.export(wrapper, args, str(out), dynamo=True, dynamic_shapes=shapes, **common)
        else:
            torch.onnx.export(
                wrapper, args, str(out), dynamo=False, dynamic_axes=axes, do_constant_folding=True, **common
            )


def _check_dynamic(model: Any, spec: GraphSpec) -> None:
    """Raise ExportError if an axis declared dynamic came out static (the exporter specialised it)."""
    axes = _axes_by_tensor(spec)
    for value in (*model.graph.input, *model.graph.output):
        if value.name not in axes:
            continue
        dims = value.type.tensor_type.shape.dim
        for axis, name in axes[value.name].items():
            if axis < len(dims) and dims[axis].HasField("dim_value"):
                raise ExportError(
                    f"{value.name!r} axis {axis} ({name!r}) was exported as the constant {dims[axis].dim_value}; "
                    "the model specialises that axis"
                )


def _finalise(
    raw: Path, final: Path, spec: GraphSpec, *, external: bool, metadata: Mapping[str, str]
) -> None:
    """Validate the raw export, stamp provenance metadata, and write it (one weights file if external)."""
    import onnx

    model = onnx.load(str(raw), load_external_data=True)
    _check_dynamic(model, spec)
    names_in = [v.name for v in model.graph.input]
    names_out = [v.name for v in model.graph.output]
    if set(names_in) - set(spec.input_names) or names_out != list(spec.output_names):
        raise ExportError(f"exported I/O names {names_in} -> {names_out} differ from the GraphSpec")
    unused = [n for n in spec.input_names if n not in names_in]
    if unused:
        # Backends ignore extra inputs, so callers may keep passing them.
        logger.info(
            "%s: inputs %s do not affect the outputs and were dropped from the graph", final.name, unused
        )
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    if external:
        onnx.save_model(
            model,
            str(final),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=final.name + ".data",
            size_threshold=EXTERNAL_TENSOR_MIN_BYTES,
        )
    else:
        onnx.save_model(model, str(final))


def _publish(tmp_dir: Path, path: Path) -> None:
    """Move the finished files into place, weights first, the .onnx last (its presence marks completion)."""
    data = tmp_dir / (path.name + ".data")
    stale = path.with_name(path.name + ".data")
    if data.exists():
        os.replace(data, stale)
    elif stale.exists():
        stale.unlink()
    os.replace(tmp_dir / path.name, path)


def export_graph(
    spec: GraphSpec,
    path: Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamo: bool | None = None,
    half: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Export `spec` to `path` (atomically) and return it.

    Axis 0 of every input and output is dynamic, plus `spec.dynamic_axes`. `dynamo=None` tries the dynamo
    exporter and falls back to TorchScript; True/False forces one. Models over ~1.8 GB store their weights in
    `<path>.data`. `half=True` exports an fp16 graph with fp32 inputs/outputs (strongly typed TensorRT).
    The exporter used and `metadata` are stored in the model's metadata_props.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = fold_weight_norm(spec.module.eval())
    if half:
        # Never cast the caller's module: it is still the fp32 reference (and maybe serving).
        module = (module if module is not spec.module else copy.deepcopy(module)).half()
    device = _module_device(module)
    args = _export_example_args(spec, device)
    wrapper = _Positional(module, spec.input_names, half=half).eval()
    external = _state_bytes(module) > EXTERNAL_DATA_BYTES
    order = [True, False] if dynamo is None else [bool(dynamo)]
    errors: list[str] = []
    for use_dynamo in order:
        exporter = "dynamo" if use_dynamo else "torchscript"
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            raw_dir = tmp_dir / "raw"
            raw_dir.mkdir()
            t0 = time.perf_counter()
            _run_exporter(
                wrapper, args, spec, raw_dir / path.name, opset=opset, dynamo=use_dynamo, external=external
            )
            meta = {META_EXPORTER: exporter, META_TORCH: torch.__version__, **(metadata or {})}
            _finalise(raw_dir / path.name, tmp_dir / path.name, spec, external=external, metadata=meta)
            _publish(tmp_dir, path)
            logger.info(
                "exported %s with the %s exporter in %.1f s", path, exporter, time.perf_counter() - t0
            )
            return path
        except Exception as exc:  # any exporter failure means: try the next exporter
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            errors.append(f"{exporter}: {type(exc).__name__}: {first_line}")
            if use_dynamo and len(order) > 1:
                logger.warning(
                    "dynamo export of %s failed (%s); falling back to TorchScript", path.name, first_line
                )
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    raise ExportError(f"could not export {path.name}: " + "; ".join(errors))


def onnx_metadata(path: Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (without loading external weights)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def onnx_files(path: Path) -> list[Path]:
    """The files that make up an exported graph: the .onnx and, if present, its external weights."""
    data = Path(path).with_name(Path(path).name + ".data")
    return [Path(path), data] if data.exists() else [Path(path)]


# ---------------------------------------------------------------------------------------------------------
# Fingerprints and the cache layout


def _class_source_digest(module: torch.nn.Module) -> str:
    """Hash of the source of every module class in the graph: code changes invalidate cached exports."""
    h = hashlib.sha256()
    for cls in sorted({type(m) for m in module.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        try:
            h.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):
            pass
    return h.hexdigest()


def structure_sha256(spec: GraphSpec, *, opset: int = DEFAULT_OPSET) -> str:
    """Identity of the graph without its weight values: code, I/O contract, parameter shapes, opset."""
    desc = {
        "code": _class_source_digest(spec.module),
        "inputs": list(spec.input_names),
        "outputs": list(spec.output_names),
        "examples": {
            k: [str(np.asarray(v).dtype), list(np.asarray(v).shape[1:])]
            for k, v in spec.example_inputs.items()
        },
        "dynamic_axes": {k: {str(a): n for a, n in v.items()} for k, v in sorted(spec.dynamic_axes.items())},
        "state": [[k, list(t.shape), str(t.dtype)] for k, t in spec.module.state_dict().items()],
        "opset": opset,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def state_sha256(module: torch.nn.Module) -> str:
    """sha256 over the module's parameters and buffers (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """Where exported graphs are cached: $OMNINFT_CACHE_DIR/onnx, else ~/.cache/omninft/onnx."""
    root = os.environ.get(CACHE_ENV, "").strip()
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "omninft"
    return base / "onnx"


def graph_dir(onnx_dir: str | os.PathLike[str] | None, cache_key: str, spec: GraphSpec | None = None) -> Path:
    """The folder holding a scorer's exported graphs: `<onnx_dir or default>/<cache_key>`.

    Without a cache key, a given `onnx_dir` is used as is (e.g. the output of `omninft-export`), and the default
    cache falls back to a folder named by the graph's structure hash so unrelated scorers never collide.
    """
    if cache_key and (
        os.sep in cache_key or cache_key in (".", "..") or (os.altsep and os.altsep in cache_key)
    ):
        raise ValueError(f"cache_key {cache_key!r} must be a single folder name")
    if onnx_dir:
        return Path(onnx_dir).expanduser() / cache_key if cache_key else Path(onnx_dir).expanduser()
    if cache_key:
        return default_cache_dir() / cache_key
    if spec is None:
        raise ValueError("a cache key or an onnx_dir is needed to locate exported graphs")
    return default_cache_dir() / ("unkeyed-" + structure_sha256(spec)[:16])


def is_fresh(meta: Mapping[str, str], spec: GraphSpec, *, opset: int, verify_state: bool, path: Path) -> bool:
    """Whether a cached graph with metadata `meta` still matches `spec` (foreign files are trusted, loudly)."""
    if META_STRUCTURE not in meta:
        logger.warning("%s carries no omninft fingerprint; using it as is", path)
        return True
    if meta[META_STRUCTURE] != structure_sha256(spec, opset=opset):
        logger.info("%s is stale (graph code, I/O or shapes changed): re-exporting", path)
        return False
    if verify_state and meta.get(META_STATE) and meta[META_STATE] != state_sha256(spec.module):
        logger.info("%s is stale (different weights): re-exporting", path)
        return False
    return True


def fingerprint_metadata(spec: GraphSpec, *, opset: int, with_state: bool) -> dict[str, str]:
    """Metadata stamped into cached exports so later runs can tell whether they are stale."""
    meta = {META_STRUCTURE: structure_sha256(spec, opset=opset)}
    if with_state:
        meta[META_STATE] = state_sha256(spec.module)
    return meta


def ensure_onnx(
    spec: GraphSpec,
    path: Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamo: bool | None = None,
    verify_state: bool = False,
    half: bool = False,
) -> tuple[Path, bool]:
    """Return (path, exported): reuse a fresh export at `path`, else export it. `verify_state` also hashes weights."""
    path = Path(path)
    if path.exists():
        try:
            meta = onnx_metadata(path)
        except Exception as exc:  # a truncated or foreign file: replace it rather than fail the server
            logger.warning("cannot read cached graph %s (%s): re-exporting", path, exc)
        else:
            if is_fresh(meta, spec, opset=opset, verify_state=verify_state, path=path):
                return path, False
    meta = fingerprint_metadata(spec, opset=opset, with_state=verify_state)
    return export_graph(spec, path, opset=opset, dynamo=dynamo, half=half, metadata=meta), True


def locate_onnx(
    graph: str,
    spec: GraphSpec,
    *,
    onnx_dir: str | os.PathLike[str] | None,
    cache_key: str,
    opset: int = DEFAULT_OPSET,
    dynamo: bool | None = None,
) -> tuple[Path, bool]:
    """Find or make `graph`'s ONNX file for a backend; returns (path, exported).

    Looks in `<onnx_dir or cache>/<cache_key>/<graph>.onnx` (exporting there if missing or stale). A flat
    `<onnx_dir>/<graph>.onnx`, as written by `omninft-export --out onnx_dir`, is used instead when the keyed
    file does not exist yet and the flat file's weights hash matches the module's.
    """
    keyed = graph_dir(onnx_dir, cache_key, spec) / f"{graph}.onnx"
    flat = Path(onnx_dir).expanduser() / f"{graph}.onnx" if onnx_dir else None
    if cache_key and flat is not None and flat.exists() and not keyed.exists():
        meta = onnx_metadata(flat)
        if META_STATE in meta and is_fresh(meta, spec, opset=opset, verify_state=True, path=flat):
            return flat, False
    return ensure_onnx(spec, keyed, opset=opset, dynamo=dynamo, verify_state=not cache_key)


# ---------------------------------------------------------------------------------------------------------
# Numerical check


@dataclass(frozen=True)
class OutputError:
    """Worst disagreement on one output: absolute, and relative to the reference's largest magnitude."""

    max_abs: float
    max_rel: float


@dataclass(frozen=True)
class CheckReport:
    """Result of running an exported graph and torch eager on the same random inputs."""

    path: Path
    batch_sizes: tuple[int, ...]
    input_shapes: tuple[dict[str, tuple[int, ...]], ...]
    outputs: dict[str, OutputError] = field(default_factory=dict)

    @property
    def max_abs(self) -> float:
        """Largest absolute error over all outputs."""
        return max((e.max_abs for e in self.outputs.values()), default=0.0)

    @property
    def max_rel(self) -> float:
        """Largest relative error over all outputs."""
        return max((e.max_rel for e in self.outputs.values()), default=0.0)

    def ok(self, rtol: float = 1e-3) -> bool:
        """Whether every output agrees within `rtol` of its scale."""
        return all(np.isfinite(e.max_rel) and e.max_rel <= rtol for e in self.outputs.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for manifests)."""
        return {
            "batch_sizes": list(self.batch_sizes),
            "input_shapes": [{k: list(v) for k, v in s.items()} for s in self.input_shapes],
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "outputs": {k: {"max_abs": e.max_abs, "max_rel": e.max_rel} for k, e in self.outputs.items()},
        }


def random_inputs(
    spec: GraphSpec,
    batch: int,
    rng: np.random.Generator,
    *,
    sizes: Mapping[str, int] | None = None,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, np.ndarray]:
    """Random inputs shaped like the examples with batch `batch` (named axes resized by `sizes`).

    Floats: normal noise at the example's mean and spread. Integers: uniform in `input_ranges[name]` or the
    example's [min, max] (token ids stay inside the vocabulary); 0/1 and bool inputs (masks) reuse example
    rows so every row keeps at least the example's valid positions.
    """
    sizes = dict(sizes or {})
    ranges = dict(input_ranges or {})
    out: dict[str, np.ndarray] = {}
    for name in spec.input_names:
        ex = np.asarray(spec.example_inputs[name])
        rows = ex[np.arange(batch) % ex.shape[0]]
        for axis, axis_name in spec.dynamic_axes.get(name, {}).items():
            if axis_name in sizes:
                rows = np.take(rows, np.arange(sizes[axis_name]) % rows.shape[axis], axis=axis)
        shape = rows.shape
        if np.issubdtype(ex.dtype, np.floating):
            mean = float(ex.mean()) if ex.size else 0.0
            std = float(ex.std()) if ex.size else 1.0
            arr = rng.standard_normal(shape) * (std if std > 0 else 1.0) + mean
        elif ex.dtype == np.bool_ or (
            name not in ranges and ex.size and set(np.unique(ex).tolist()) <= {0, 1}
        ):
            arr = rows
        elif np.issubdtype(ex.dtype, np.integer):
            lo, hi = ranges.get(name, (int(ex.min()), int(ex.max())) if ex.size else (0, 1))
            arr = rng.integers(int(lo), int(hi) + 1, size=shape)
        else:
            raise TypeError(f"input {name!r} has unsupported dtype {ex.dtype}")
        out[name] = np.ascontiguousarray(arr, dtype=ex.dtype)
    return out


def _compare(got: np.ndarray, ref: np.ndarray) -> OutputError:
    """Max abs error and the same relative to the reference's largest magnitude (NaN where both agree on NaN)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return OutputError(float("inf"), float("inf"))
    both_nan = np.isnan(got) & np.isnan(ref)
    diff = np.where(both_nan, 0.0, np.abs(got - ref))
    diff = np.where(np.isnan(diff), np.inf, diff)
    max_abs = float(diff.max()) if diff.size else 0.0
    finite = np.abs(ref[np.isfinite(ref)])
    scale = max(float(finite.max()) if finite.size else 0.0, 1e-12)
    return OutputError(max_abs, max_abs / scale)


def compare_with_torch(
    spec: GraphSpec,
    run: RunFn,
    *,
    path: Path,
    batch_sizes: Sequence[int] = (1, 3),
    seed: int = 0,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    vary_dynamic_axes: bool = True,
) -> CheckReport:
    """Run `run` (an exported graph) and torch eager on the same random inputs; collect the worst errors.

    Each batch size runs at the example sizes of the named dynamic axes; with `vary_dynamic_axes` the largest
    batch runs once more with every named axis halved, to prove those axes dynamic too.
    """
    from omninft.reward_servers.backends.torch_backend import TorchBackend

    reference = TorchBackend({"graph": spec}, device=str(_module_device(spec.module)))
    rng = np.random.default_rng(seed)
    plans: list[tuple[int, dict[str, int]]] = [(b, {}) for b in batch_sizes]
    named: dict[str, int] = {}
    for name, axes in spec.dynamic_axes.items():
        if name in spec.input_names:
            for axis, axis_name in axes.items():
                named.setdefault(axis_name, int(np.asarray(spec.example_inputs[name]).shape[axis]))
    if vary_dynamic_axes and named:
        halved = {k: max(1, v // 2) for k, v in named.items()}
        if halved != named:
            plans.append((max(batch_sizes), halved))
    errors: dict[str, OutputError] = {}
    shapes: list[dict[str, tuple[int, ...]]] = []
    for batch, sizes in plans:
        inputs = random_inputs(spec, batch, rng, sizes=sizes, input_ranges=input_ranges)
        shapes.append({k: tuple(v.shape) for k, v in inputs.items()})
        ref = reference.run("graph", inputs)
        got = run(inputs)
        for name in spec.output_names:
            if name not in got:
                raise ExportError(f"exported graph has no output {name!r}")
            err = _compare(got[name], ref[name])
            old = errors.get(name)
            errors[name] = (
                err
                if old is None
                else OutputError(max(old.max_abs, err.max_abs), max(old.max_rel, err.max_rel))
            )
    return CheckReport(Path(path), tuple(batch_sizes), tuple(shapes), errors)


def check_graph(
    spec: GraphSpec,
    onnx_path: Path,
    *,
    batch_sizes: Sequence[int] = (1, 3),
    seed: int = 0,
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    providers: Sequence[Any] | None = None,
) -> CheckReport:
    """Compare torch eager with ONNX Runtime (CPU unless `providers`) on random inputs at several batch sizes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        str(onnx_path), options, providers=list(providers or ["CPUExecutionProvider"])
    )
    names = [o.name for o in session.get_outputs()]
    feeds = {i.name for i in session.get_inputs()}

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = session.run(names, {k: v for k, v in inputs.items() if k in feeds})
        return dict(zip(names, outs, strict=True))

    return compare_with_torch(
        spec, run, path=Path(onnx_path), batch_sizes=batch_sizes, seed=seed, input_ranges=input_ranges
    )
