"""Open Inference Protocol (KServe v2) for the clients: method stubs, ModelInfer requests, results.

A KServe front (omninft-serve's, or a Triton server running `omninft-export --format triton`) exposes each
scorer as a model: BYTES inputs `video`, `audio` (container bytes or file:// uris), `prompt`,
`audio_prompt`; FP64 outputs named after the scores; a BYTES `error` output, "<CODE>: message" for a
sample that failed (its scores are NaN) and empty for a scored one. Here that becomes the same ScoreResult
and SampleError objects RewardService gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import numpy as np

from omninft_client._base import check_request_size, chunked
from omninft_client.errors import InternalError, InvalidArgumentError
from omninft_client.media import Sample
from omninft_client.results import (
    SampleError,
    ScorerDescription,
    ScoreResult,
    ScorerInputSpec,
    ServerDescription,
)
from omninft_client.v1 import kserve_pb2

SERVICE = "/inference.GRPCInferenceService/"
ERROR_OUTPUT = "error"
MEDIA_INPUTS = ("video", "audio")
TEXT_INPUTS = ("prompt", "audio_prompt")
# Triton DataType values.
TYPE_FP64 = 12
TYPE_STRING = 13
_FP64 = np.dtype("<f8")
_CODES = {c.name for c in grpc.StatusCode}

_METHODS: dict[str, tuple[Any, Any]] = {
    "ServerReady": (kserve_pb2.ServerReadyRequest, kserve_pb2.ServerReadyResponse),
    "RepositoryIndex": (kserve_pb2.RepositoryIndexRequest, kserve_pb2.RepositoryIndexResponse),
    "ModelConfig": (kserve_pb2.ModelConfigRequest, kserve_pb2.ModelConfigResponse),
    "ModelInfer": (kserve_pb2.ModelInferRequest, kserve_pb2.ModelInferResponse),
}


class KServeStub:
    """inference.GRPCInferenceService methods on a sync or aio channel (attributes named like the RPCs)."""

    ServerReady: Callable[..., Any]
    RepositoryIndex: Callable[..., Any]
    ModelConfig: Callable[..., Any]
    ModelInfer: Callable[..., Any]

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        for name, (req, resp) in _METHODS.items():
            call = channel.unary_unary(
                SERVICE + name,
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )
            setattr(self, name, call)


# ---------------------------------------------------------------------------------------------- descriptions


def scorer_from_config(cfg: kserve_pb2.ModelConfig) -> ScorerDescription | None:
    """A scorer-model's description from its config; None for a model that is not one (no `error` output)."""
    outputs = [o for o in cfg.output if o.name != ERROR_OUTPUT]
    if not any(o.name == ERROR_OUTPUT and o.data_type == TYPE_STRING for o in cfg.output):
        return None
    if not outputs or any(o.data_type != TYPE_FP64 for o in outputs):
        return None
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    return ScorerDescription(
        name=cfg.name,
        outputs=tuple(o.name for o in outputs),
        version=params.get("scorer_version", ""),
        weights_id=params.get("weights_id", ""),
        weights_sha256=params.get("weights_sha256", ""),
        tiny_weights=params.get("tiny_weights", "") == "true",
        max_batch_size=int(cfg.max_batch_size),
        input_spec=ScorerInputSpec(modalities=tuple(i.name for i in cfg.input)),
        backend=params.get("backend", cfg.backend),
        device=params.get("device", ""),
        protocol=params.get("protocol", ""),
    )


def server_description(configs: Sequence[kserve_pb2.ModelConfigResponse]) -> ServerDescription:
    """The scorer-models among the configs, as a ServerDescription (no server-wide sample limit in KServe)."""
    scorers = [scorer_from_config(c.config) for c in configs]
    return ServerDescription(scorers=tuple(s for s in scorers if s is not None))


