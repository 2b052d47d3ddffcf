"""Pure request building, response parsing and channel planning shared by the sync and async clients.

The public types live in public modules: results (ScoreResult, EmbedResult, SampleError, descriptions) and
retry (RetryPolicy).
"""

from __future__ import annotations

import ipaddress
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np

from omninft_client.errors import (
    REQUEST_ID_KEY,
    InternalError,
)
from omninft_client.media import AudioSource, Sample, VideoSource
from omninft_client.results import (
    EmbedResult,
    ScorerDescription,
    ScoreResult,
    ScorerInputSpec,
    ServerDescription,
    _has_error,
    _scorer_errors,
    _status_error,
)
from omninft_client.retry import RetryPolicy
from omninft_client.v1 import reward_pb2

T = TypeVar("T")

# Dtypes accepted on the wire; anything else (object, structured, datetime, ...) is refused before decoding.
ALLOWED_DTYPES: frozenset[str] = frozenset(
    {
        "bool",
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "uint64",
        "int64",
        "float16",
        "float32",
        "float64",
    }
)
MAX_TENSOR_DIMS = 32
# protobuf refuses messages above 2 GiB, so no honest tensor is larger.
PROTOBUF_MAX_BYTES = 2**31 - 1


# ---------------------------------------------------------------------------------------------- tensors


def fill_tensor(out: reward_pb2.Tensor, arr: np.ndarray) -> reward_pb2.Tensor:
    """Encode an array into `out` (little-endian, C order) in place: media payloads are copied only once."""
    arr = np.asarray(arr)
    name = arr.dtype.name
    if name not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {arr.dtype} cannot be sent; allowed: {sorted(ALLOWED_DTYPES)}")
    if arr.ndim > MAX_TENSOR_DIMS:
        raise ValueError(f"tensor has {arr.ndim} dims, more than {MAX_TENSOR_DIMS}")
    little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    out.dtype = name
    out.shape[:] = [int(d) for d in arr.shape]
    out.data = little.tobytes()
    return out


def tensor_to_proto(arr: np.ndarray) -> reward_pb2.Tensor:
    """Encode an array as a little-endian, C-order `Tensor`."""
    return fill_tensor(reward_pb2.Tensor(), arr)


def tensor_from_proto(t: reward_pb2.Tensor, *, max_bytes: int) -> np.ndarray:
    """Decode a `Tensor` after checking dtype, shape and byte length; returns a read-only view of its bytes."""
    if t.dtype not in ALLOWED_DTYPES:
        raise ValueError(f"tensor dtype {t.dtype!r} is not allowed; allowed: {sorted(ALLOWED_DTYPES)}")
    shape = tuple(int(d) for d in t.shape)
    if len(shape) > MAX_TENSOR_DIMS:
        raise ValueError(f"tensor has {len(shape)} dims, more than {MAX_TENSOR_DIMS}")
    if any(d < 0 for d in shape):
        raise ValueError(f"tensor shape {list(shape)} has a negative dimension")
    dtype = np.dtype(t.dtype).newbyteorder("<")
    # Python ints do not overflow, so an absurd shape is caught here instead of inside numpy.
    expected = math.prod(shape) * dtype.itemsize
    if expected > max_bytes:
        raise ValueError(
            f"tensor of shape {list(shape)} {t.dtype} needs {expected} bytes, above the {max_bytes} limit"
        )
    if expected != len(t.data):
        raise ValueError(
            f"tensor of shape {list(shape)} {t.dtype} needs {expected} bytes but carries {len(t.data)}"
        )
    return np.frombuffer(t.data, dtype=dtype).reshape(shape)


# ---------------------------------------------------------------------------------------------- requests


def _fill_video(out: reward_pb2.Video, v: VideoSource) -> None:
    out.fps = float(v.fps or 0.0)
    if v.kind == "container" and v.data is not None:
        out.container = v.data
    elif v.kind == "frames" and v.frames is not None:
        fill_tensor(out.frames, v.frames)
    elif v.kind == "uri" and v.uri:
        out.uri = v.uri
    else:
        raise ValueError(f"VideoSource of kind {v.kind!r} lacks its payload; build it with the media helpers")


