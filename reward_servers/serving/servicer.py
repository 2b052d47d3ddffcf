"""The RewardService implementation: validate, decode once, preprocess, batch, postprocess, assemble.

Scorers see only DecodedSample and return ScorerOutput; every wire type is built here.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import grpc
import numpy as np
from google.rpc import status_pb2

from omninft.reward_servers.media import ECHO_CHARS, DecodedSample, echo
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerInfo, ScorerOutput
from omninft.reward_servers.serving.batcher import MicroBatcher
from omninft.reward_servers.serving.decode import DecodePolicy, DecodeResult, decode_sample
from omninft.reward_servers.serving.errors import (
    BadRequestError,
    NotReadyError,
    SampleError,
    ScorerFailure,
    ServingError,
    internal_message,
    invalid_sample_status,
    make_status,
)
from omninft.reward_servers.serving.interceptors import REQUEST_ID_HEADER, current_request_id
from omninft.reward_servers.serving.metrics import ServerMetrics
from omninft_client.v1 import reward_pb2, reward_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")
# Client-supplied names repeated in one error message (the status travels in trailers, limited to ~8 kB).
_ECHO_NAMES = 3
_ECHO_HOSTED = 24
# Longest status message sent; anything longer is cut (a last guard behind the bounded echoes).
_MAX_STATUS_CHARS = 2000


def _hosted_list(hosted: Sequence[str]) -> str:
    """The hosted scorer names for a hint, at most _ECHO_HOSTED of them."""
    more = f" (and {len(hosted) - _ECHO_HOSTED} more)" if len(hosted) > _ECHO_HOSTED else ""
    return ", ".join(hosted[:_ECHO_HOSTED]) + more


# Outcome of one scorer on one sample.
Outcome: TypeAlias = ScorerOutput | InvalidSample | ScorerFailure


@dataclass(frozen=True)
class ServerIdentity:
    """Provenance returned by ListScorers."""

    package_version: str
    git_hash: str


def info_to_proto(info: ScorerInfo) -> reward_pb2.ScorerInfo:
    """ScorerInfo dataclass -> wire message."""
    spec = info.input_spec
    return reward_pb2.ScorerInfo(
        name=info.name,
        outputs=list(info.outputs),
        embeddings=list(info.embeddings),
        version=info.version,
        weights_id=info.weights.weights_id,
        weights_sha256=info.weights.sha256,
        tiny_weights=info.weights.tiny,
        max_batch_size=info.max_batch_size,
        input_spec=reward_pb2.InputSpec(
            modalities=list(spec.modalities),
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


def array_to_tensor(arr: np.ndarray) -> reward_pb2.Tensor:
    """numpy array -> little-endian C-order Tensor."""
    a = np.ascontiguousarray(arr)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return reward_pb2.Tensor(dtype=a.dtype.name, shape=list(a.shape), data=a.tobytes())


def missing_modality(info: ScorerInfo, sample: DecodedSample) -> str:
    """The first modality `info` reads that `sample` lacks, or ''."""
    have = {
        "video": sample.video is not None,
        "audio": sample.audio is not None,
        "prompt": bool(sample.prompt.strip()),
        "audio_prompt": bool(sample.audio_text.strip()),
    }
    for modality in info.input_spec.modalities:
        if not have.get(modality, True):
            return modality
    return ""


class RewardServicer(reward_pb2_grpc.RewardServiceServicer):
    """Score / Embed / ListScorers over the scorers attached once they are loaded."""

    def __init__(
        self,
        *,
        policy: DecodePolicy,
        max_samples_per_request: int,
        max_message_bytes: int,
        cpu_executor: Executor,
        identity: ServerIdentity,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._policy = policy
        self._metrics = metrics
        self._max_samples = max_samples_per_request
        self._max_message_bytes = max_message_bytes
        self._cpu = cpu_executor
        self._identity = identity
        self._scorers: dict[str, Scorer] = {}
        self._batchers: dict[str, MicroBatcher] = {}
        self._info_protos: dict[str, reward_pb2.ScorerInfo] = {}
        self.ready = False
        self.draining = False
        self._inflight = 0
        self.calls = 0  # Score/Embed calls started (the heap trimmer's activity signal)
        self._idle = asyncio.Event()
        self._idle.set()

    # ----------------------------------------------------------------------------------------- lifecycle

    def attach(self, scorers: Mapping[str, Scorer], batchers: Mapping[str, MicroBatcher]) -> None:
        """Install loaded scorers and their batchers (before `ready` is set)."""
        self._scorers = dict(scorers)
        self._batchers = dict(batchers)
        self._info_protos = {name: info_to_proto(s.info) for name, s in self._scorers.items()}

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no Score/Embed call is in flight; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def inflight(self) -> int:
        """Score/Embed/ModelInfer calls currently running."""
        return self._inflight

    @property
    def scorers(self) -> Mapping[str, Scorer]:
        """The attached scorers by name (empty while loading)."""
        return self._scorers

    @property
    def batchers(self) -> Mapping[str, MicroBatcher]:
        """The attached scorers' batchers by name."""
        return self._batchers

    async def guarded(self, context: grpc.aio.ServicerContext, body: Callable[[], Awaitable[T]]) -> T:
        """Run another front's RPC body under the same readiness gate, in-flight accounting and error mapping."""
        return await self._guarded(context, body)

    async def evaluate(
        self, samples: Sequence[reward_pb2.Sample], names: list[str], deadline: float | None
    ) -> tuple[dict[str, list[Outcome]], list[status_pb2.Status | None]]:
        """Admission, decode once, run the named scorers: per-scorer outcomes and per-sample decode errors."""
        return await self._evaluate(samples, names, deadline)

    # ----------------------------------------------------------------------------------------- RPCs

    async def Score(
        self, request: reward_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.ScoreResponse:
        """Score every sample with the requested scorers."""
        return await self._guarded(context, lambda: self._score(request, context))

    async def Embed(
        self, request: reward_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.EmbedResponse:
        """Per-sample embeddings of the requested scorers."""
        return await self._guarded(context, lambda: self._embed(request, context))

    async def ListScorers(
        self, request: reward_pb2.ListScorersRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.ListScorersResponse:
        """Every hosted scorer's description and the server's limits and provenance."""
        if not self.ready:
            await _abort(
                context, NotReadyError("scorers are still loading; retry when health reports SERVING")
            )
        return reward_pb2.ListScorersResponse(
            scorers=list(self._info_protos.values()),
            server=reward_pb2.ServerInfo(
                package_version=self._identity.package_version,
                git_hash=self._identity.git_hash,
                max_samples_per_request=self._max_samples,
                max_message_bytes=self._max_message_bytes,
            ),
        )

    async def _guarded(self, context: grpc.aio.ServicerContext, body: Callable[[], Awaitable[T]]) -> T:
        """Readiness gate, in-flight accounting and ServingError -> status code."""
        self.calls += 1
        if self.draining:
            await _abort(context, NotReadyError("server is shutting down; retry on another replica"))
        if not self.ready:
            await _abort(
                context, NotReadyError("scorers are still loading; retry when health reports SERVING")
            )
        self._inflight += 1
        self._idle.clear()
        try:
            return await body()
        except ServingError as exc:
            await _abort(context, exc)
            raise AssertionError("unreachable") from None
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _score(
        self, request: reward_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.ScoreResponse:
        """Score body."""
        names = self._select(request.scorers, embeddings=False)
        outcomes, sample_errors = await self._evaluate(request.samples, names, _deadline(context))
        response = reward_pb2.ScoreResponse(
            request_id=current_request_id(), scorers=[self._info_protos[n] for n in names]
        )
        self._assemble(response.results, request.samples, names, outcomes, sample_errors, embeddings=False)
        return response

    async def _embed(
        self, request: reward_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.EmbedResponse:
        """Embed body."""
        names = self._select(request.scorers, embeddings=True)
        outcomes, sample_errors = await self._evaluate(request.samples, names, _deadline(context))
        response = reward_pb2.EmbedResponse(
            request_id=current_request_id(), scorers=[self._info_protos[n] for n in names]
        )
        self._assemble(response.results, request.samples, names, outcomes, sample_errors, embeddings=True)
        return response

    @staticmethod
    def _assemble(
        results: Any,
        samples: Sequence[reward_pb2.Sample],
        names: list[str],
        outcomes: dict[str, list[Outcome]],
        sample_errors: list[status_pb2.Status | None],
        *,
        embeddings: bool,
    ) -> None:
        """One SampleResult/EmbedResult per sample, in order: sample error, or scores/embeddings + scorer errors."""
        rid = current_request_id()
        for i, sample in enumerate(samples):
            result = results.add(id=sample.id)
            error = sample_errors[i]
            if error is not None:
                result.error.CopyFrom(error)
                continue
            for name in names:
                outcome = outcomes[name][i]
                if not isinstance(outcome, ScorerOutput):
                    result.scorer_errors[name].CopyFrom(_outcome_status(outcome, i, rid))
                elif embeddings:
                    for emb_name, vec in outcome.embeddings.items():
                        result.embeddings[f"{name}.{emb_name}"].CopyFrom(array_to_tensor(vec))
                else:
                    result.scores.update(outcome.scores)

    # ----------------------------------------------------------------------------------------- pipeline

    def _select(self, requested: Sequence[str], *, embeddings: bool) -> list[str]:
        """Requested scorer names, de-duplicated in order; empty = every applicable hosted scorer."""
        hosted = list(self._scorers)
        if not requested:
            field = "embeddings" if embeddings else "outputs"
            names = [n for n in hosted if getattr(self._scorers[n].info, field)]
            if not names:
                raise BadRequestError(f"no hosted scorer produces {field}")
            return names
        names = list(dict.fromkeys(requested))
        unknown = [n for n in names if n not in self._scorers]
        if unknown:
            close = difflib.get_close_matches(unknown[0][:ECHO_CHARS], hosted, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            shown = ", ".join(echo(n) for n in unknown[:_ECHO_NAMES])
            more = f" and {len(unknown) - _ECHO_NAMES} more" if len(unknown) > _ECHO_NAMES else ""
            what = f"{len(unknown)} unknown scorers" if len(unknown) > 1 else "unknown scorer"
            raise BadRequestError(f"{what}: {shown}{more}.{hint} This server hosts: {_hosted_list(hosted)}")
        for name in names:
            if embeddings and not self._scorers[name].info.embeddings:
                raise BadRequestError(f"scorer {name!r} produces no embeddings")
            if not embeddings and not self._scorers[name].info.outputs:
                raise BadRequestError(f"scorer {name!r} produces no scores, only embeddings: call Embed")
        return names

    async def _evaluate(
        self, samples: Sequence[reward_pb2.Sample], names: list[str], deadline: float | None
    ) -> tuple[dict[str, list[Outcome]], list[status_pb2.Status | None]]:
        """Decode every sample once, then run every scorer on the decoded ones concurrently."""
        if not samples:
            raise BadRequestError("request has no samples")
        if len(samples) > self._max_samples:
            raise BadRequestError(
                f"request has {len(samples)} samples; this server accepts at most {self._max_samples} per request"
            )
        rid = current_request_id()
        # Admission before any decoding: under overload, rejected requests must cost (almost) nothing.
        held: dict[str, int] = {}
        try:
            for n in names:
                self._batchers[n].reserve(len(samples))
                held[n] = len(samples)
            return await self._evaluate_reserved(samples, names, deadline, rid, held)
        finally:
            for n, count in held.items():  # room run_scorer did not hand to submit_many
                self._batchers[n].release(count)

    async def _evaluate_reserved(
        self,
        samples: Sequence[reward_pb2.Sample],
        names: list[str],
        deadline: float | None,
        rid: str,
        held: dict[str, int],
    ) -> tuple[dict[str, list[Outcome]], list[status_pb2.Status | None]]:
        """_evaluate after admission: decode, then run every scorer."""
        infos = [self._scorers[n].info for n in names]
        need_video = any(i.input_spec.reads("video") for i in infos)
        need_audio = any(i.input_spec.reads("audio") for i in infos)
        decoded = await self._map_cpu(
            lambda i_s: self._timed_decode(i_s[0], i_s[1], need_video=need_video, need_audio=need_audio),
            list(enumerate(samples)),
        )
        sample_errors: list[status_pb2.Status | None] = []
        ready: list[DecodedSample | None] = []
        media_errors: list[dict[str, SampleError]] = []
        for i, d in enumerate(decoded):
            if isinstance(d, DecodeResult):
                sample_errors.append(None)
                ready.append(d.sample)
                media_errors.append(d.failed)
                continue
            ready.append(None)
            media_errors.append({})
            if isinstance(d, SampleError):
                sample_errors.append(invalid_sample_status(str(d), d.field or f"samples[{i}]"))
            else:
                log.error("decoding sample %d of request %s failed", i, rid, exc_info=d)
                sample_errors.append(make_status(grpc.StatusCode.INTERNAL, internal_message(rid)))
        results = await _all_or_cancel(
            [
                self.run_scorer(n, ready, deadline=deadline, media_errors=media_errors, held=held)
                for n in names
            ]
        )
        for i, failed in enumerate(media_errors):
            # When bad media leaves no requested scorer able to run, the sample as a whole has failed.
            if (
                failed
                and sample_errors[i] is None
                and all(any(self._scorers[n].info.input_spec.reads(m) for m in failed) for n in names)
            ):
                err = next(iter(failed.values()))
                sample_errors[i] = invalid_sample_status(str(err), err.field or f"samples[{i}]")
        return dict(zip(names, results, strict=True)), sample_errors

    async def run_scorer(
        self,
        name: str,
        samples: Sequence[DecodedSample | None],
        *,
        deadline: float | None = None,
        media_errors: Sequence[dict[str, SampleError]] | None = None,
        held: dict[str, int] | None = None,
    ) -> list[Outcome]:
        """preprocess (CPU pool) -> MicroBatcher -> postprocess for one scorer; None samples are skipped.

        A modality that failed to decode fails this scorer only if the scorer reads that modality.
        `held` maps scorer names to queue room reserved at admission; this scorer's share is handed to the batcher.
        """
        scorer = self._scorers[name]
        rid = current_request_id()
        outcomes: list[Outcome] = [ScorerFailure("sample was not scored")] * len(samples)
        todo: list[int] = []
        for i, sample in enumerate(samples):
            if sample is None:
                continue
            bad = [m for m in (media_errors[i] if media_errors else {}) if scorer.info.input_spec.reads(m)]
            if bad:
                err = media_errors[i][bad[0]]  # type: ignore[index]
                outcomes[i] = InvalidSample(f"{err} ({err.field})" if err.field else str(err))
                self._count(name, "invalid")
                continue
            missing = missing_modality(scorer.info, sample)
            if missing:
                outcomes[i] = InvalidSample(f"scorer {name!r} needs {missing}; the sample has none")
                self._count(name, "invalid")
            else:
                todo.append(i)
        prepped = await self._map_cpu(
            lambda s: self._timed(name, "preprocess", scorer.preprocess, s), [samples[i] for i in todo]
        )
        submit: list[int] = []
        items: list[Any] = []
        for i, p in zip(todo, prepped, strict=True):
            if isinstance(p, BaseException):
                outcomes[i] = self._as_outcome(name, p, rid)
                self._count(name, "invalid" if isinstance(outcomes[i], InvalidSample) else "error")
            else:
                submit.append(i)
                items.append(p)
        if not items:
            return outcomes
        reserved = held.pop(name, 0) if held is not None else 0
        futures = self._batchers[name].submit_many(
            items, deadline=deadline, request_id=rid, reserved=reserved
        )
        raw = await asyncio.gather(*futures, return_exceptions=True)
        for exc in raw:
            # Request-level conditions (deadline, shutdown) fail the whole RPC.
            if isinstance(exc, ServingError) and not isinstance(exc, ScorerFailure):
                raise exc
        ok = [(i, r) for i, r in zip(submit, raw, strict=True) if not isinstance(r, BaseException)]
        for i, r in zip(submit, raw, strict=True):
            if isinstance(r, BaseException):
                outcomes[i] = self._as_outcome(name, r, rid)
        if ok:
            loop = asyncio.get_running_loop()
            posted = await loop.run_in_executor(
                self._cpu, self._timed, name, "postprocess", postprocess_all, scorer, [r for _, r in ok]
            )
            for (i, _), out in zip(ok, posted, strict=True):
                outcomes[i] = self._as_outcome(name, out, rid) if isinstance(out, BaseException) else out
        return outcomes

    def _timed_decode(
        self, index: int, sample: reward_pb2.Sample, *, need_video: bool, need_audio: bool
    ) -> DecodeResult:
        """decode_sample with its time and decoded streams recorded in the metrics."""
        t0 = time.perf_counter()
        try:
            result = decode_sample(index, sample, self._policy, need_video=need_video, need_audio=need_audio)
        finally:
            if self._metrics is not None:
                self._metrics.observe_stage("", "decode", time.perf_counter() - t0)
        if self._metrics is not None:
            for modality, media in (("video", result.sample.video), ("audio", result.sample.audio)):
                if media is not None:
                    self._metrics.count_decode(modality, reused=modality in result.reused)
        return result

    def _timed(self, name: str, stage: str, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) with its wall time added to the stage metrics."""
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            if self._metrics is not None:
                self._metrics.observe_stage(name, stage, time.perf_counter() - t0)

    def _count(self, name: str, outcome: str) -> None:
        """Count a per-scorer outcome decided before the batcher (missing modality, preprocess failure)."""
        if self._metrics is not None:
            self._metrics.count_sample(name, outcome)

    def _as_outcome(self, name: str, exc: BaseException, rid: str) -> Outcome:
        """InvalidSample/ScorerFailure pass through; anything else is logged and becomes ScorerFailure."""
        if isinstance(exc, InvalidSample | ScorerFailure):
            return exc
        log.error("scorer %s failed on a sample of request %s", name, rid, exc_info=exc)
        return ScorerFailure(f"scorer {name!r} failed on this sample")

    async def _map_cpu(self, fn: Callable[[Any], T], args: Sequence[Any]) -> list[T | BaseException]:
        """Run fn over args in the CPU pool; exceptions are returned in place."""
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self._cpu, fn, a) for a in args]
        return list(await asyncio.gather(*futures, return_exceptions=True))


def postprocess_all(scorer: Scorer, raws: Sequence[Any]) -> list[ScorerOutput | BaseException]:
    """postprocess each raw output and check it against the scorer's declared outputs."""
    out: list[ScorerOutput | BaseException] = []
    info = scorer.info
    for raw in raws:
        try:
            res = scorer.postprocess(raw)
            _check_output(info, res)
        except Exception as exc:
            out.append(exc)
        else:
            out.append(res)
    return out


def _check_output(info: ScorerInfo, res: ScorerOutput) -> None:
    """A missing or non-finite score is a scorer failure, never a value (no fabricated rewards)."""
    if not isinstance(res, ScorerOutput):
        raise TypeError(f"postprocess returned {type(res).__name__}, expected ScorerOutput")
    if set(res.scores) != set(info.outputs):
        raise ValueError(f"scores {sorted(res.scores)} do not match declared outputs {sorted(info.outputs)}")
    for key, value in res.scores.items():
        if not math.isfinite(float(value)):
            raise ValueError(f"score {key!r} is not finite ({value})")
    unknown = set(res.embeddings) - set(info.embeddings)
    if unknown:
        raise ValueError(f"undeclared embeddings {sorted(unknown)}")
    for key, vec in res.embeddings.items():
        if not np.isfinite(vec).all():
            raise ValueError(f"embedding {key!r} has non-finite values")


def _outcome_status(outcome: Outcome, index: int, rid: str) -> status_pb2.Status:
    """Per-scorer, per-sample status for a failed outcome."""
    if isinstance(outcome, InvalidSample):
        return invalid_sample_status(str(outcome), f"samples[{index}]")
    return make_status(grpc.StatusCode.INTERNAL, f"{outcome}; request id {rid}")


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The caller's deadline in time.monotonic() seconds, if it set one."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


async def _all_or_cancel(coros: Sequence[Awaitable[T]]) -> list[T]:
    """Await all; the first exception cancels the others (so their queued items are skipped) and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        raise
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    if failed:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        exc = failed[0].exception()
        assert exc is not None
        raise exc
    return [t.result() for t in tasks]


async def _abort(context: grpc.aio.ServicerContext, exc: ServingError) -> None:
    """End the RPC with the error's code and message, keeping the request id in the trailers."""
    message = str(exc)
    if len(message) > _MAX_STATUS_CHARS:
        message = message[:_MAX_STATUS_CHARS] + "..."
    await context.abort(exc.code, message, trailing_metadata=((REQUEST_ID_HEADER, current_request_id()),))