def ready_model_names(resp: kserve_pb2.RepositoryIndexResponse) -> list[str]:
    """Names of the models the index lists as READY (or with no state, as some servers leave it)."""
    return sorted({m.name for m in resp.models if m.state in ("", "READY")})


# ---------------------------------------------------------------------------------------------- requests


def _frame(items: Sequence[bytes]) -> bytes:
    """BYTES elements in raw form: each a 4-byte little-endian length, then the bytes."""
    parts: list[bytes] = []
    for item in items:
        parts.append(len(item).to_bytes(4, "little"))
        parts.append(item)
    return b"".join(parts)


def _element(sample: Sample, name: str) -> bytes:
    """One sample's BYTES element for an input; media must be a container or a file:// uri."""
    if name in TEXT_INPUTS:
        return str(getattr(sample, name)).encode("utf-8")
    media = sample.video if name == "video" else sample.audio
    if media is None:
        # Sent empty: the server reports the sample as INVALID_ARGUMENT and scores the others.
        return b""
    if media.kind == "container" and media.data is not None:
        return bytes(media.data)
    if media.kind == "uri" and media.uri:
        if not media.uri.startswith("file://"):
            raise ValueError(
                f"sample {sample.id!r}: the kserve protocol carries file:// uris only, got {media.uri!r}"
            )
        return media.uri.encode("utf-8")
    raise ValueError(
        f"sample {sample.id!r}: the kserve protocol carries {name} as container bytes or a file:// uri, not "
        f"decoded {media.kind}; encode it (omninft_client.media) or use protocol='omninft'"
    )


def build_infer_request(samples: Sequence[Sample], scorer: ScorerDescription, request_id: str) -> Any:
    """A ModelInferRequest of one chunk for one scorer-model: every input it declares, every output."""
    req = kserve_pb2.ModelInferRequest(model_name=scorer.name, id=request_id)
    for name in scorer.input_spec.modalities:
        req.inputs.add(name=name, datatype="BYTES", shape=[len(samples), 1])
        req.raw_input_contents.append(_frame([_element(s, name) for s in samples]))
    for name in (*scorer.outputs, ERROR_OUTPUT):
        req.outputs.add(name=name)
    return req


