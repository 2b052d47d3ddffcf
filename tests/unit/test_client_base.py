"""Pure client logic: tensors, requests, response parsing, retries, chunking, channel plans, errors."""

from __future__ import annotations

import json
import random
import tracemalloc

import grpc
import numpy as np
import pytest
from google.rpc import status_pb2

from omninft_client import _base, results
from omninft_client.errors import (
    InternalError,
    InvalidArgumentError,
    MissingEmbeddingError,
    MissingScoreError,
    ResourceExhaustedError,
    RewardError,
    UnavailableError,
    from_rpc_error,
)
from omninft_client.media import Sample, audio_bytes, audio_pcm, video_bytes, video_frames
from omninft_client.retry import RetryPolicy
from omninft_client.v1 import reward_pb2

# ---------------------------------------------------------------------------------------------- tensors


@pytest.mark.parametrize("dtype", sorted(_base.ALLOWED_DTYPES))
def test_tensor_round_trip_every_allowed_dtype(dtype: str) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.random((2, 3, 4)) * 100).astype(dtype)
    t = _base.tensor_to_proto(arr)
    assert t.dtype == dtype and list(t.shape) == [2, 3, 4]
    back = _base.tensor_from_proto(t, max_bytes=1 << 20)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_tensor_wire_bytes_are_little_endian_c_order() -> None:
    arr = np.arange(6, dtype=">i4").reshape(2, 3).T  # big-endian and not C-contiguous
    t = _base.tensor_to_proto(arr)
    assert t.data == np.ascontiguousarray(arr).astype("<i4").tobytes()
    assert list(t.shape) == [3, 2]
    np.testing.assert_array_equal(_base.tensor_from_proto(t, max_bytes=1024), arr)


def test_tensor_zero_size_and_scalar() -> None:
    for arr in (np.zeros((0, 5), np.float32), np.array(3.5, np.float64)):
        back = _base.tensor_from_proto(_base.tensor_to_proto(arr), max_bytes=64)
        assert back.shape == arr.shape
        np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("arr", [np.array(["a"], dtype=object), np.zeros(2, np.complex64), np.array(["ab"])])