def _fill_audio(out: reward_pb2.Audio, a: AudioSource) -> None:
    out.sample_rate = int(a.sample_rate or 0)
    if a.kind == "container" and a.data is not None:
        out.container = a.data
    elif a.kind == "pcm" and a.pcm is not None:
        fill_tensor(out.pcm, a.pcm)
    elif a.kind == "uri" and a.uri:
        out.uri = a.uri
    else:
        raise ValueError(f"AudioSource of kind {a.kind!r} lacks its payload; build it with the media helpers")


def fill_sample(out: reward_pb2.Sample, sample: Sample) -> reward_pb2.Sample:
    """Encode one client `Sample` into `out` in place (no intermediate message copies)."""
    if not isinstance(sample, Sample):
        raise TypeError(f"expected omninft_client.Sample, got {type(sample).__name__}")
    out.id, out.prompt, out.audio_prompt = sample.id, sample.prompt, sample.audio_prompt
    if sample.video is not None:
        _fill_video(out.video, sample.video)
    if sample.audio is not None:
        _fill_audio(out.audio, sample.audio)
    return out


def sample_to_proto(sample: Sample) -> reward_pb2.Sample:
    """Encode one client `Sample` as its wire message."""
    return fill_sample(reward_pb2.Sample(), sample)


def normalize_scorers(scorers: str | Iterable[str]) -> tuple[str, ...]:
    """Turn a scorer name or names into a tuple (a bare string is one name, not its characters)."""
    names = (scorers,) if isinstance(scorers, str) else tuple(scorers)
    for n in names:
        if not isinstance(n, str) or not n:
            raise ValueError(f"scorer names must be non-empty strings, got {n!r}")
    return names


def build_score_request(
    samples: Iterable[Sample], scorers: str | Iterable[str] = ()
) -> reward_pb2.ScoreRequest:
    """Build a `ScoreRequest` for the samples and scorer names (empty = every scorer the server hosts)."""
    req = reward_pb2.ScoreRequest(scorers=normalize_scorers(scorers))
    for s in samples:
        fill_sample(req.samples.add(), s)
    return req


def build_embed_request(
    samples: Iterable[Sample], scorers: str | Iterable[str] = ()
) -> reward_pb2.EmbedRequest:
    """Build an `EmbedRequest` for the samples and scorer names (empty = every scorer with embeddings)."""
    req = reward_pb2.EmbedRequest(scorers=normalize_scorers(scorers))
    for s in samples:
        fill_sample(req.samples.add(), s)
    return req


def new_request_id() -> str:
    """A fresh request id (uuid4 hex) for one client call."""
    return uuid.uuid4().hex


def call_metadata(request_id: str, token: str | None) -> tuple[tuple[str, str], ...]:
    """Metadata sent on every call: the request id and, when set, the bearer token."""
    md: list[tuple[str, str]] = [(REQUEST_ID_KEY, request_id)]
    if token:
        # Plain metadata rather than call credentials, which gRPC only sends on TLS channels.
        md.append(("authorization", f"Bearer {token}"))
    return tuple(md)


def chunked(seq: Sequence[T], n: int) -> list[Sequence[T]]:
    """Split a sequence into consecutive slices of at most n items."""
    if n < 1:
        raise ValueError(f"chunk size must be >= 1, got {n}")
    return [seq[i : i + n] for i in range(0, len(seq), n)]


# ---------------------------------------------------------------------------------------------- results


