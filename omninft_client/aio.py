"""asyncio reward-service client: chunks sent concurrently with asyncio.gather, retried per chunk."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

from omninft_client import _base, _kserve
from omninft_client.errors import DeadlineExceededError, UnavailableError, from_rpc_error
from omninft_client.media import Sample
from omninft_client.results import EmbedResult, ScoreResult, ServerDescription
from omninft_client.retry import MIN_ATTEMPT_S, RetryPolicy
from omninft_client.v1 import reward_pb2, reward_pb2_grpc


class AsyncRewardClient:
    """asyncio client for omninft reward servers; same arguments and results as RewardClient."""

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
        # aio channels belong to the event loop they are made in, so they are opened on first use.
        self._channels: list[grpc.aio.Channel] = []
        self._stubs: list[Any] = []
        self._rotation = itertools.cycle(range(len(self._config.plan.targets)))
        self._rng = random.Random()
        self._description: ServerDescription | None = None
        self._closed = False

    # ------------------------------------------------------------------------------------ lifecycle

    def _ensure_open(self) -> None:
        if self._closed:
            raise RuntimeError("AsyncRewardClient is closed")
        if self._stubs:
            return
        plan = self._config.plan
        creds = self._config.credentials
        self._channels = [
            grpc.aio.secure_channel(t, creds, options=list(plan.options))
            if creds is not None
            else grpc.aio.insecure_channel(t, options=list(plan.options))
            for t in plan.targets
        ]
        self._stubs = [
            _kserve.KServeStub(ch) if self._kserve else reward_pb2_grpc.RewardServiceStub(ch)
            for ch in self._channels
        ]

    async def close(self) -> None:
        """Close the channels; calls in flight are cancelled."""
        self._closed = True
        channels, self._channels, self._stubs = self._channels, [], []
        for ch in channels:
            await ch.close()

    async def __aenter__(self) -> AsyncRewardClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        proto = ", protocol='kserve'" if self._kserve else ""
        return f"AsyncRewardClient(targets={list(self._config.plan.targets)!r}{proto})"

    # ------------------------------------------------------------------------------------ API

    async def list_scorers(self, timeout_s: float | None = None) -> ServerDescription:
        """Ask the server which scorers it hosts and its limits (cached for chunking)."""
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        return await self._fetch_description(deadline, _base.new_request_id())

    async def wait_ready(self, timeout_s: float) -> ServerDescription:
        """Wait until every configured server answers ListScorers (wait_for_ready), up to `timeout_s`."""
        self._ensure_open()
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        rid = _base.new_request_id()
        md = _base.call_metadata(rid, self._config.token)
        if self._kserve:
            for stub in self._stubs:
                await self._wait_server_ready(stub, deadline, md, rid, timeout_s)
            return await self._fetch_description(deadline, rid)
        first: ServerDescription | None = None
        for stub in self._stubs:
            remaining = deadline - time.monotonic()
            if remaining <= MIN_ATTEMPT_S:
                raise DeadlineExceededError(f"servers not ready within {timeout_s} s", request_id=rid)
            try:
                resp = await stub.ListScorers(
                    reward_pb2.ListScorersRequest(), timeout=remaining, metadata=md, wait_for_ready=True
                )
            except grpc.aio.AioRpcError as e:
                raise from_rpc_error(e, request_id=rid) from None
            if first is None:
                first = _base.parse_list_scorers(resp)
        assert first is not None
        self._description = first
        return first

    async def score(
        self, samples: Iterable[Sample], scorers: str | Iterable[str] = (), *, timeout_s: float | None = None
    ) -> list[ScoreResult]:
        """Score samples with the named scorers (empty = all); one result per sample, in input order."""
        if self._kserve:
            return await self._score_kserve(samples, scorers, timeout_s)
        chunks, responses, rid = await self._run("Score", samples, scorers, timeout_s)
        return _base.assemble_scores(chunks, responses, rid) if chunks else []

    async def embed(
        self, samples: Iterable[Sample], scorers: str | Iterable[str] = (), *, timeout_s: float | None = None
    ) -> list[EmbedResult]:
        """Embed samples with the named scorers (empty = all with embeddings); results in input order."""
        if self._kserve:
            raise ValueError("the kserve protocol serves scores only; embed through protocol='omninft'")
        chunks, responses, rid = await self._run("Embed", samples, scorers, timeout_s)
        if not chunks:
            return []
        return _base.assemble_embeddings(chunks, responses, rid, max_bytes=self._config.max_message_bytes)

    async def _run(
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
        size = await self._chunk_size(names, embed=embed, deadline=deadline, request_id=rid)
        chunks, requests = _base.prepare_requests(
            items, names, size, embed=embed, max_message_bytes=self._config.max_message_bytes
        )
        return chunks, await self._call_chunks(method, requests, deadline, rid), rid

    async def _score_kserve(
        self, samples: Iterable[Sample], scorers: str | Iterable[str], timeout_s: float | None
    ) -> list[ScoreResult]:
        """Score through ModelInfer: one request per (chunk, scorer-model), all sent concurrently."""
        deadline = time.monotonic() + _base.call_timeout(self._config, timeout_s)
        items = _base.as_samples(samples)
        names = _base.normalize_scorers(scorers)
        rid = _base.new_request_id()
        if not items:
            return []
        desc = self._description
        if desc is None:
            desc = await self._fetch_description(deadline, rid)
        models = _kserve.plan_scorers(desc, names, rid)
        size = _base.chunk_size(desc, [m.name for m in models], explicit=self._config.max_samples_per_request)
        chunks, requests = _kserve.prepare_requests(items, models, size, rid, self._config.max_message_bytes)
        responses = await self._call_chunks("ModelInfer", requests, deadline, rid)
        return _kserve.assemble_scores(chunks, models, responses, rid)

    # ------------------------------------------------------------------------------------ internals

    async def _wait_server_ready(
        self, stub: Any, deadline: float, md: tuple[tuple[str, str], ...], rid: str, timeout_s: float
    ) -> None:
        """Poll ServerReady (wait_for_ready) until it says ready; a KServe server may be live but loading."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= MIN_ATTEMPT_S:
                raise DeadlineExceededError(f"servers not ready within {timeout_s} s", request_id=rid)
            try:
                resp = await stub.ServerReady(
                    _kserve.kserve_pb2.ServerReadyRequest(),
                    timeout=remaining,
                    metadata=md,
                    wait_for_ready=True,
                )
            except grpc.aio.AioRpcError as e:
                err = from_rpc_error(e, request_id=rid)
                if not isinstance(err, UnavailableError):
                    raise err from None
            else:
                if resp.ready:
                    return
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    async def _fetch_description(self, deadline: float, request_id: str) -> ServerDescription:
        if self._kserve:
            req = _kserve.kserve_pb2.RepositoryIndexRequest(ready=True)
            (index,) = await self._call_chunks("RepositoryIndex", [req], deadline, request_id)
            names = _kserve.ready_model_names(index)
            configs = await self._call_chunks(
                "ModelConfig",
                [_kserve.kserve_pb2.ModelConfigRequest(name=n) for n in names],
                deadline,
                request_id,
            )
            self._description = _kserve.server_description(configs)
            return self._description
        (resp,) = await self._call_chunks(
            "ListScorers", [reward_pb2.ListScorersRequest()], deadline, request_id
        )
        self._description = _base.parse_list_scorers(resp)
        return self._description

    async def _chunk_size(
        self, names: Sequence[str], *, embed: bool, deadline: float, request_id: str
    ) -> int:
        explicit = self._config.max_samples_per_request
        if explicit is not None:
            return explicit
        desc = self._description
        if desc is None:
            desc = await self._fetch_description(deadline, request_id)
        return _base.chunk_size(desc, names, embed=embed)

    async def _call_one(self, method: str, request: Any, deadline: float, request_id: str, index: int) -> Any:
        policy = self._config.retry
        md = _base.call_metadata(request_id, self._config.token)
        attempt = 1
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= MIN_ATTEMPT_S:
                raise DeadlineExceededError(
                    f"{method}: the call's deadline passed before chunk {index} could be sent",
                    request_id=request_id,
                )
            fn = getattr(self._stubs[next(self._rotation)], method)
            try:
                return await fn(request, timeout=policy.attempt_timeout(remaining), metadata=md)
            except grpc.aio.AioRpcError as e:
                delay = policy.next_delay(e.code(), attempt, deadline - time.monotonic(), self._rng)
                if delay is None:
                    raise from_rpc_error(e, request_id=request_id) from None
            await asyncio.sleep(delay)
            attempt += 1

    async def _call_chunks(
        self, method: str, requests: Sequence[Any], deadline: float, request_id: str
    ) -> list[Any]:
        """Send every request concurrently, retry failed ones per policy, and return responses in order."""
        self._ensure_open()
        tasks = [
            asyncio.ensure_future(self._call_one(method, req, deadline, request_id, i))
            for i, req in enumerate(requests)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            # On the first failure the other chunks are abandoned; reap them so none is left unawaited.
            pending = [t for t in tasks if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