def test_tensor_to_proto_refuses_other_dtypes(arr: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        _base.tensor_to_proto(arr)


@pytest.mark.parametrize("dtype", ["object", "complex64", "<U4", "float32 ", "V8", ""])
def test_tensor_from_proto_refuses_other_dtypes(dtype: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        _base.tensor_from_proto(reward_pb2.Tensor(dtype=dtype, shape=[1], data=b"\0" * 8), max_bytes=64)


def test_tensor_from_proto_byte_length_mismatch() -> None:
    t = reward_pb2.Tensor(dtype="float32", shape=[2, 3], data=b"\0" * 20)
    with pytest.raises(ValueError, match="needs 24 bytes but carries 20"):
        _base.tensor_from_proto(t, max_bytes=1024)


def test_tensor_from_proto_negative_dim() -> None:
    t = reward_pb2.Tensor(dtype="uint8", shape=[-1, 4], data=b"")
    with pytest.raises(ValueError, match="negative"):
        _base.tensor_from_proto(t, max_bytes=1024)


def test_tensor_from_proto_too_many_dims() -> None:
    t = reward_pb2.Tensor(dtype="uint8", shape=[1] * 40, data=b"\0")
    with pytest.raises(ValueError, match="dims"):
        _base.tensor_from_proto(t, max_bytes=1024)


@pytest.mark.parametrize(
    "shape",
    [[2**40, 2**40, 3], [2**62, 2**62], [10**6, 10**6, 10**6, 8]],
    ids=["huge", "overflow-int64", "4d"],
)
def test_tensor_from_proto_absurd_shape_fails_without_allocating(shape: list[int]) -> None:
    t = reward_pb2.Tensor(dtype="float64", shape=shape, data=b"\0" * 16)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="limit"):
            _base.tensor_from_proto(t, max_bytes=1 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_tensor_from_proto_respects_max_bytes_even_when_consistent() -> None:
    t = _base.tensor_to_proto(np.zeros(1000, np.float32))
    with pytest.raises(ValueError, match="above the 100 limit"):
        _base.tensor_from_proto(t, max_bytes=100)


# ---------------------------------------------------------------------------------------------- requests


def test_sample_to_proto_all_sources() -> None:
    frames = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    s = Sample(
        "a",
        prompt="p",
        audio_prompt="ap",
        video=video_frames(frames, 24.0),
        audio=audio_pcm(np.zeros(8), 16000),
    )
    msg = _base.sample_to_proto(s)
    assert (msg.id, msg.prompt, msg.audio_prompt) == ("a", "p", "ap")
    assert msg.video.WhichOneof("source") == "frames" and msg.video.fps == 24.0
    np.testing.assert_array_equal(_base.tensor_from_proto(msg.video.frames, max_bytes=1 << 20), frames)
    assert msg.audio.WhichOneof("source") == "pcm" and msg.audio.sample_rate == 16000
    assert msg.audio.pcm.dtype == "float32" and list(msg.audio.pcm.shape) == [1, 8]

    c = _base.sample_to_proto(Sample("b", video=video_bytes(b"mp4"), audio=audio_bytes(b"wav")))
    assert c.video.container == b"mp4" and c.audio.container == b"wav"
    assert c.video.WhichOneof("source") == "container" and c.audio.WhichOneof("source") == "container"

    bare = _base.sample_to_proto(Sample("c"))
    assert not bare.HasField("video") and not bare.HasField("audio")


def test_build_requests_and_scorer_names() -> None:
    samples = [Sample("1"), Sample("2")]
    req = _base.build_score_request(samples, "clap")
    assert list(req.scorers) == ["clap"] and [s.id for s in req.samples] == ["1", "2"]
    req = _base.build_embed_request(samples, ["i3d", "clap"])
    assert isinstance(req, reward_pb2.EmbedRequest) and list(req.scorers) == ["i3d", "clap"]
    with pytest.raises(ValueError):
        _base.build_score_request(samples, ["ok", ""])
    with pytest.raises(TypeError):
        _base.build_score_request(["not a sample"], ())  # type: ignore[list-item]


def test_call_metadata() -> None:
    assert _base.call_metadata("rid", None) == (("x-request-id", "rid"),)
    assert ("authorization", "Bearer tok") in _base.call_metadata("rid", "tok")
    rid = _base.new_request_id()
    assert len(rid) == 32 and int(rid, 16) >= 0 and rid != _base.new_request_id()


def test_chunked() -> None:
    assert _base.chunked(list(range(10)), 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert _base.chunked([], 3) == []
    assert _base.chunked((1, 2), 5) == [(1, 2)]
    with pytest.raises(ValueError):
        _base.chunked([1], 0)


def test_check_request_size() -> None:
    req = _base.build_score_request([Sample("x", video=video_bytes(b"\0" * 1000))])
    _base.check_request_size(req, 2000, 1)
    with pytest.raises(ValueError, match="max_message_bytes"):
        _base.check_request_size(req, 500, 1)


# ---------------------------------------------------------------------------------------------- parsing


def _status(code: grpc.StatusCode, msg: str) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=msg)


def _info(
    name: str, outputs: tuple[str, ...] = (), embeddings: tuple[str, ...] = (), mbs: int = 0
) -> reward_pb2.ScorerInfo:
    return reward_pb2.ScorerInfo(name=name, outputs=outputs, embeddings=embeddings, max_batch_size=mbs)


def test_parse_score_response_errors_never_yield_scores() -> None:
    resp = reward_pb2.ScoreResponse(scorers=[_info("clap", ("clap_score",)), _info("av", ("av_align",))])
    ok = resp.results.add(id="ok")
    ok.scores["clap_score"] = 0.5
    ok.scores["av_align"] = 0.25
    bad = resp.results.add(id="bad")
    bad.scores["clap_score"] = 0.9  # a misbehaving server: scores next to a sample error
    bad.error.CopyFrom(_status(grpc.StatusCode.INVALID_ARGUMENT, "cannot decode video"))
    part = resp.results.add(id="part")
    part.scores["av_align"] = 0.1
    part.scores["clap_score"] = 0.7  # belongs to the scorer that failed: must be dropped
    part.scorer_errors["clap"].CopyFrom(_status(grpc.StatusCode.INVALID_ARGUMENT, "audio too short"))
    explicit_ok = resp.results.add(id="explicit-ok")
    explicit_ok.error.CopyFrom(status_pb2.Status(code=0))
    explicit_ok.scores["clap_score"] = 0.3

    r_ok, r_bad, r_part, r_explicit = _base.parse_score_response(resp)
    assert r_ok.ok and r_ok.scores == {"clap_score": 0.5, "av_align": 0.25}
    assert r_ok.score("av_align") == 0.25

    assert not r_bad.ok and r_bad.scores == {}
    assert r_bad.error == results.SampleError("INVALID_ARGUMENT", "cannot decode video")
    with pytest.raises(MissingScoreError, match="cannot decode video") as ei:
        r_bad.score("clap_score")
    assert isinstance(ei.value, KeyError) and ei.value.sample_id == "bad"

    assert not r_part.ok and r_part.error is None
    assert r_part.scores == {"av_align": 0.1}
    assert r_part.scorer_errors == {"clap": results.SampleError("INVALID_ARGUMENT", "audio too short")}
    with pytest.raises(KeyError, match="scorer 'clap' failed: INVALID_ARGUMENT: audio too short"):
        r_part.score("clap_score")

    assert r_explicit.ok and r_explicit.score("clap_score") == 0.3
    with pytest.raises(MissingScoreError, match="not returned"):
        r_ok.score("nonexistent")


def test_parse_embed_response() -> None:
    resp = reward_pb2.EmbedResponse()
    a = resp.results.add(id="a")
    a.embeddings["clap.audio"].CopyFrom(_base.tensor_to_proto(np.arange(4, dtype=np.float32)))
    a.embeddings["i3d.logits"].CopyFrom(_base.tensor_to_proto(np.ones(2, np.float32)))
    a.scorer_errors["i3d"].CopyFrom(_status(grpc.StatusCode.INTERNAL, "boom"))
    b = resp.results.add(id="b")
    b.error.CopyFrom(_status(grpc.StatusCode.INVALID_ARGUMENT, "no audio"))
    ra, rb = _base.parse_embed_response(resp)
    assert list(ra.embeddings) == ["clap.audio"]
    emb = ra.embedding("clap.audio")
    np.testing.assert_array_equal(emb, np.arange(4, dtype=np.float32))
    emb += 1  # results are the caller's to modify
    with pytest.raises(MissingEmbeddingError, match="scorer 'i3d' failed: INTERNAL: boom"):
        ra.embedding("i3d.logits")
    assert rb.embeddings == {} and rb.error is not None and rb.error.code == "INVALID_ARGUMENT"


def test_parse_embed_response_malformed_tensor() -> None:
    resp = reward_pb2.EmbedResponse()
    resp.results.add(id="a").embeddings["x.y"].CopyFrom(
        reward_pb2.Tensor(dtype="float32", shape=[3], data=b"12")
    )
    with pytest.raises(InternalError, match="malformed embedding"):
        _base.parse_embed_response(resp)


def test_check_results() -> None:
    _base.check_results(["a", "b"], ["a", "b"])
    with pytest.raises(InternalError, match="2 results for 3"):
        _base.check_results(["a", "b", "c"], ["a", "b"])
    with pytest.raises(InternalError, match="result 1"):
        _base.check_results(["a", "b"], ["a", "c"])


def test_parse_list_scorers_and_chunk_size() -> None:
    info = _info("clap", ("clap_score",), ("audio", "text"), mbs=16)
    info.weights_id = "laion/clap@abc"
    info.weights_sha256 = "f" * 64
    info.tiny_weights = True
    info.input_spec.modalities.extend(["audio", "audio_prompt"])
    info.input_spec.audio_sample_rate = 48000
    info.input_spec.max_audio_seconds = 10.0
    resp = reward_pb2.ListScorersResponse(
        scorers=[info, _info("i3d", (), ("logits",), mbs=4), _info("av", ("av_align",), mbs=8)],
        server=reward_pb2.ServerInfo(
            package_version="1.2", git_hash="abc", max_samples_per_request=32, max_message_bytes=1 << 29
        ),
    )
    desc = _base.parse_list_scorers(resp)
    assert desc.names == ("clap", "i3d", "av")
    assert (desc.package_version, desc.git_hash, desc.max_samples_per_request) == ("1.2", "abc", 32)
    clap = desc.scorer("clap")
    assert clap.tiny_weights and clap.weights_sha256 == "f" * 64 and clap.embeddings == ("audio", "text")
    assert (
        clap.input_spec.modalities == ("audio", "audio_prompt") and clap.input_spec.audio_sample_rate == 48000
    )
    with pytest.raises(KeyError, match="hosts"):
        desc.scorer("nope")

    assert _base.chunk_size(desc, ["clap"]) == 16
    assert _base.chunk_size(desc, ["clap", "av"]) == 8
    assert _base.chunk_size(desc, []) == 8  # score: scorers with outputs only
    assert _base.chunk_size(desc, [], embed=True) == 4
    assert _base.chunk_size(desc, ["clap"], explicit=3) == 3
    assert _base.chunk_size(None, []) == _base.DEFAULT_CHUNK_SIZE
    small_server = results.ServerDescription(scorers=desc.scorers, max_samples_per_request=2)
    assert _base.chunk_size(small_server, ["clap"]) == 2
    with pytest.raises(ValueError):
        _base.chunk_size(desc, [], explicit=0)


# ---------------------------------------------------------------------------------------------- retries


def test_retry_delays_capped_and_monotone() -> None:
    p = RetryPolicy(max_attempts=20, initial_backoff_s=0.1, max_backoff_s=2.0, multiplier=2.0, jitter=0.2)
    delays = [p.delay(a) for a in range(1, 20)]
    assert delays[:3] == pytest.approx([0.1, 0.2, 0.4])
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    assert max(delays) == 2.0 and delays[-1] == 2.0
    assert p.delay(10_000) == 2.0  # no float overflow
    rng = random.Random(0)
    for a in range(1, 20):
        base = delays[a - 1]
        for _ in range(20):
            d = p.delay(a, rng)
            assert base * 0.8 - 1e-12 <= d <= min(2.0, base * 1.2) + 1e-12


def test_retry_should_retry() -> None:
    p = RetryPolicy(max_attempts=3)
    assert p.should_retry(grpc.StatusCode.UNAVAILABLE, 1)
    assert p.should_retry("RESOURCE_EXHAUSTED", 2)
    assert not p.should_retry(grpc.StatusCode.UNAVAILABLE, 3)
    for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED):
        assert not p.should_retry(code, 1)
    assert RetryPolicy(retryable=("UNAVAILABLE",)).retryable == (grpc.StatusCode.UNAVAILABLE,)


def test_retry_next_delay_respects_deadline() -> None:
    p = RetryPolicy(max_attempts=5, initial_backoff_s=0.5, max_backoff_s=1.0, jitter=0.0)
    assert p.next_delay(grpc.StatusCode.UNAVAILABLE, 1, 10.0, None) == 0.5
    assert p.next_delay(grpc.StatusCode.UNAVAILABLE, 1, 0.4, None) is None
    assert p.next_delay(grpc.StatusCode.INVALID_ARGUMENT, 1, 10.0, None) is None
    assert p.attempt_timeout(3.0) == 3.0
    assert RetryPolicy(per_attempt_timeout_s=1.0).attempt_timeout(3.0) == 1.0
    assert RetryPolicy(per_attempt_timeout_s=5.0).attempt_timeout(3.0) == 3.0


@pytest.mark.parametrize(
    "kw",
    [
        {"max_attempts": 0},
        {"initial_backoff_s": 3.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"per_attempt_timeout_s": 0.0},
    ],
)
def test_retry_policy_validation(kw: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kw)


# ---------------------------------------------------------------------------------------------- channels


def _service_config(plan: _base.ChannelPlan) -> dict | None:
    for k, v in plan.options:
        if k == "grpc.service_config":
            return json.loads(v)
    return None


def test_channel_plan_single_address() -> None:
    plan = _base.channel_target_and_options("host:50051", max_message_bytes=1 << 20)
    assert plan.targets == ("host:50051",) and not plan.rotate
    assert ("grpc.max_receive_message_length", 1 << 20) in plan.options
    assert ("grpc.max_send_message_length", 1 << 20) in plan.options
    plan = _base.channel_target_and_options(["dns:///svc.ns.svc.cluster.local:50051"], max_message_bytes=10)
    assert plan.targets == ("dns:///svc.ns.svc.cluster.local:50051",)
    assert _service_config(plan) == {"loadBalancingConfig": [{"round_robin": {}}]}


def test_channel_plan_ip_lists_share_one_balanced_channel() -> None:
    plan = _base.channel_target_and_options(["10.0.0.1:1", "10.0.0.2:2"], max_message_bytes=10)
    assert plan.targets == ("ipv4:10.0.0.1:1,10.0.0.2:2",) and not plan.rotate
    assert _service_config(plan) == {"loadBalancingConfig": [{"round_robin": {}}]}
    plan = _base.channel_target_and_options(
        ["[::1]:1", "[fe80::2]:2"], max_message_bytes=10, lb_policy="pick_first"
    )
    assert plan.targets == ("ipv6:[::1]:1,[fe80::2]:2",)
    assert _service_config(plan) == {"loadBalancingConfig": [{"pick_first": {}}]}


def test_channel_plan_hostnames_rotate() -> None:
    for addrs in (["a:1", "b:2"], ["10.0.0.1:1", "[::1]:2"], ["10.0.0.1:1", "dns:///x:2"]):
        plan = _base.channel_target_and_options(addrs, max_message_bytes=10)
        assert plan.rotate and plan.targets == tuple(addrs)
        assert _service_config(plan) is None
    for bad in ([], [""], "  "):
        with pytest.raises(ValueError):
            _base.channel_target_and_options(bad, max_message_bytes=10)


def test_client_config_validation() -> None:
    common = dict(
        timeout_s=1.0,
        retry=None,
        max_message_bytes=1 << 20,
        root_certificates=None,
        max_samples_per_request=None,
        tls=None,
        lb_policy="round_robin",
    )
    cfg = _base.client_config("h:1", token="t", certificate_chain=None, private_key=None, **common)
    assert cfg.credentials is None and cfg.retry == RetryPolicy() and cfg.token == "t"
    with pytest.raises(ValueError, match="both"):
        _base.client_config("h:1", token=None, certificate_chain=b"x", private_key=None, **common)
    with pytest.raises(ValueError, match="token"):
        _base.client_config("h:1", token="bad\ntoken", certificate_chain=None, private_key=None, **common)
    with pytest.raises(ValueError, match="timeout_s"):
        _base.client_config(
            "h:1", token=None, certificate_chain=None, private_key=None, **{**common, "timeout_s": 0.0}
        )
    tls = _base.client_config(
        "h:1", token=None, certificate_chain=None, private_key=None, **{**common, "tls": True}
    )
    assert tls.credentials is not None


# ---------------------------------------------------------------------------------------------- errors


class _FakeRpcError(grpc.RpcError, grpc.Call):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple = ()) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing

    def initial_metadata(self) -> tuple:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


