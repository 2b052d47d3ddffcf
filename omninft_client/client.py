"""Blocking reward-service client: chunks sent concurrently as gRPC futures, retried per chunk."""

from __future__ import annotations

import heapq
import itertools
import queue
import random
import threading
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import grpc

from omninft_client import _base, _kserve
from omninft_client.errors import DeadlineExceededError, UnavailableError, from_rpc_error
from omninft_client.media import Sample
from omninft_client.results import EmbedResult, ScoreResult, ServerDescription
from omninft_client.retry import MIN_ATTEMPT_S, RetryPolicy
from omninft_client.v1 import reward_pb2, reward_pb2_grpc

# Bounds each wait so that Ctrl-C and scheduled retries are noticed promptly.
_POLL_S = 0.5


class RewardClient:
    """Synchronous client for omninft reward servers (thread-safe; one instance can serve many threads)."""

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        max_message_bytes: int = 512 * 2**20,
        token: str | None = None,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        max_samples_per_request: int | None = None,
        tls: bool | None = None,
        lb_policy: str = "round_robin",
        protocol: str = "omninft",
    ) -> None:
        self._kserve = _base.check_protocol(protocol) == "kserve"
        self._config = _base.client_config(
            target,
            timeout_s=timeout_s,
            retry=retry,
            max_message_bytes=max_message_bytes,
            token=token,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            max_samples_per_request=max_samples_per_request,
            tls=tls,
            lb_policy=lb_policy,
        )
        plan = self._config.plan
        creds = self._config.credentials
        self._channels: list[grpc.Channel] = [
            grpc.secure_channel(t, creds, options=list(plan.options))
            if creds is not None
            else grpc.insecure_channel(t, options=list(plan.options))
            for t in plan.targets
        ]
        self._stubs: list[Any] = [
            _kserve.KServeStub(ch) if self._kserve else reward_pb2_grpc.RewardServiceStub(ch)
            for ch in self._channels
        ]
        self._rotation = itertools.cycle(range(len(self._stubs)))
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._description: ServerDescription | None = None
        self._closed = False

    # ------------------------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the channels; calls in flight are cancelled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for ch in self._channels:
            ch.close()

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        proto = ", protocol='kserve'" if self._kserve else ""
        return f"RewardClient(targets={list(self._config.plan.targets)!r}{proto})"

    # ------------------------------------------------------------------------------------ API

    def list_scorers(self, timeout_s: float | None = None) -> ServerDescription:
        """Ask the server which scorers it hosts and its limits (cached for chunking)."""
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        return self._fetch_description(deadline, _base.new_request_id())

    def wait_ready(self, timeout_s: float) -> ServerDescription:
        """Block until every configured server answers ListScorers (wait_for_ready), up to `timeout_s`."""
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        rid = _base.new_request_id()
        md = _base.call_metadata(rid, self._config.token)
        if self._kserve:
            for stub in self._stubs:
                self._wait_server_ready(stub, deadline, md, rid, timeout_s)
            return self._fetch_description(deadline, rid)
        first: ServerDescription | None = None
        for stub in self._stubs:
            remaining = deadline - time.monotonic()
            if remaining <= MIN_ATTEMPT_S:
                raise DeadlineExceededError(f"servers not ready within {timeout_s} s", request_id=rid)
            try:
                resp = stub.ListScorers(
                    reward_pb2.ListScorersRequest(), timeout=remaining, metadata=md, wait_for_ready=True
                )
            except grpc.RpcError as e:
                raise from_rpc_error(e, request_id=rid) from None
            if first is None:
                first = _base.parse_list_scorers(resp)
        assert first is not None
        with self._lock:
            self._description = first
        return first

    def score(
        self, samples: Iterable[Sample], scorers: str | Iterable[str] = (), *, timeout_s: float | None = None
    ) -> list[ScoreResult]:
        """Score samples with the named scorers (empty = all); one result per sample, in input order."""
        if self._kserve:
            return self._score_kserve(samples, scorers, timeout_s)
        chunks, responses, rid = self._run("Score", samples, scorers, timeout_s)
        return _base.assemble_scores(chunks, responses, rid) if chunks else []

    def embed(
        self, samples: Iterable[Sample], scorers: str | Iterable[str] = (), *, timeout_s: float | None = None
    ) -> list[EmbedResult]:
        """Embed samples with the named scorers (empty = all with embeddings); results in input order."""
        if self._kserve:
            raise ValueError("the kserve protocol serves scores only; embed through protocol='omninft'")
        chunks, responses, rid = self._run("Embed", samples, scorers, timeout_s)
        if not chunks:
            return []
        return _base.assemble_embeddings(chunks, responses, rid, max_bytes=self._config.max_message_bytes)

    def _run(
        self, method: str, samples: Iterable[Sample], scorers: str | Iterable[str], timeout_s: float | None
    ) -> tuple[Any, list[Any], str]:
        """Chunk, send (concurrently, with retries) and collect one Score or Embed call's responses."""
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        items = _base.as_samples(samples)
        names = _base.normalize_scorers(scorers)
        rid = _base.new_request_id()
        if not items:
            return [], [], rid
        embed = method == "Embed"
        size = self._chunk_size(names, embed=embed, deadline=deadline, request_id=rid)
        chunks, requests = _base.prepare_requests(
            items, names, size, embed=embed, max_message_bytes=self._config.max_message_bytes
        )
        return chunks, self._call_chunks(method, requests, deadline, rid), rid

    def _score_kserve(
        self, samples: Iterable[Sample], scorers: str | Iterable[str], timeout_s: float | None
    ) -> list[ScoreResult]:
        """Score through ModelInfer: one request per (chunk, scorer-model), all sent concurrently."""
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        items = _base.as_samples(samples)
        names = _base.normalize_scorers(scorers)
        rid = _base.new_request_id()
        if not items:
            return []
        with self._lock:
            desc = self._description
        if desc is None:
            desc = self._fetch_description(deadline, rid)
        models = _kserve.plan_scorers(desc, names, rid)
        size = _base.chunk_size(desc, [m.name for m in models], explicit=self._config.max_samples_per_request)
        chunks, requests = _kserve.prepare_requests(items, models, size, rid, self._config.max_message_bytes)
        responses = self._call_chunks("ModelInfer", requests, deadline, rid)
        return _kserve.assemble_scores(chunks, models, responses, rid)

    # ------------------------------------------------------------------------------------ internals

    def _wait_server_ready(
        self, stub: Any, deadline: float, md: tuple[tuple[str, str], ...], rid: str, timeout_s: float
    ) -> None:
        """Poll ServerReady (wait_for_ready) until it says ready; a KServe server may be live but loading."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= MIN_ATTEMPT_S:
                raise DeadlineExceededError(f"servers not ready within {timeout_s} s", request_id=rid)
            try:
                resp = stub.ServerReady(
                    _kserve.kserve_pb2.ServerReadyRequest(),
                    timeout=remaining,
                    metadata=md,
                    wait_for_ready=True,
                )
            except grpc.RpcError as e:
                err = from_rpc_error(e, request_id=rid)
                if not isinstance(err, UnavailableError):
                    raise err from None
            else:
                if resp.ready:
                    return
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))

    def _fetch_description(self, deadline: float, request_id: str) -> ServerDescription:
        if self._kserve:
            req = _kserve.kserve_pb2.RepositoryIndexRequest(ready=True)
            (index,) = self._call_chunks("RepositoryIndex", [req], deadline, request_id)
            names = _kserve.ready_model_names(index)
            configs = self._call_chunks(
                "ModelConfig",
                [_kserve.kserve_pb2.ModelConfigRequest(name=n) for n in names],
                deadline,
                request_id,
            )
            desc = _kserve.server_description(configs)
            with self._lock:
                self._description = desc
            return desc
        (resp,) = self._call_chunks("ListScorers", [reward_pb2.ListScorersRequest()], deadline, request_id)
        desc = _base.parse_list_scorers(resp)
        with self._lock:
            self._description = desc
        return desc

    def _chunk_size(self, names: Sequence[str], *, embed: bool, deadline: float, request_id: str) -> int:
        explicit = self._config.max_samples_per_request
        if explicit is not None:
            return explicit
        with self._lock:
            desc = self._description
        if desc is None:
            desc = self._fetch_description(deadline, request_id)
        return _base.chunk_size(desc, names, embed=embed)

    def _next_stub(self) -> reward_pb2_grpc.RewardServiceStub:
        with self._lock:
            return self._stubs[next(self._rotation)]

    def _call_chunks(
        self, method: str, requests: Sequence[Any], deadline: float, request_id: str
    ) -> list[Any]:
        """Send every request at once, retry failed ones per policy, and return responses in order."""
        policy = self._config.retry
        md = _base.call_metadata(request_id, self._config.token)
        done: queue.SimpleQueue[tuple[int, int, grpc.Future]] = queue.SimpleQueue()
        live: dict[int, grpc.Future] = {}
        scheduled: list[tuple[float, int, int]] = []
        responses: list[Any] = [None] * len(requests)

        def submit(i: int, attempt: int) -> None:
            remaining = deadline - time.monotonic()
            if remaining <= MIN_ATTEMPT_S:
                raise DeadlineExceededError(
                    f"{method}: the call's deadline passed before chunk {i} could be sent",
                    request_id=request_id,
                )
            fn = getattr(self._next_stub(), method)
            fut = fn.future(requests[i], timeout=policy.attempt_timeout(remaining), metadata=md)
            live[i] = fut
            fut.add_done_callback(lambda f, i=i, a=attempt: done.put((i, a, f)))

        try:
            for i in range(len(requests)):
                submit(i, 1)
            pending = len(requests)
            while pending:
                wait = _POLL_S
                if scheduled:
                    wait = scheduled[0][0] - time.monotonic()
                    if wait <= 0:
                        _, i, attempt = heapq.heappop(scheduled)
                        submit(i, attempt)
                        continue
                    wait = min(wait, _POLL_S)
                try:
                    i, attempt, fut = done.get(timeout=wait)
                except queue.Empty:
                    continue
                if i not in live or live[i] is not fut:
                    continue
                del live[i]
                err = fut.exception()
                if err is None:
                    responses[i] = fut.result()
                    pending -= 1
                    continue
                if not isinstance(err, grpc.RpcError):
                    raise err
                delay = policy.next_delay(err.code(), attempt, deadline - time.monotonic(), self._rng)
                if delay is None:
                    raise from_rpc_error(err, request_id=request_id) from None
                heapq.heappush(scheduled, (time.monotonic() + delay, i, attempt + 1))
        finally:
            for fut in live.values():
                fut.cancel()
        return responses
