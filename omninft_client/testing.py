"""In-process fake reward server for users' tests: real gRPC on 127.0.0.1, numpy scorers, fault injection."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
import numpy as np
from google.rpc import status_pb2

from omninft_client import _base
from omninft_client.errors import REQUEST_ID_KEY
from omninft_client.v1 import reward_pb2, reward_pb2_grpc

__all__ = ["FakeCall", "FakeRewardServer", "FakeSample", "brightness", "color_embedding", "loudness"]


@dataclass(frozen=True, eq=False)
class FakeSample:
    """A sample as a fake scorer sees it: decoded tensors when sent as tensors, raw bytes or URI otherwise."""

    id: str
    prompt: str = ""
    audio_prompt: str = ""
    frames: np.ndarray | None = None
    fps: float = 0.0
    pcm: np.ndarray | None = None
    sample_rate: int = 0
    video_bytes: bytes | None = None
    audio_bytes: bytes | None = None
    video_uri: str | None = None
    audio_uri: str | None = None


@dataclass(frozen=True)
class FakeCall:
    """One RPC the fake server received: method, sample ids, scorers asked for, request id and outcome."""

    method: str
    sample_ids: tuple[str, ...]
    scorers: tuple[str, ...]
    request_id: str | None
    authorization: str | None
    code: str

    @property
    def n_samples(self) -> int:
        """Number of samples in the request."""
        return len(self.sample_ids)


ScoreFn = Callable[[FakeSample], Mapping[str, float]]
EmbedFn = Callable[[FakeSample], Mapping[str, np.ndarray]]


def brightness(sample: FakeSample) -> dict[str, float]:
    """Mean pixel value of the frames, in [0, 1]."""
    if sample.frames is None:
        raise ValueError("brightness needs video sent as decoded frames")
    return {"brightness": float(sample.frames.mean(dtype=np.float64) / 255.0)}


def loudness(sample: FakeSample) -> dict[str, float]:
    """Root mean square of the PCM over all channels."""
    if sample.pcm is None:
        raise ValueError("loudness needs audio sent as decoded pcm")
    pcm = sample.pcm.astype(np.float64)
    return {"loudness": float(np.sqrt(np.mean(pcm * pcm)))}


def color_embedding(sample: FakeSample) -> dict[str, np.ndarray]:
    """Mean RGB of the frames in [0, 1], a 3-vector."""
    if sample.frames is None:
        raise ValueError("color needs video sent as decoded frames")
    return {"rgb": (sample.frames.reshape(-1, 3).mean(axis=0, dtype=np.float64) / 255.0).astype(np.float32)}


_DEFAULT_OUTPUTS: dict[str, tuple[str, ...]] = {"brightness": ("brightness",), "loudness": ("loudness",)}
_DEFAULT_EMBEDDINGS: dict[str, tuple[str, ...]] = {"color": ("rgb",)}
_BUILTIN_MODALITIES: dict[Callable[..., Any], tuple[str, ...]] = {
    brightness: ("video",),
    loudness: ("audio",),
    color_embedding: ("video",),
}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message)


class FakeRewardServer:
    """A real gRPC RewardService on 127.0.0.1 backed by Python callables, for tests of client code.

    `outputs` / `embedding_names` declare, per scorer, the names ListScorers reports (the callables'
    return keys are used as-is on the wire). With no scorers given, "brightness", "loudness" and the
    "color" embedder are hosted.
    """

    def __init__(
        self,
        scorers: Mapping[str, ScoreFn] | None = None,
        *,
        embedders: Mapping[str, EmbedFn] | None = None,
        max_batch_size: int = 8,
        token: str | None = None,
        outputs: Mapping[str, Sequence[str]] | None = None,
        embedding_names: Mapping[str, Sequence[str]] | None = None,
        max_samples_per_request: int = 256,
        max_message_bytes: int = 64 * 2**20,
        server_credentials: grpc.ServerCredentials | None = None,
        max_workers: int = 8,
    ) -> None:
        self._scorers: dict[str, ScoreFn] = dict(
            scorers if scorers is not None else {"brightness": brightness, "loudness": loudness}
        )
        if embedders is None:
            embedders = {"color": color_embedding} if scorers is None else {}
        self._embedders: dict[str, EmbedFn] = dict(embedders)
        if outputs is None and scorers is None:
            outputs = _DEFAULT_OUTPUTS
        self._outputs = {k: tuple(v) for k, v in (outputs or {}).items()}
        names: dict[str, Sequence[str]] = (
            dict(_DEFAULT_EMBEDDINGS) if embedders.get("color") is color_embedding else {}
        )
        names.update(embedding_names or {})
        self._embedding_names = {k: tuple(v) for k, v in names.items()}
        if max_batch_size < 1 or max_samples_per_request < 1:
            raise ValueError("max_batch_size and max_samples_per_request must be >= 1")
        self.max_batch_size = max_batch_size
        self.max_samples_per_request = max_samples_per_request
        self.max_message_bytes = max_message_bytes
        self._token = token
        self._credentials = server_credentials
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._calls: list[FakeCall] = []
        self._faults: list[tuple[grpc.StatusCode, str, str | None]] = []
        self._server: grpc.Server | None = None
        self.port = 0

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeRewardServer:
        """Bind 127.0.0.1 on a free port and start serving."""
        if self._server is not None:
            return self
        opts = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
        ]
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers), options=opts)
        reward_pb2_grpc.add_RewardServiceServicer_to_server(_Servicer(self), server)
        if self._credentials is not None:
            self.port = server.add_secure_port("127.0.0.1:0", self._credentials)
        else:
            self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self, grace_s: float | None = 0.5) -> None:
        """Stop serving (calls still running get `grace_s` seconds to finish)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace_s).wait()

    def __enter__(self) -> FakeRewardServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """The "127.0.0.1:PORT" address, once started."""
        if self._server is None:
            raise RuntimeError("FakeRewardServer is not started")
        return f"127.0.0.1:{self.port}"

    # ------------------------------------------------------------------------------------ test hooks

    def fail_next(
        self, n: int, code: grpc.StatusCode, details: str = "injected fault", *, method: str | None = None
    ) -> None:
        """Make the next n RPCs (of `method` only, when given) fail with `code`."""
        if code == grpc.StatusCode.OK:
            raise ValueError("cannot inject OK as a fault")
        with self._lock:
            self._faults.extend([(code, details, method)] * n)

    @property
    def calls(self) -> list[FakeCall]:
        """Every RPC received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._calls)

    def score_calls(self) -> list[FakeCall]:
        """The Score RPCs received so far."""
        return [c for c in self.calls if c.method == "Score"]

    def reset_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._calls.clear()

    # ------------------------------------------------------------------------------------ service logic

    def _take_fault(self, method: str) -> tuple[grpc.StatusCode, str] | None:
        with self._lock:
            for i, (code, details, only) in enumerate(self._faults):
                if only is None or only == method:
                    del self._faults[i]
                    return code, details
        return None

    def _record(self, call: FakeCall) -> None:
        with self._lock:
            self._calls.append(call)

    def _scorer_infos(self) -> list[reward_pb2.ScorerInfo]:
        names = list(dict.fromkeys([*self._scorers, *self._embedders]))
        infos = []
        for name in names:
            fn = self._scorers.get(name) or self._embedders.get(name)
            spec = reward_pb2.InputSpec(modalities=_BUILTIN_MODALITIES.get(fn, ()))  # type: ignore[arg-type]
            infos.append(
                reward_pb2.ScorerInfo(
                    name=name,
                    outputs=self._outputs.get(name, ()),
                    embeddings=self._embedding_names.get(name, ()),
                    version="fake",
                    weights_id="none (FakeRewardServer)",
                    tiny_weights=True,
                    max_batch_size=self.max_batch_size,
                    input_spec=spec,
                    backend="numpy",
                    device="cpu",
                    protocol="fake",
                    model_family="fake",
                )
            )
        return infos

    def _decode(self, s: reward_pb2.Sample) -> FakeSample:
        kw: dict[str, Any] = {"id": s.id, "prompt": s.prompt, "audio_prompt": s.audio_prompt}
        if s.HasField("video"):
            src = s.video.WhichOneof("source")
            if src == "frames":
                frames = _base.tensor_from_proto(s.video.frames, max_bytes=self.max_message_bytes)
                if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                    raise ValueError(
                        f"video frames must be uint8 T x H x W x 3, got {frames.dtype} {frames.shape}"
                    )
                if not (math.isfinite(s.video.fps) and s.video.fps > 0):
                    raise ValueError("video frames need a positive fps")
                kw.update(frames=frames, fps=s.video.fps)
            elif src == "container":
                kw.update(video_bytes=s.video.container, fps=s.video.fps)
            elif src == "uri":
                kw.update(video_uri=s.video.uri)
        if s.HasField("audio"):
            src = s.audio.WhichOneof("source")
            if src == "pcm":
                pcm = _base.tensor_from_proto(s.audio.pcm, max_bytes=self.max_message_bytes)
                if pcm.dtype != np.float32 or pcm.ndim != 2:
                    raise ValueError(f"audio pcm must be float32 C x N, got {pcm.dtype} {pcm.shape}")
                if s.audio.sample_rate <= 0:
                    raise ValueError("audio pcm needs a positive sample_rate")
                kw.update(pcm=pcm, sample_rate=s.audio.sample_rate)
            elif src == "container":
                kw.update(audio_bytes=s.audio.container)
            elif src == "uri":
                kw.update(audio_uri=s.audio.uri)
        return FakeSample(**kw)

    def _select(self, asked: Sequence[str], table: Mapping[str, Any], what: str) -> list[str]:
        if not asked:
            return list(table)
        hosted = set(self._scorers) | set(self._embedders)
        for name in asked:
            if name not in hosted:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"unknown scorer {name!r}; hosted: {sorted(hosted)}"
                )
            if name not in table:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"scorer {name!r} has no {what}")
        return list(dict.fromkeys(asked))

    def _run(self, method: str, request: Any, context: grpc.ServicerContext, body: Callable[[], Any]) -> Any:
        md = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        rid = md.get(REQUEST_ID_KEY)
        auth = md.get("authorization")
        samples = getattr(request, "samples", ())
        scorers = tuple(getattr(request, "scorers", ()))
        ids = tuple(s.id for s in samples)
        code = grpc.StatusCode.OK
        details = ""
        result: Any = None
        try:
            if self._token is not None and auth != f"Bearer {self._token}":
                raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
            fault = self._take_fault(method)
            if fault is not None:
                raise _Abort(*fault)
            if len(samples) > self.max_samples_per_request:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{len(samples)} samples exceed max_samples_per_request={self.max_samples_per_request}",
                )
            result = body()
        except _Abort as e:
            code, details = e.code, e.details
        self._record(FakeCall(method, ids, scorers, rid, auth, code.name))
        if code != grpc.StatusCode.OK:
            if rid:
                context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
            context.abort(code, details)
        if rid and hasattr(result, "request_id"):
            result.request_id = rid
        return result

    def _score(self, request: reward_pb2.ScoreRequest) -> reward_pb2.ScoreResponse:
        names = self._select(request.scorers, self._scorers, "score outputs")
        resp = reward_pb2.ScoreResponse(scorers=[i for i in self._scorer_infos() if i.name in names])

        def put(r: Any, name: str, sample: FakeSample) -> None:
            for k, v in self._scorers[name](sample).items():
                r.scores[k] = float(v)

        self._run_samples(request.samples, names, resp.results, put)
        return resp

    def _embed(self, request: reward_pb2.EmbedRequest) -> reward_pb2.EmbedResponse:
        names = self._select(request.scorers, self._embedders, "embeddings")
        resp = reward_pb2.EmbedResponse(scorers=[i for i in self._scorer_infos() if i.name in names])

        def put(r: Any, name: str, sample: FakeSample) -> None:
            for k, v in self._embedders[name](sample).items():
                r.embeddings[f"{name}.{k}"].CopyFrom(_base.tensor_to_proto(np.asarray(v)))

        self._run_samples(request.samples, names, resp.results, put)
        return resp

    def _run_samples(
        self, samples: Any, names: list[str], results: Any, put: Callable[[Any, str, FakeSample], None]
    ) -> None:
        """Decode each sample, run every named function on it, and record per-sample / per-scorer errors."""
        for s in samples:
            r = results.add(id=s.id)
            try:
                sample = self._decode(s)
            except ValueError as e:
                r.error.CopyFrom(_status(grpc.StatusCode.INVALID_ARGUMENT, str(e)))
                continue
            for name in names:
                scratch = type(r)()  # outputs land in r only if the whole function succeeded
                try:
                    put(scratch, name, sample)
                except ValueError as e:
                    r.scorer_errors[name].CopyFrom(_status(grpc.StatusCode.INVALID_ARGUMENT, str(e)))
                    continue
                except Exception as e:  # a scorer bug must reach the test as a status, not kill the server
                    r.scorer_errors[name].CopyFrom(
                        _status(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
                    )
                    continue
                r.MergeFrom(scratch)

    def _list(self) -> reward_pb2.ListScorersResponse:
        return reward_pb2.ListScorersResponse(
            scorers=self._scorer_infos(),
            server=reward_pb2.ServerInfo(
                package_version="fake",
                git_hash="",
                max_samples_per_request=self.max_samples_per_request,
                max_message_bytes=self.max_message_bytes,
            ),
        )


class _Servicer(reward_pb2_grpc.RewardServiceServicer):
    def __init__(self, fake: FakeRewardServer) -> None:
        self._fake = fake

    def Score(
        self, request: reward_pb2.ScoreRequest, context: grpc.ServicerContext
    ) -> reward_pb2.ScoreResponse:
        return self._fake._run("Score", request, context, lambda: self._fake._score(request))

    def Embed(
        self, request: reward_pb2.EmbedRequest, context: grpc.ServicerContext
    ) -> reward_pb2.EmbedResponse:
        return self._fake._run("Embed", request, context, lambda: self._fake._embed(request))

    def ListScorers(
        self, request: reward_pb2.ListScorersRequest, context: grpc.ServicerContext
    ) -> reward_pb2.ListScorersResponse:
        return self._fake._run("ListScorers", request, context, self._fake._list)