def _output_owners(infos: Iterable[reward_pb2.ScorerInfo]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for info in infos:
        for out in info.outputs:
            owners.setdefault(out, info.name)
    return owners


def parse_score_response(resp: reward_pb2.ScoreResponse) -> list[ScoreResult]:
    """Parse a `ScoreResponse`; outputs of a failed sample or failed scorer are dropped, never kept."""
    owners = _output_owners(resp.scorers)
    results: list[ScoreResult] = []
    for r in resp.results:
        scorer_errors = _scorer_errors(r)
        if _has_error(r):
            results.append(ScoreResult(r.id, {}, _status_error(r.error), scorer_errors, owners))
            continue
        scores = {name: float(v) for name, v in r.scores.items() if owners.get(name) not in scorer_errors}
        results.append(ScoreResult(r.id, scores, None, scorer_errors, owners))
    return results


def parse_embed_response(
    resp: reward_pb2.EmbedResponse, *, max_bytes: int = PROTOBUF_MAX_BYTES
) -> list[EmbedResult]:
    """Parse an `EmbedResponse` into writable arrays; embeddings of failed samples or scorers are dropped."""
    results: list[EmbedResult] = []
    for r in resp.results:
        scorer_errors = _scorer_errors(r)
        if _has_error(r):
            results.append(EmbedResult(r.id, {}, _status_error(r.error), scorer_errors))
            continue
        embeddings: dict[str, np.ndarray] = {}
        for name, t in r.embeddings.items():
            if name.split(".", 1)[0] in scorer_errors:
                continue
            try:
                embeddings[name] = tensor_from_proto(t, max_bytes=max_bytes).copy()
            except ValueError as e:
                raise InternalError(
                    f"server sent a malformed embedding {name!r} for sample {r.id!r}: {e}"
                ) from e
        results.append(EmbedResult(r.id, embeddings, None, scorer_errors))
    return results


def check_results(
    request_ids: Sequence[str], result_ids: Sequence[str], *, request_id: str | None = None
) -> None:
    """Raise InternalError unless the server answered one result per sample, in request order."""
    if len(request_ids) != len(result_ids):
        raise InternalError(
            f"server returned {len(result_ids)} results for {len(request_ids)} samples", request_id=request_id
        )
    for i, (want, got) in enumerate(zip(request_ids, result_ids, strict=True)):
        if want != got:
            raise InternalError(
                f"result {i} has id {got!r} but sample {i} has id {want!r}", request_id=request_id
            )


# ---------------------------------------------------------------------------------------------- descriptions


def scorer_from_proto(info: reward_pb2.ScorerInfo) -> ScorerDescription:
    """Convert a wire `ScorerInfo`."""
    spec = info.input_spec
    return ScorerDescription(
        name=info.name,
        outputs=tuple(info.outputs),
        embeddings=tuple(info.embeddings),
        version=info.version,
        weights_id=info.weights_id,
        weights_sha256=info.weights_sha256,
        tiny_weights=info.tiny_weights,
        max_batch_size=info.max_batch_size,
        input_spec=ScorerInputSpec(
            modalities=tuple(spec.modalities),
            video_fps=spec.video_fps,
            video_frames=spec.video_frames,
            image_size=spec.image_size,
            audio_sample_rate=spec.audio_sample_rate,
            max_audio_seconds=spec.max_audio_seconds,
        ),
        backend=info.backend,
        device=info.device,
        protocol=info.protocol,
        model_family=info.model_family,
    )


def parse_list_scorers(resp: reward_pb2.ListScorersResponse) -> ServerDescription:
    """Parse a `ListScorersResponse`."""
    return ServerDescription(
        scorers=tuple(scorer_from_proto(i) for i in resp.scorers),
        package_version=resp.server.package_version,
        git_hash=resp.server.git_hash,
        max_samples_per_request=resp.server.max_samples_per_request,
        max_message_bytes=resp.server.max_message_bytes,
    )


# Used when neither the caller nor the server states a limit.
DEFAULT_CHUNK_SIZE = 32


def chunk_size(
    description: ServerDescription | None,
    scorers: Sequence[str],
    *,
    embed: bool = False,
    explicit: int | None = None,
) -> int:
    """Samples per request: the explicit limit, else the smallest of the server's and the scorers' limits."""
    if explicit is not None:
        if explicit < 1:
            raise ValueError(f"max_samples_per_request must be >= 1, got {explicit}")
        return explicit
    if description is None:
        return DEFAULT_CHUNK_SIZE
    limits: list[int] = []
    if description.max_samples_per_request > 0:
        limits.append(description.max_samples_per_request)
    wanted = set(scorers)
    for s in description.scorers:
        if wanted:
            used = s.name in wanted
        else:
            used = bool(s.embeddings) if embed else bool(s.outputs) or not s.embeddings
        if used and s.max_batch_size > 0:
            limits.append(s.max_batch_size)
    return min(limits) if limits else DEFAULT_CHUNK_SIZE


# ---------------------------------------------------------------------------------------------- retries


# ---------------------------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class ChannelPlan:
    """How to reach the servers: one channel per target; `rotate` spreads calls over several channels."""

    targets: tuple[str, ...]
    options: tuple[tuple[str, Any], ...]
    rotate: bool = False


_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "xds:", "vsock:")


