"""How a scorer looks as an Open Inference Protocol (KServe v2) / Triton model: tensor names, types, config.

Shared by the KServe front of `omninft-serve` and by the Triton model-repository export, so both engines
expose the same model: BYTES inputs named after the scorer's modalities (`video`, `audio`, `prompt`,
`audio_prompt`), one FP64 output per score, and a BYTES `error` output, all with the batch dimension first
and one element per sample (`dims: [1]` after the batch dimension).

Per-sample failures: a sample that cannot be scored never gets a number. Each of its FP64 outputs is NaN
and its `error` element is `"<CODE>: <message>"` (CODE is a gRPC status name such as INVALID_ARGUMENT or
INTERNAL); a scored sample has an empty `error` element. The other samples of the batch are scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.rpc import status_pb2
from tritonclient.grpc import model_config_pb2

from omninft.reward_servers.scorers.base import InvalidSample, ScorerInfo, ScorerOutput
from omninft.reward_servers.serving.errors import BadRequestError, ScorerFailure
from omninft_client.v1 import reward_pb2

# Inputs a scorer may read, in the order they are declared.
MEDIA_INPUTS = ("video", "audio")
TEXT_INPUTS = ("prompt", "audio_prompt")
ERROR_OUTPUT = "error"
# The only version a model has; an empty version in a request means this one.
MODEL_VERSION = "1"
# A BYTES media element starting with this is a file uri (allow-listed roots only), not container bytes.
FILE_URI_PREFIX = b"file://"


@dataclass(frozen=True)
class ModelSchema:
    """The tensors of one scorer-model (names in declaration order)."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    max_batch_size: int

    @property
    def all_outputs(self) -> tuple[str, ...]:
        """Score outputs followed by the per-sample `error` output."""
        return (*self.outputs, ERROR_OUTPUT)


def schema_for(info: ScorerInfo, max_batch_size: int) -> ModelSchema:
    """The model a loaded scorer is exposed as."""
    return make_schema(info.name, info.input_spec.modalities, info.outputs, max_batch_size)


def make_schema(
    name: str, modalities: Sequence[str], outputs: Sequence[str], max_batch_size: int
) -> ModelSchema:
    """One BYTES input per modality read (in declaration order), one FP64 output per score."""
    inputs = tuple(m for m in (*MEDIA_INPUTS, *TEXT_INPUTS) if m in modalities)
    if not inputs:
        raise ValueError(f"scorer {name!r} reads no known modality: {tuple(modalities)}")
    if not outputs:
        raise ValueError(f"scorer {name!r} produces no scores (embeddings only): it has no KServe model")
    if ERROR_OUTPUT in outputs:
        raise ValueError(
            f"scorer {name!r} has an output named {ERROR_OUTPUT!r}, reserved for per-sample errors"
        )
    return ModelSchema(name=name, inputs=inputs, outputs=tuple(outputs), max_batch_size=max_batch_size)


def model_config(
    schema: ModelSchema,
    *,
    max_queue_delay_ms: float,
    backend: str,
    instance_kind: str = "KIND_CPU",
    instance_count: int = 1,
    preferred_batch_sizes: Sequence[int] = (),
    parameters: dict[str, str] | None = None,
) -> model_config_pb2.ModelConfig:
    """Triton's ModelConfig for a scorer-model (what ModelConfig returns and what config.pbtxt holds)."""
    cfg = model_config_pb2.ModelConfig(
        name=schema.name, backend=backend, max_batch_size=schema.max_batch_size
    )
    for name in schema.inputs:
        cfg.input.add(name=name, data_type=model_config_pb2.TYPE_STRING, dims=[1])
    for name in schema.outputs:
        cfg.output.add(name=name, data_type=model_config_pb2.TYPE_FP64, dims=[1])
    cfg.output.add(name=ERROR_OUTPUT, data_type=model_config_pb2.TYPE_STRING, dims=[1])
    cfg.dynamic_batching.max_queue_delay_microseconds = int(round(max_queue_delay_ms * 1000))
    cfg.dynamic_batching.preferred_batch_size.extend(preferred_batch_sizes)
    kind = model_config_pb2.ModelInstanceGroup.Kind.Value(instance_kind)
    cfg.instance_group.add(kind=kind, count=instance_count)
    for key, value in (parameters or {}).items():
        cfg.parameters[key].string_value = value
    return cfg


