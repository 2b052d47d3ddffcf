"""Helpers shared by the embedding scorers: chunked backend calls and text encoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec, create_backend
from omninft.reward_servers.models import ProjectedTextCore
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.spec import model_options


def on_cpu(cfg: ScorerConfig) -> bool:
    """Whether the scorer's device is a CPU."""
    return str(cfg.device).split(":", 1)[0] == "cpu"


def rows_per_call(cfg: ScorerConfig, chosen: int, *, cpu: int, accelerator: int) -> int:
    """Rows per graph call: `chosen` when set (> 0), else the device's default.

    The CPU defaults are measured per scorer (`bench/perf/scripts/cpu_rows.py`): where a row costs the same
    alone as in a full chunk, one row per call never pays for the padded rows `run_chunked` adds to a partial
    chunk, and its output cannot depend on the batch make-up at all.
    """
    if chosen > 0:
        return int(chosen)
    return cpu if on_cpu(cfg) else accelerator


def run_chunked(
    backend: Backend, graph: str, inputs: Mapping[str, np.ndarray], output: str, chunk: int
) -> np.ndarray:
    """Run `graph` over the batch axis in calls of exactly `chunk` rows; returns output `output` stacked.

    The last call is padded with copies of its last row (their outputs are dropped). Every call then has the
    same shape, so a row's output never depends on how many other rows shared its batch: GEMM and convolution
    kernels pick their blocking by shape and a different batch size changes the last bits (issue 13: resumed
    runs differed from clean ones).
    """
    n = next(iter(inputs.values())).shape[0]
    if n == 0:
        raise ValueError(f"empty batch for graph {graph!r}")
    step = max(int(chunk), 1)
    parts = []
    for start in range(0, n, step):
        rows = min(step, n - start)
        sl = {k: _pad_rows(np.ascontiguousarray(v[start : start + step]), step) for k, v in inputs.items()}
        parts.append(np.asarray(backend.run(graph, sl)[output], dtype=np.float32)[:rows])
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def even_splits(n: int, max_rows: int) -> list[tuple[int, int]]:
    """(start, stop) of ceil(n / max_rows) calls over n rows, sizes as equal as possible (no padded rows)."""
    calls = -(-n // max(int(max_rows), 1))
    bounds = [round(i * n / calls) for i in range(calls + 1)] if calls else [0]
    return [(bounds[i], bounds[i + 1]) for i in range(calls)]


def run_per_item(
    backend: Backend,
    graph: str,
    arrays: Sequence[np.ndarray],
    input_name: str,
    output: str,
    max_rows: int,
) -> list[np.ndarray]:
    """Run `graph` over each item's rows on its own, in even calls of at most `max_rows` rows; per-item outputs.

    The calls a row shares depend only on its own item's row count, never on the other items of the batch,
    so the outputs are bit-identical whatever the batch make-up, without padded rows. On a CPU this is the
    better trade where a call of a few rows is much cheaper per row than a call of one, and a larger call no
    cheaper still (ImageBind-Huge at 2 threads: 1.90 s per row alone, 1.67-1.69 s at 4-16 rows, cpu_rows).
    """
    out = []
    for arr in arrays:
        if arr.shape[0] == 0:
            raise ValueError(f"empty input for graph {graph!r}")
        parts = [
            np.asarray(
                backend.run(graph, {input_name: np.ascontiguousarray(arr[a:b])})[output], dtype=np.float32
            )
            for a, b in even_splits(arr.shape[0], max_rows)
        ]
        out.append(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0))
    return out


def _pad_rows(arr: np.ndarray, rows: int) -> np.ndarray:
    """`arr` with its last row repeated up to `rows` rows (a real input, so padded rows never produce NaN)."""
    if arr.shape[0] >= rows:
        return arr
    return np.ascontiguousarray(
        np.concatenate([arr, np.repeat(arr[-1:], rows - arr.shape[0], axis=0)], axis=0)
    )


def text_max_length(tokenizer: Any, max_positions: int) -> int:
    """Token limit: the tokenizer's model_max_length, never beyond what the position table can hold."""
    limit = getattr(tokenizer, "model_max_length", None)
    if not isinstance(limit, int) or limit <= 0 or limit > max_positions:
        limit = max_positions
    return int(limit)


def tokenize(tokenizer: Any, prompts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
    """HF-processor tokenisation: pad to the longest prompt of the call, truncate at max_length; int64 arrays."""
    enc = tokenizer(list(prompts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
    return {
        "input_ids": np.asarray(enc["input_ids"], dtype=np.int64),
        "attention_mask": np.asarray(enc["attention_mask"], dtype=np.int64),
    }


def encode_texts(
    backend: Backend,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_length: int,
    chunk: int,
    graph: str = "text",
) -> np.ndarray:
    """Projected text embeddings (N, D) for prompts, one backend call per prompt.

    A batched call pads every prompt to the longest one of its chunk, and sequence length and batch size
    change the last bits of the result: encoded alone, a prompt's embedding never depends on the other
    prompts of its request (issue 13). `chunk` is kept for the callers' signature; text towers are cheap.
    """
    del chunk
    parts = []
    for prompt in prompts:
        enc = tokenize(tokenizer, [prompt], max_length)
        parts.append(np.asarray(backend.run(graph, enc)["text_embeds"], dtype=np.float32))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def text_graph(model: Any, tokenizer: Any, max_length: int) -> GraphSpec:
    """The "text" graph of a transformers dual encoder: (input_ids, attention_mask) -> text_embeds, length dynamic."""
    return GraphSpec(
        module=ProjectedTextCore(model).eval(),
        input_names=("input_ids", "attention_mask"),
        output_names=("text_embeds",),
        example_inputs=example_text_inputs(tokenizer, max_length),
        dynamic_axes={"input_ids": {1: "sequence"}, "attention_mask": {1: "sequence"}},
    )


def example_text_inputs(tokenizer: Any, max_length: int) -> dict[str, np.ndarray]:
    """Realistic example inputs of a text graph (two prompts of different length, padded)."""
    return tokenize(tokenizer, ["a dog barks in the rain", "music"], max_length)


def cache_key(family: str, sha256: str) -> str:
    """Key of exported graphs: family plus a weights sha256 prefix."""
    return f"{family}-{sha256[:16]}"


def backend_for(
    family: str,
    cfg: ScorerConfig,
    graphs: Mapping[str, GraphSpec],
    weights_sha256: str,
    *,
    max_batch_size: int | None = None,
) -> Backend:
    """The backend cfg asks for over `graphs`; options.ort_tensorrt_ep puts ORT's TensorRT EP first on GPUs."""
    trt_ep = model_options(cfg).ort_tensorrt_ep
    return create_backend(
        cfg.backend,
        graphs,
        device=cfg.device,
        onnx_dir=cfg.onnx_dir,
        cache_key=cache_key(family, weights_sha256),
        max_batch_size=max_batch_size or cfg.max_batch_size,
        prefer_tensorrt_ep=trt_ep,
    )