def _ip_literal(address: str) -> int | None:
    """4 or 6 when `address` is host:port with an IP literal host, else None."""
    if address.startswith(_SCHEMES):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def channel_target_and_options(
    addresses: str | Sequence[str],
    *,
    max_message_bytes: int,
    lb_policy: str = "round_robin",
) -> ChannelPlan:
    """Plan channels for one address, several IP literals (one balanced channel) or several hostnames (rotation)."""
    addrs = [addresses] if isinstance(addresses, str) else list(addresses)
    addrs = [a.strip() for a in addrs]
    if not addrs or any(not a for a in addrs):
        raise ValueError(f"need at least one non-empty server address, got {addresses!r}")
    if max_message_bytes < 1:
        raise ValueError("max_message_bytes must be positive")
    base: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", int(max_message_bytes)),
        ("grpc.max_receive_message_length", int(max_message_bytes)),
    ]
    balanced = base + [("grpc.service_config", json.dumps({"loadBalancingConfig": [{lb_policy: {}}]}))]
    if len(addrs) == 1:
        target = addrs[0]
        # dns:/// may resolve to many pods (headless Service): balance per call instead of pinning one.
        opts = balanced if target.startswith(("dns:", "ipv4:", "ipv6:")) else base
        return ChannelPlan((target,), tuple(opts))
    versions = {_ip_literal(a) for a in addrs}
    if versions == {4}:
        return ChannelPlan(("ipv4:" + ",".join(addrs),), tuple(balanced))
    if versions == {6}:
        return ChannelPlan(("ipv6:" + ",".join(addrs),), tuple(balanced))
    # Hostnames (or mixed families) cannot share one channel target: one channel each, rotated per chunk.
    return ChannelPlan(tuple(addrs), tuple(base), rotate=True)


# ---------------------------------------------------------------------------------------------- client setup


@dataclass(frozen=True)
class ClientConfig:
    """Validated constructor arguments shared by RewardClient and AsyncRewardClient."""

    plan: ChannelPlan
    timeout_s: float
    retry: RetryPolicy
    token: str | None
    credentials: grpc.ChannelCredentials | None
    max_samples_per_request: int | None
    max_message_bytes: int


def _positive_timeout(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value}")
    return value