def test_from_rpc_error_types_and_request_id() -> None:
    err = from_rpc_error(_FakeRpcError(grpc.StatusCode.UNAVAILABLE, "draining", (("x-request-id", "srv-1"),)))
    assert isinstance(err, UnavailableError) and isinstance(err, RewardError)
    assert err.code == grpc.StatusCode.UNAVAILABLE and err.details == "draining" and err.request_id == "srv-1"
    assert "UNAVAILABLE: draining" in str(err) and "srv-1" in str(err)

    err = from_rpc_error(_FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full"), request_id="cli-1")
    assert isinstance(err, ResourceExhaustedError) and err.request_id == "cli-1"

    err = from_rpc_error(_FakeRpcError(grpc.StatusCode.ABORTED, "x"))
    assert type(err) is RewardError and err.code == grpc.StatusCode.ABORTED


def test_from_rpc_error_reads_rich_status() -> None:
    st = status_pb2.Status(code=3, message="bad sample 2")
    err = from_rpc_error(
        _FakeRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "bad sample 2",
            (("grpc-status-details-bin", st.SerializeToString()),),
        )
    )
    assert isinstance(err, InvalidArgumentError) and err.status == st


def test_reward_error_pickles() -> None:
    import pickle

    err = InvalidArgumentError("bad", request_id="r")
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object, round-tripped in-process
    assert type(back) is InvalidArgumentError and back.request_id == "r" and back.details == "bad"
