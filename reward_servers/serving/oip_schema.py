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

from collections.abc import Sequence
from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2

from omninft.reward_servers.scorers.base import ScorerInfo

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
    """The model a scorer is exposed as: one BYTES input per modality it reads, one FP64 output per score."""
    inputs = tuple(m for m in (*MEDIA_INPUTS, *TEXT_INPUTS) if info.input_spec.reads(m))
    if not inputs:
        raise ValueError(f"scorer {info.name!r} reads no known modality: {info.input_spec.modalities}")
    if ERROR_OUTPUT in info.outputs:
        raise ValueError(f"scorer {info.name!r} has an output named {ERROR_OUTPUT!r}, reserved for per-sample errors")
    return ModelSchema(name=info.name, inputs=inputs, outputs=tuple(info.outputs), max_batch_size=max_batch_size)


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
    cfg = model_config_pb2.ModelConfig(name=schema.name, backend=backend, max_batch_size=schema.max_batch_size)
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
        raise ValueError(f"raw BYTES contents have {len(view) - pos} bytes after the {count} elements of the shape")
    return items