def client_config(
    target: str | Sequence[str],
    *,
    timeout_s: float,
    retry: RetryPolicy | None,
    max_message_bytes: int,
    token: str | None,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
    max_samples_per_request: int | None,
    tls: bool | None,
    lb_policy: str,
) -> ClientConfig:
    """Validate client arguments and plan its channels and credentials (no I/O)."""
    if token is not None and (not token or not token.isascii() or not token.isprintable()):
        raise ValueError("token must be a non-empty printable ASCII string")
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("mutual TLS needs both certificate_chain and private_key")
    if max_samples_per_request is not None and max_samples_per_request < 1:
        raise ValueError(f"max_samples_per_request must be >= 1, got {max_samples_per_request}")
    has_certs = any(x is not None for x in (root_certificates, certificate_chain, private_key))
    if tls is False and has_certs:
        raise ValueError("tls=False contradicts the certificates given")
    credentials = None
    if tls or has_certs:
        # root_certificates=None makes gRPC use the system's trust store.
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root_certificates, private_key=private_key, certificate_chain=certificate_chain
        )
    return ClientConfig(
        plan=channel_target_and_options(target, max_message_bytes=max_message_bytes, lb_policy=lb_policy),
        timeout_s=_positive_timeout(timeout_s, "timeout_s"),
        retry=retry if retry is not None else RetryPolicy(),
        token=token,
        credentials=credentials,
        max_samples_per_request=max_samples_per_request,
        max_message_bytes=int(max_message_bytes),
    )


PROTOCOLS = ("omninft", "kserve")


def check_protocol(protocol: str) -> str:
    """The wire protocol a client speaks: omninft.v1.RewardService or KServe v2 (Open Inference Protocol)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    return protocol


def call_timeout(config: ClientConfig, timeout_s: float | None) -> float:
    """The overall deadline of one client call: the per-call override or the client's default."""
    return config.timeout_s if timeout_s is None else _positive_timeout(timeout_s, "timeout_s")


def check_request_size(req: Any, max_message_bytes: int, n_samples: int) -> None:
    """Refuse a request gRPC would reject locally (and pointlessly retry) for exceeding the message limit."""
    size = req.ByteSize()
    if size > max_message_bytes:
        raise ValueError(
            f"a request of {n_samples} samples is {size} bytes, above max_message_bytes={max_message_bytes}; "
            "lower max_samples_per_request, send smaller media (native fps/resolution) or raise the limit"
        )


def prepare_requests(
    samples: Sequence[Sample], scorers: Sequence[str], size: int, *, embed: bool, max_message_bytes: int
) -> tuple[list[Sequence[Sample]], list[Any]]:
    """Split samples into chunks of `size` and build one Score/Embed request per chunk."""
    chunks = chunked(samples, size)
    build = build_embed_request if embed else build_score_request
    requests = [build(c, scorers) for c in chunks]
    for c, req in zip(chunks, requests, strict=True):
        check_request_size(req, max_message_bytes, len(c))
    return chunks, requests


def assemble_scores(
    chunks: Sequence[Sequence[Sample]], responses: Sequence[reward_pb2.ScoreResponse], request_id: str
) -> list[ScoreResult]:
    """Parse the per-chunk responses and join them in input order, checking ids and counts."""
    out: list[ScoreResult] = []
    for chunk, resp in zip(chunks, responses, strict=True):
        parsed = parse_score_response(resp)
        check_results([s.id for s in chunk], [p.id for p in parsed], request_id=request_id)
        out.extend(parsed)
    return out


def assemble_embeddings(
    chunks: Sequence[Sequence[Sample]],
    responses: Sequence[reward_pb2.EmbedResponse],
    request_id: str,
    *,
    max_bytes: int = PROTOBUF_MAX_BYTES,
) -> list[EmbedResult]:
    """Parse the per-chunk embed responses and join them in input order, checking ids and counts."""
    out: list[EmbedResult] = []
    for chunk, resp in zip(chunks, responses, strict=True):
        parsed = parse_embed_response(resp, max_bytes=max_bytes)
        check_results([s.id for s in chunk], [p.id for p in parsed], request_id=request_id)
        out.extend(parsed)
    return out


def as_samples(samples: Iterable[Sample]) -> list[Sample]:
    """Materialise the caller's samples, checking their type up front."""
    out = list(samples)
    for s in out:
        if not isinstance(s, Sample):
            raise TypeError(f"expected omninft_client.Sample, got {type(s).__name__}")
    return out
