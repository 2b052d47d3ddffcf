"""ONNX Runtime execution-provider selection, CPU thread defaults and TensorRT optimisation profiles."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from omninft.reward_servers.backends.base import GraphSpec

logger = logging.getLogger(__name__)

CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
TENSORRT_EP = "TensorrtExecutionProvider"

THREADS_ENV = "OMNINFT_ORT_THREADS"

Provider = str | tuple[str, dict[str, Any]]
# Per input: (min, opt, max) shapes of one optimisation profile.
ProfileShapes = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def parse_device(device: str) -> tuple[str, int]:
    """Split "cpu" / "cuda" / "cuda:N" into (kind, index); raises ValueError for anything else."""
    kind, _, index = device.strip().lower().partition(":")
    if kind == "cpu" and not index:
        return "cpu", 0
    if kind == "cuda" and (not index or index.isdigit()):
        return "cuda", int(index or 0)
    raise ValueError(f"unsupported device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


def available_providers() -> list[str]:
    """Execution providers compiled into the installed onnxruntime build."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def select_providers(
    device: str,
    *,
    prefer_tensorrt_ep: bool = False,
    trt_cache_dir: str | None = None,
    trt_fp16: bool = True,
    trt_profile: ProfileShapes | None = None,
    strict: bool = False,
) -> list[Provider]:
    """Ordered ONNX Runtime providers for `device`, filtered by what the installed onnxruntime offers.

    "cpu" gives the CPU EP. "cuda:N" gives [TensorRT EP (only when preferred), CUDA EP on device N, CPU EP];
    a requested GPU provider that this onnxruntime build lacks is dropped with a warning (or a RuntimeError
    when `strict`), so a CPU-only wheel never runs a GPU deployment silently on the CPU.
    """
    kind, index = parse_device(device)
    if kind == "cpu":
        return [CPU_EP]
    available = set(available_providers())
    wanted: list[Provider] = []
    if prefer_tensorrt_ep:
        wanted.append(
            (TENSORRT_EP, tensorrt_ep_options(index, trt_cache_dir, fp16=trt_fp16, profile=trt_profile))
        )
    wanted.append((CUDA_EP, {"device_id": index}))
    chosen: list[Provider] = []
    for provider in wanted:
        name = provider[0] if isinstance(provider, tuple) else provider
        if name in available:
            chosen.append(provider)
            continue
        message = (
            f"device {device!r} asks for onnxruntime's {name}, but the installed onnxruntime only offers "
            f'{sorted(available)}; install the GPU build with: pip install "omninft[gpu]"'
        )
        if strict:
            raise RuntimeError(message)
        logger.warning("%s (skipping %s)", message, name)
    if not chosen:
        logger.warning("no GPU execution provider is available for %r: running on the CPU", device)
    chosen.append(CPU_EP)
    return chosen


def tensorrt_ep_options(
    device_id: int, cache_dir: str | None, *, fp16: bool = True, profile: ProfileShapes | None = None
) -> dict[str, Any]:
    """Options for onnxruntime's TensorRT EP: engine and timing caches (engine builds take minutes), fp16, profile."""
    options: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": fp16}
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        options.update(
            trt_engine_cache_enable=True,
            trt_engine_cache_path=str(cache_dir),
            trt_timing_cache_enable=True,
            trt_timing_cache_path=str(cache_dir),
        )
    if profile:
        for key, slot in (
            ("trt_profile_min_shapes", 0),
            ("trt_profile_opt_shapes", 1),
            ("trt_profile_max_shapes", 2),
        ):
            options[key] = ",".join(
                f"{name}:{'x'.join(map(str, shapes[slot]))}" for name, shapes in profile.items()
            )
    return options


def profile_shapes(
    spec: GraphSpec, max_batch_size: int, axis_ranges: Mapping[str, tuple[int, int]] | None = None
) -> ProfileShapes:
    """One TensorRT optimisation profile for `spec`.

    Batch (axis 0): min 1, opt max(1, max_batch_size // 2), max max_batch_size. A named dynamic axis: min and
    max from `axis_ranges[name]` if given, else 1 and twice the example size; opt is the example size. Every
    other axis is fixed at the example size.
    """
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    ranges = dict(axis_ranges or {})
    out: ProfileShapes = {}
    for name in spec.input_names:
        example = np.asarray(spec.example_inputs[name])
        if example.ndim == 0:
            raise ValueError(f"input {name!r} is a scalar; every graph input needs a batch axis")
        named = spec.dynamic_axes.get(name, {})
        lo, opt, hi = [1], [max(1, max_batch_size // 2)], [max_batch_size]
        for axis in range(1, example.ndim):
            size = int(example.shape[axis])
            if axis in named:
                a_min, a_max = ranges.get(named[axis], (1, 2 * size))
                if not a_min <= size <= a_max:
                    raise ValueError(
                        f"input {name!r} axis {axis} ({named[axis]!r}): example size {size} is outside the "
                        f"profile range [{a_min}, {a_max}]"
                    )
                lo.append(a_min)
                opt.append(size)
                hi.append(a_max)
            else:
                lo.append(size)
                opt.append(size)
                hi.append(size)
        out[name] = (tuple(lo), tuple(opt), tuple(hi))
    return out


def _cgroup_cpu_limit() -> int | None:
    """CPUs allowed by a cgroup v2 quota (Kubernetes CPU limits), or None when unlimited or unknown."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def _physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo: hyper-threads slow ORT's intra-op pool down."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores: set[tuple[str, str]] = set()
    package = core = ""
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not key and core:
            cores.add((package, core))
            package = core = ""
    return len(cores) or None


def default_intra_op_threads() -> int:
    """Intra-op threads: $OMNINFT_ORT_THREADS if set, else physical cores capped by affinity and cgroup quota."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
        return value
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    candidates = [logical, _physical_cores() or logical, _cgroup_cpu_limit() or logical]
    return max(1, min(candidates))
