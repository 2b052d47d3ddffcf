"""RewardClient and AsyncRewardClient against real FakeRewardServer instances on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from omninft_client import (
    AsyncRewardClient,
    DeadlineExceededError,
    InvalidArgumentError,
    MissingScoreError,
    ResourceExhaustedError,
    RetryPolicy,
    RewardClient,
    Sample,
    UnauthenticatedError,
    UnavailableError,
    audio_pcm,
    video_bytes,
    video_frames,
)
from omninft_client.testing import FakeRewardServer, FakeSample
from omninft_client.v1 import reward_pb2, reward_pb2_grpc

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)


def _samples(n: int, prefix: str = "s") -> list[Sample]:
    return [
        Sample(
            f"{prefix}{i}",
            prompt=f"prompt {i}",
            video=video_frames(np.full((2, 4, 4, 3), 10 * i, np.uint8), 8.0),
            audio=audio_pcm(np.full(64, 0.05 * i, np.float32), 16000),
        )
        for i in range(n)
    ]


class _SyncAPI:
    """The sync client as-is."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.client = RewardClient(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def close(self) -> None:
        self.client.close()


class _AsyncAPI:
    """The async client driven on a private event loop, so the same test body covers both clients."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = AsyncRewardClient(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.client, name)

        def call(*a: Any, **k: Any) -> Any:
            return self.loop.run_until_complete(fn(*a, **k))

        return call

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(params=["sync", "aio"])
def make_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []
    kind = _SyncAPI if request.param == "sync" else _AsyncAPI

    def make(*args: Any, **kw: Any) -> Any:
        kw.setdefault("timeout_s", 10.0)
        kw.setdefault("retry", FAST_RETRY)
        c = kind(*args, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def server() -> Iterator[FakeRewardServer]:
    with FakeRewardServer() as srv:
        yield srv


# ---------------------------------------------------------------------------------------------- core


def test_score_values_and_order(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address)
    samples = _samples(5)
    results = client.score(samples)
    assert [r.id for r in results] == [s.id for s in samples]
    for i, r in enumerate(results):
        assert r.ok
        assert r.score("brightness") == pytest.approx(10 * i / 255)
        assert r.score("loudness") == pytest.approx(0.05 * i, rel=1e-6)
    only = client.score(samples[:2], "loudness")
    assert list(only[1].scores) == ["loudness"]
    with pytest.raises(MissingScoreError):
        only[1].score("brightness")
    assert client.score([]) == []


def test_chunking_by_server_limits_keeps_order(make_client: Callable[..., Any]) -> None:
    with FakeRewardServer(max_batch_size=3) as srv:
        client = make_client(srv.address)
        samples = _samples(10)
        results = client.score(samples)
        assert [r.id for r in results] == [s.id for s in samples]
        assert [r.score("brightness") for r in results] == pytest.approx([10 * i / 255 for i in range(10)])
        sizes = sorted(c.n_samples for c in srv.score_calls())
        assert sizes == [1, 3, 3, 3]
        chunks = sorted(c.sample_ids for c in srv.score_calls())
        assert sorted(sum(chunks, ())) == sorted(s.id for s in samples)
        client.score(samples[:4])
        assert sum(c.method == "ListScorers" for c in srv.calls) == 1  # limits fetched once, cached


def test_explicit_chunk_size_skips_list_scorers(
    server: FakeRewardServer, make_client: Callable[..., Any]
) -> None:
    client = make_client(server.address, max_samples_per_request=4)
    client.score(_samples(10))
    assert sorted(c.n_samples for c in server.score_calls()) == [2, 4, 4]
    assert not any(c.method == "ListScorers" for c in server.calls)


def test_chunks_are_sent_concurrently(make_client: Callable[..., Any]) -> None:
    barrier = threading.Barrier(3, timeout=5.0)

    def meet(s: FakeSample) -> dict[str, float]:
        barrier.wait()  # only passes if three chunks are in flight at the same time
        return {"met": 1.0}

    with FakeRewardServer({"meet": meet}) as srv:
        client = make_client(srv.address, max_samples_per_request=1)
        results = client.score(_samples(3))
        assert all(r.ok and r.score("met") == 1.0 for r in results)


def test_request_id_and_metadata(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address, max_samples_per_request=2)
    client.score(_samples(4))
    client.score(_samples(1))
    first, second = server.score_calls()[:2], server.score_calls()[2:]
    rids = {c.request_id for c in first}
    assert len(rids) == 1 and len(next(iter(rids))) == 32  # one uuid4 hex per call, shared by its chunks
    assert second[0].request_id not in rids
    assert all(c.authorization is None for c in server.calls)


# ---------------------------------------------------------------------------------------------- retries


def test_retry_unavailable_then_success(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address, max_samples_per_request=8)
    server.fail_next(2, grpc.StatusCode.UNAVAILABLE, method="Score")
    results = client.score(_samples(3))
    assert all(r.ok for r in results)
    assert [c.code for c in server.score_calls()] == ["UNAVAILABLE", "UNAVAILABLE", "OK"]


def test_no_retry_on_invalid_argument(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address, max_samples_per_request=8)
    server.fail_next(1, grpc.StatusCode.INVALID_ARGUMENT, "malformed", method="Score")
    with pytest.raises(InvalidArgumentError, match="malformed") as ei:
        client.score(_samples(3))
    calls = server.score_calls()
    assert len(calls) == 1
    assert ei.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert ei.value.request_id == calls[0].request_id


def test_resource_exhausted_retried_then_raised(
    server: FakeRewardServer, make_client: Callable[..., Any]
) -> None:
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)
    client = make_client(server.address, max_samples_per_request=8, retry=retry)
    server.fail_next(10, grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", method="Score")
    with pytest.raises(ResourceExhaustedError, match="queue full"):
        client.score(_samples(2))
    assert len(server.score_calls()) == 3


def test_deadline_exceeded(make_client: Callable[..., Any]) -> None:
    release = threading.Event()

    def slow(s: FakeSample) -> dict[str, float]:
        release.wait(5.0)
        return {"slow": 1.0}

    with FakeRewardServer({"slow": slow}) as srv:
        try:
            client = make_client(srv.address, max_samples_per_request=4)
            t0 = time.monotonic()
            with pytest.raises(DeadlineExceededError):
                client.score(_samples(1), timeout_s=0.3)
            assert time.monotonic() - t0 < 2.0
        finally:
            release.set()


def test_per_attempt_deadline_is_retried_within_overall_deadline(make_client: Callable[..., Any]) -> None:
    first = threading.Event()

    def slow_once(s: FakeSample) -> dict[str, float]:
        if not first.is_set():
            first.set()
            time.sleep(0.5)
        return {"v": 1.0}

    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, per_attempt_timeout_s=0.2)
    with FakeRewardServer({"slow": slow_once}) as srv:
        client = make_client(srv.address, max_samples_per_request=4, retry=retry)
        (r,) = client.score(_samples(1), timeout_s=5.0)
        assert r.score("v") == 1.0


def test_unavailable_server_fails_after_retries(make_client: Callable[..., Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(
        f"127.0.0.1:{port}",
        max_samples_per_request=2,
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01),
    )
    with pytest.raises(UnavailableError):
        client.score(_samples(1), timeout_s=5.0)
    with pytest.raises(DeadlineExceededError):
        client.wait_ready(0.3)


# ---------------------------------------------------------------------------------------------- errors


def test_per_sample_and_per_scorer_errors(make_client: Callable[..., Any]) -> None:
    def picky(s: FakeSample) -> dict[str, float]:
        if int(s.id[1:]) % 2:
            raise ValueError("odd samples are refused")
        return {"picky": 1.0}

    def broken(s: FakeSample) -> dict[str, float]:
        raise RuntimeError("bug")

    scorers = {"brightness_only": lambda s: {"b": float(s.frames.mean())}, "picky": picky, "broken": broken}
    outputs = {"brightness_only": ["b"], "picky": ["picky"], "broken": ["broken"]}
    with FakeRewardServer(scorers, outputs=outputs) as srv:
        client = make_client(srv.address)
        results = client.score(_samples(4))
        for i, r in enumerate(results):
            assert not r.ok
            assert r.scorer_errors["broken"].code == "INTERNAL"
            assert "b" in r.scores
            if i % 2:
                assert r.scorer_errors["picky"].code == "INVALID_ARGUMENT"
                assert "picky" not in r.scores
                with pytest.raises(MissingScoreError, match="scorer 'picky' failed.*odd samples are refused"):
                    r.score("picky")
            else:
                assert r.score("picky") == 1.0
        # Bytes are not decoded by the fake: brightness_only fails for this sample alone.
        mixed = client.score([Sample("c0", video=video_bytes(b"not-a-video")), *_samples(1)])
        assert "brightness_only" in mixed[0].scorer_errors and "b" in mixed[1].scores


def test_unknown_scorer_fails_the_request(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address, max_samples_per_request=8)
    with pytest.raises(InvalidArgumentError, match="unknown scorer 'nope'"):
        client.score(_samples(2), ["brightness", "nope"])
    assert len(server.score_calls()) == 1


def test_bad_tensor_fails_only_its_sample(server: FakeRewardServer) -> None:
    good = reward_pb2.Sample(id="good")
    good.video.frames.CopyFrom(reward_pb2.Tensor(dtype="uint8", shape=[1, 2, 2, 3], data=b"\x10" * 12))
    good.video.fps = 4.0
    bad = reward_pb2.Sample(id="bad")
    bad.video.frames.CopyFrom(reward_pb2.Tensor(dtype="uint8", shape=[1, 2, 2, 3], data=b"\x10" * 11))
    bad.video.fps = 4.0
    with grpc.insecure_channel(server.address) as ch:
        resp = reward_pb2_grpc.RewardServiceStub(ch).Score(
            reward_pb2.ScoreRequest(samples=[bad, good], scorers=["brightness"]), timeout=5.0
        )
    assert resp.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "needs 12 bytes but carries 11" in resp.results[0].error.message
    assert not resp.results[0].scores
    assert resp.results[1].scores["brightness"] == pytest.approx(16 / 255)


# ---------------------------------------------------------------------------------------------- auth, discovery


def test_token_reaches_server(make_client: Callable[..., Any]) -> None:
    with FakeRewardServer(token="s3cret") as srv:
        anon = make_client(srv.address, max_samples_per_request=4)
        with pytest.raises(UnauthenticatedError):
            anon.score(_samples(1))
        wrong = make_client(srv.address, max_samples_per_request=4, token="guess")
        with pytest.raises(UnauthenticatedError):
            wrong.score(_samples(1))
        assert len(srv.score_calls()) == 2  # UNAUTHENTICATED is not retried
        good = make_client(srv.address, token="s3cret")
        assert all(r.ok for r in good.score(_samples(2)))
        assert srv.calls[-1].authorization == "Bearer s3cret"


def test_list_scorers_and_wait_ready(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address)
    desc = client.wait_ready(5.0)
    assert set(desc.names) == {"brightness", "loudness", "color"}
    assert desc.scorer("brightness").outputs == ("brightness",)
    assert desc.scorer("brightness").tiny_weights
    assert desc.scorer("color").embeddings == ("rgb",)
    assert desc.scorer("loudness").input_spec.modalities == ("audio",)
    assert desc.max_samples_per_request == server.max_samples_per_request
    assert client.list_scorers(timeout_s=2.0) == desc


def test_embed(server: FakeRewardServer, make_client: Callable[..., Any]) -> None:
    client = make_client(server.address)
    samples = _samples(3) + [Sample("noframes", video=video_bytes(b"x"))]
    results = client.embed(samples)
    assert [r.id for r in results] == [s.id for s in samples]
    for i, r in enumerate(results[:3]):
        np.testing.assert_allclose(r.embedding("color.rgb"), np.full(3, 10 * i / 255, np.float32))
    assert results[3].scorer_errors["color"].code == "INVALID_ARGUMENT"
    assert results[3].embeddings == {}
    with pytest.raises(InvalidArgumentError, match="has no embeddings"):
        client.embed(samples[:1], ["brightness"])


# ---------------------------------------------------------------------------------------------- several servers


def test_ip_list_balances_over_servers(make_client: Callable[..., Any]) -> None:
    with FakeRewardServer() as a, FakeRewardServer() as b:
        client = make_client([a.address, b.address], max_samples_per_request=1)
        client.wait_ready(5.0)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not (a.score_calls() and b.score_calls()):
            client.score(_samples(4))
        assert a.score_calls() and b.score_calls()


def test_hostname_list_rotates_over_servers(make_client: Callable[..., Any]) -> None:
    with FakeRewardServer() as a, FakeRewardServer() as b:
        client = make_client([f"localhost:{a.port}", f"localhost:{b.port}"], max_samples_per_request=1)
        results = client.score(_samples(4))
        assert [r.id for r in results] == ["s0", "s1", "s2", "s3"]
        assert len(a.score_calls()) == 2 and len(b.score_calls()) == 2
        desc = client.wait_ready(5.0)  # waits for every listed server
        assert "brightness" in desc.names


def test_retry_moves_to_the_other_server(make_client: Callable[..., Any]) -> None:
    with FakeRewardServer() as a, FakeRewardServer() as b:
        client = make_client([f"localhost:{a.port}", f"localhost:{b.port}"], max_samples_per_request=4)
        a.fail_next(1, grpc.StatusCode.UNAVAILABLE, method="Score")
        (r,) = client.score(_samples(1))
        assert r.ok and len(a.score_calls()) == 1 and len(b.score_calls()) == 1


# ---------------------------------------------------------------------------------------------- TLS


def _make_certs(tmp: Path) -> dict[str, bytes]:
    (tmp / "ca.cnf").write_text(
        "[req]\ndistinguished_name = dn\n[dn]\n"
        "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "[leaf]\nbasicConstraints = CA:FALSE\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True, timeout=30)

    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-config",
        "ca.cnf",
        "-extensions",
        "v3_ca",
    )
    for name in ("server", "client"):
        run(
            "req",
            *ec,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            "-config",
            "ca.cnf",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            "-extfile",
            "ca.cnf",
            "-extensions",
            "leaf",
        )
    return {p.name: p.read_bytes() for p in tmp.iterdir() if p.suffix in (".pem", ".key")}


def test_mutual_tls(tmp_path: Path, make_client: Callable[..., Any]) -> None:
    try:
        certs = _make_certs(tmp_path)
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        pytest.skip(f"openssl unavailable: {e}")
    creds = grpc.ssl_server_credentials(
        [(certs["server.key"], certs["server.pem"])],
        root_certificates=certs["ca.pem"],
        require_client_auth=True,
    )
    with FakeRewardServer(server_credentials=creds) as srv:
        target = f"localhost:{srv.port}"
        client = make_client(
            target,
            root_certificates=certs["ca.pem"],
            certificate_chain=certs["client.pem"],
            private_key=certs["client.key"],
            token="t",
        )
        assert all(r.ok for r in client.score(_samples(2)))
        no_cert = make_client(target, root_certificates=certs["ca.pem"], retry=RetryPolicy(max_attempts=1))
        with pytest.raises(UnavailableError):
            no_cert.score(_samples(1), timeout_s=5.0)


# ---------------------------------------------------------------------------------------------- asyncio native


async def test_async_client_context_manager_and_concurrent_calls(server: FakeRewardServer) -> None:
    async with AsyncRewardClient(server.address, timeout_s=10.0, max_samples_per_request=2) as client:
        a, b = await asyncio.gather(client.score(_samples(5, "a")), client.score(_samples(3, "b")))
        assert [r.id for r in a] == [f"a{i}" for i in range(5)]
        assert [r.id for r in b] == [f"b{i}" for i in range(3)]
        assert all(r.ok for r in a + b)
    with pytest.raises(RuntimeError, match="closed"):
        await client.score(_samples(1))


def test_sync_client_is_thread_safe(server: FakeRewardServer) -> None:
    with RewardClient(server.address, timeout_s=10.0) as client:
        out: dict[int, list[str]] = {}

        def work(k: int) -> None:
            out[k] = [r.id for r in client.score(_samples(6, f"t{k}-"))]

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert out == {k: [f"t{k}-{i}" for i in range(6)] for k in range(4)}