def prepare_requests(
    samples: Sequence[Sample],
    scorers: Sequence[ScorerDescription],
    size: int,
    request_id: str,
    max_message_bytes: int,
) -> tuple[list[Sequence[Sample]], list[Any]]:
    """Chunks of `size` samples and one ModelInferRequest per (chunk, scorer), chunk-major."""
    chunks = chunked(samples, size)
    requests = [build_infer_request(c, m, request_id) for c in chunks for m in scorers]
    for i, req in enumerate(requests):
        check_request_size(req, max_message_bytes, len(chunks[i // len(scorers)]))
    return chunks, requests


# ---------------------------------------------------------------------------------------------- responses


def _split_bytes(raw: bytes, count: int) -> list[bytes]:
    """Exactly `count` BYTES elements from raw contents; ValueError on bad framing."""
    items: list[bytes] = []
    pos = 0
    for i in range(count):
        if pos + 4 > len(raw):
            raise ValueError(f"BYTES contents end before element {i} of {count}")
        size = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4
        if pos + size > len(raw):
            raise ValueError(f"BYTES element {i} claims {size} bytes; only {len(raw) - pos} remain")
        items.append(raw[pos : pos + size])
        pos += size
    if pos != len(raw):
        raise ValueError(f"{len(raw) - pos} bytes follow the {count} BYTES elements")
    return items


def _output_columns(resp: Any, batch: int) -> dict[str, Any]:
    """Each output as a list of `batch` values (floats for FP64, bytes for BYTES)."""
    raw = list(resp.raw_output_contents)
    if raw and len(raw) != len(resp.outputs):
        raise ValueError(f"{len(resp.outputs)} outputs but {len(raw)} raw_output_contents")
    columns: dict[str, Any] = {}
    for i, out in enumerate(resp.outputs):
        shape = [int(d) for d in out.shape]
        if not shape or shape[0] != batch or math.prod(shape) != batch:
            raise ValueError(f"output {out.name!r} has shape {shape}; expected [{batch}, 1]")
        if out.datatype == "FP64":
            if raw:
                if len(raw[i]) != batch * 8:
                    raise ValueError(
                        f"output {out.name!r} carries {len(raw[i])} bytes for {batch} FP64 values"
                    )
                columns[out.name] = np.frombuffer(raw[i], dtype=_FP64).tolist()
            else:
                columns[out.name] = list(out.contents.fp64_contents)
        elif out.datatype == "BYTES":
            columns[out.name] = _split_bytes(raw[i], batch) if raw else list(out.contents.bytes_contents)
        else:
            raise ValueError(f"output {out.name!r} has datatype {out.datatype!r}; expected FP64 or BYTES")
        if len(columns[out.name]) != batch:
            raise ValueError(f"output {out.name!r} has {len(columns[out.name])} values for {batch} samples")
    return columns


def parse_error(text: bytes) -> SampleError:
    """'<CODE>: message' -> SampleError (UNKNOWN when the server used no gRPC status name)."""
    msg = text.decode("utf-8", errors="replace")
    code, sep, rest = msg.partition(": ")
    if sep and code in _CODES:
        return SampleError(code=code, message=rest)
    return SampleError(code="UNKNOWN", message=msg)


def assemble_scores(
    chunks: Sequence[Sequence[Sample]],
    scorers: Sequence[ScorerDescription],
    responses: Sequence[Any],
    request_id: str,
) -> list[ScoreResult]:
    """Join the (chunk x scorer) responses into one ScoreResult per sample, in input order.

    A sample failed by every scorer with the same error gets it as its sample `error` (as a decode failure
    does on RewardService); otherwise each failing scorer's error goes in `scorer_errors`. A failed sample
    has no score, whatever number the server put in its place.
    """
    owners = {o: s.name for s in scorers for o in s.outputs}
    out: list[ScoreResult] = []
    it = iter(responses)
    for chunk in chunks:
        scores: list[dict[str, float]] = [{} for _ in chunk]
        errors: list[dict[str, SampleError]] = [{} for _ in chunk]
        for scorer in scorers:
            resp = next(it)
            try:
                columns = _output_columns(resp, len(chunk))
                missing = [n for n in (*scorer.outputs, ERROR_OUTPUT) if n not in columns]
                if missing:
                    raise ValueError(f"outputs {missing} are missing")
            except ValueError as e:
                raise InternalError(
                    f"model {scorer.name!r} sent a malformed ModelInferResponse: {e}", request_id=request_id
                ) from None
            for j in range(len(chunk)):
                err = columns[ERROR_OUTPUT][j]
                if err:
                    errors[j][scorer.name] = parse_error(err)
                    continue
                for name in scorer.outputs:
                    scores[j][name] = float(columns[name][j])
        for j, sample in enumerate(chunk):
            failed = errors[j]
            distinct = set(failed.values())
            if len(failed) == len(scorers) and len(distinct) == 1:
                out.append(ScoreResult(sample.id, {}, distinct.pop(), {}, owners))
            else:
                out.append(ScoreResult(sample.id, scores[j], None, failed, owners))
    return out


def plan_scorers(
    description: ServerDescription, names: Sequence[str], request_id: str
) -> list[ScorerDescription]:
    """The scorer-models a call uses: the named ones (InvalidArgumentError when not hosted), or every hosted one."""
    if not names:
        if not description.scorers:
            raise InvalidArgumentError(
                "the server hosts no scorer-models (models with FP64 scores and a BYTES error output)",
                request_id=request_id,
            )
        return list(description.scorers)
    out: list[ScorerDescription] = []
    for n in names:
        try:
            out.append(description.scorer(n))
        except KeyError as e:
            raise InvalidArgumentError(str(e.args[0]), request_id=request_id) from None
    return out