# The model-config parameters that identify what a scorer-model computes (read back by omninft_client._kserve);
# the resume store keys cached results by version, weights sha256 and protocol.
PROVENANCE_KEYS = ("scorer_version", "weights_id", "weights_sha256", "tiny_weights", "protocol")


def provenance_parameters(info: ScorerInfo) -> dict[str, str]:
    """A loaded scorer's provenance as model-config parameters (string values, tiny as 'true'/'false')."""
    return {
        "scorer_version": info.version,
        "weights_id": info.weights.weights_id,
        "weights_sha256": info.weights.sha256,
        "tiny_weights": str(info.weights.tiny).lower(),
        "protocol": info.protocol,
    }


def provenance_mismatches(expected: Mapping[str, str], info: ScorerInfo) -> list[str]:
    """'key: expected X, loaded Y' for every provenance parameter in `expected` that the loaded scorer contradicts."""
    actual = provenance_parameters(info)
    return [
        f"{key}: expected {expected[key]!r}, loaded {actual[key]!r}"
        for key in PROVENANCE_KEYS
        if key in expected and expected[key] != actual[key]
    ]


def serialize_bytes(items: Sequence[bytes]) -> bytes:
    """BYTES tensor elements in the raw wire form: each a 4-byte little-endian length, then the bytes."""
    out = bytearray()
    for item in items:
        out += len(item).to_bytes(4, "little")
        out += item
    return bytes(out)


def deserialize_bytes(raw: bytes, count: int) -> list[bytes]:
    """Split a raw BYTES tensor into exactly `count` elements; ValueError when the framing is wrong."""
    items: list[bytes] = []
    view = memoryview(raw)
    pos = 0
    for i in range(count):
        if pos + 4 > len(view):
            raise ValueError(f"raw BYTES contents end before element {i} of {count}")
        size = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + size > len(view):
            raise ValueError(f"raw BYTES element {i} claims {size} bytes; only {len(view) - pos} remain")
        items.append(bytes(view[pos : pos + size]))
        pos += size
    if pos != len(view):
        raise ValueError(
            f"raw BYTES contents have {len(view) - pos} bytes after the {count} elements of the shape"
        )
    return items


def sample_from_row(index: int, values: dict[str, bytes]) -> reward_pb2.Sample:
    """One wire Sample from a row of BYTES elements (media bytes are containers, or file:// uris)."""
    sample = reward_pb2.Sample(id=str(index))
    for name, data in values.items():
        if name in MEDIA_INPUTS:
            media = sample.video if name == "video" else sample.audio
            if data.startswith(FILE_URI_PREFIX):
                media.uri = text_element(name, index, data)
            else:
                media.container = data
        else:
            setattr(sample, name, text_element(name, index, data))
    return sample


def text_element(name: str, index: int, data: bytes) -> str:
    """UTF-8 text of a BYTES element; a request with undecodable text is INVALID_ARGUMENT."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError(f"input {name!r} element {index} is not valid UTF-8 text") from None


def collect_results(
    outcomes: Sequence[ScorerOutput | InvalidSample | ScorerFailure],
    sample_errors: Sequence[status_pb2.Status | None],
    outputs: Sequence[str],
    rid: str,
) -> tuple[list[dict[str, float]], list[str]]:
    """Per-sample scores (NaN for failed samples) and error strings ('' for scored samples)."""
    nan = dict.fromkeys(outputs, math.nan)
    scores: list[dict[str, float]] = []
    errors: list[str] = []
    for error, outcome in zip(sample_errors, outcomes, strict=True):
        if error is not None:
            scores.append(nan)
            errors.append(f"{code_name(error.code)}: {error.message}")
        elif isinstance(outcome, ScorerOutput):
            scores.append({k: float(outcome.scores[k]) for k in outputs})
            errors.append("")
        elif isinstance(outcome, InvalidSample):
            scores.append(nan)
            errors.append(f"INVALID_ARGUMENT: {outcome}")
        else:
            scores.append(nan)
            errors.append(f"INTERNAL: {outcome}; request id {rid}")
    return scores, errors


def code_name(code: int) -> str:
    """google.rpc.Code integer -> 'INVALID_ARGUMENT'."""
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return str(status.name)
    return "UNKNOWN"
