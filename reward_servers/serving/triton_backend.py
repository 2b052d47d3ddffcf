"""A scorer as a Triton Python-backend model: the whole scorer (decode, preprocess, forward, postprocess).

Each exported model's `1/model.py` re-exports `TritonPythonModel` from here. Triton's dynamic batcher hands
`execute` several requests at once; their samples are decoded and preprocessed in a thread pool, run through
the scorer's forward in chunks of at most max_batch_size, and answered with the same tensors and per-sample
failure convention as the KServe front of `omninft-serve` (see `oip_schema`). The model's config.pbtxt
parameter `omninft_server_config` holds the server config (camelCase JSON) with this one scorer in it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import numpy as np

from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerInfo, ScorerOutput
from omninft.reward_servers.serving.config import ServerConfig
from omninft.reward_servers.serving.decode import DecodePolicy, DecodeResult, decode_sample
from omninft.reward_servers.serving.errors import (
    BadRequestError,
    SampleError,
    ScorerFailure,
    invalid_sample_status,
)
from omninft.reward_servers.serving.oip_schema import (
    ERROR_OUTPUT,
    PROVENANCE_KEYS,
    ModelSchema,
    collect_results,
    make_schema,
    provenance_mismatches,
    sample_from_row,
)
from omninft.reward_servers.serving.servicer import missing_modality, postprocess_all

log = logging.getLogger(__name__)
CONFIG_PARAMETER = "omninft_server_config"
_Outcome: TypeAlias = ScorerOutput | InvalidSample | ScorerFailure


def check_provenance(name: str, params: dict[str, str], info: ScorerInfo) -> None:
    """Refuse to serve a scorer that computes something other than what its config.pbtxt records.

    Clients and the benchmark's resume store trust those parameters (an exported repository pointed at
    changed weights would otherwise serve new numbers under the old sha256); a repository exported with
    --no-provenance carries none and is served with a warning.
    """
    if not any(key in params for key in PROVENANCE_KEYS):
        log.warning(
            "model %s: config.pbtxt records no scorer provenance (exported with --no-provenance)", name
        )
        return
    wrong = provenance_mismatches(params, info)
    if wrong:
        raise RuntimeError(
            f"model {name}: the scorer built here differs from the one exported ({'; '.join(wrong)}); "
            "re-export the repository (omninft-export --format triton) for these weights"
        )


class ScorerPipeline:
    """decode -> preprocess -> forward (chunked) -> postprocess for one scorer, without any server around it."""

    def __init__(self, cfg: ServerConfig, name: str, *, max_batch_size: int) -> None:
        for plugin, target in cfg.plugins.items():
            registry.register(plugin, target, override=True)
        self.scorer: Scorer = registry.build(name, cfg.scorers[name])
        info = self.scorer.info
        self.schema: ModelSchema = make_schema(name, info.input_spec.modalities, info.outputs, max_batch_size)
        self._policy = DecodePolicy(
            limits=cfg.media_limits,
            allowed_roots=tuple(cfg.allowed_uri_roots),
            max_prompt_chars=cfg.max_prompt_chars,
        )
        self._pool = ThreadPoolExecutor(max_workers=cfg.decode_workers, thread_name_prefix="omninft-triton")

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run(self, rows: Sequence[dict[str, bytes]]) -> tuple[list[dict[str, float]], list[str]]:
        """Score rows of BYTES elements: per-sample scores (NaN when failed) and error strings ('' when scored)."""
        samples = [sample_from_row(i, row) for i, row in enumerate(rows)]
        info = self.scorer.info
        decoded = list(self._pool.map(self._decode, range(len(samples)), samples))
        outcomes: list[_Outcome] = [ScorerFailure("sample was not scored")] * len(samples)
        errors: list[Any] = [None] * len(samples)
        todo: list[int] = []
        for i, d in enumerate(decoded):
            if isinstance(d, SampleError):
                errors[i] = invalid_sample_status(str(d), d.field or f"samples[{i}]")
            elif d.failed:
                err = next(iter(d.failed.values()))
                errors[i] = invalid_sample_status(str(err), err.field or f"samples[{i}]")
            elif missing := missing_modality(info, d.sample):
                outcomes[i] = InvalidSample(f"scorer {info.name!r} needs {missing}; the sample has none")
            else:
                todo.append(i)
        prepped = list(self._pool.map(self._preprocess, [decoded[i].sample for i in todo]))  # type: ignore[union-attr]
        ready: list[tuple[int, Any]] = []
        for i, p in zip(todo, prepped, strict=True):
            if isinstance(p, BaseException):
                outcomes[i] = _as_outcome(info.name, p)
            else:
                ready.append((i, p))
        size = self.schema.max_batch_size
        for start in range(0, len(ready), size):
            chunk = ready[start : start + size]
            raws = self._forward([p for _, p in chunk])
            good = [(i, r) for (i, _), r in zip(chunk, raws, strict=True) if not isinstance(r, BaseException)]
            for (i, _), r in zip(chunk, raws, strict=True):
                if isinstance(r, BaseException):
                    outcomes[i] = _as_outcome(info.name, r)
            for (i, _), out in zip(good, postprocess_all(self.scorer, [r for _, r in good]), strict=True):
                outcomes[i] = _as_outcome(info.name, out) if isinstance(out, BaseException) else out
        return collect_results(outcomes, errors, self.schema.outputs, "")

    def _forward(self, items: list[Any]) -> list[Any]:
        """One batched forward; like the server's batcher, a crashed batch is re-run item by item."""
        try:
            return self._checked_forward(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            log.warning(
                "scorer %s: batch of %d failed (%r); re-running items one by one",
                self.schema.name,
                len(items),
                exc,
            )
        out: list[Any] = []
        for item in items:
            try:
                out.extend(self._checked_forward([item]))
            except Exception as exc:
                out.append(exc)
        return out

    def _checked_forward(self, items: list[Any]) -> list[Any]:
        """scorer.forward, checked to return one output per item."""
        outputs = self.scorer.forward(items)
        if not isinstance(outputs, list | tuple) or len(outputs) != len(items):
            raise ScorerFailure(
                f"scorer {self.schema.name!r} forward broke its contract; this is a scorer bug"
            )
        return list(outputs)

    def _decode(self, index: int, sample: Any) -> DecodeResult | SampleError:
        """decode_sample, a whole-sample SampleError returned instead of raised."""
        info = self.scorer.info
        try:
            return decode_sample(
                index,
                sample,
                self._policy,
                need_video=info.input_spec.reads("video"),
                need_audio=info.input_spec.reads("audio"),
            )
        except SampleError as exc:
            return exc

    def _preprocess(self, sample: DecodedSample) -> Any:
        """scorer.preprocess, exceptions returned in place."""
        try:
            return self.scorer.preprocess(sample)
        except Exception as exc:
            return exc


def _as_outcome(name: str, exc: BaseException) -> _Outcome:
    """InvalidSample/ScorerFailure pass through; anything else is logged and becomes ScorerFailure."""
    if isinstance(exc, InvalidSample | ScorerFailure):
        return exc
    log.error("scorer %s failed on a sample", name, exc_info=exc)
    return ScorerFailure(f"scorer {name!r} failed on this sample")


def rows_of(columns: dict[str, np.ndarray]) -> list[dict[str, bytes]]:
    """[batch, 1] object arrays of bytes per input -> one {input: bytes} row per sample."""
    n = {len(v) for v in columns.values()}
    if len(n) != 1:
        raise BadRequestError(f"inputs have different batch sizes: {sorted(n)}")
    (batch,) = n
    return [{k: bytes(v.reshape(-1)[i]) for k, v in columns.items()} for i in range(batch)]


class TritonPythonModel:
    """Triton Python-backend entry point (the names and signatures Triton calls)."""

    def initialize(self, args: dict[str, str]) -> None:
        """Build the scorer named by the model from the server config in config.pbtxt."""
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        cfg = ServerConfig.from_dict(json.loads(params[CONFIG_PARAMETER]))
        name = config["name"]
        self.pipeline = ScorerPipeline(cfg, name, max_batch_size=int(config["max_batch_size"]))
        check_provenance(name, params, self.pipeline.scorer.info)
        log.warning(
            "omninft scorer %s loaded in Triton (weights %s, tiny=%s)",
            name,
            self.pipeline.scorer.info.weights.weights_id,
            self.pipeline.scorer.info.weights.tiny,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        """Score every sample of every request in one pass; one response per request, in order."""
        import triton_python_backend_utils as pb_utils  # only importable inside Triton's Python-backend stub

        schema = self.pipeline.schema
        rows: list[dict[str, bytes]] = []
        spans: list[tuple[int, int]] = []
        for request in requests:
            columns = {}
            for name in schema.inputs:
                tensor = pb_utils.get_input_tensor_by_name(request, name)
                columns[name] = tensor.as_numpy()
            part = rows_of(columns)
            spans.append((len(rows), len(rows) + len(part)))
            rows.extend(part)
        scores, errors = self.pipeline.run(rows)
        responses = []
        for start, stop in spans:
            tensors = [
                pb_utils.Tensor(
                    out, np.asarray([s[out] for s in scores[start:stop]], dtype=np.float64).reshape(-1, 1)
                )
                for out in schema.outputs
            ]
            err = np.asarray([e.encode() for e in errors[start:stop]], dtype=np.object_).reshape(-1, 1)
            tensors.append(pb_utils.Tensor(ERROR_OUTPUT, err))
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def finalize(self) -> None:
        """Release the worker threads."""
        self.pipeline.close()
