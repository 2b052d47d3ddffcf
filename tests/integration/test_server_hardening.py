"""Hostile wire input (issue 13): malformed bodies, auth before parsing, bounded echoes, odd media and URIs.

Each case must end as a clear client error (INVALID_ARGUMENT / UNAUTHENTICATED), never INTERNAL or UNKNOWN,
and must not write a traceback to the server log.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2

from omninft_client.v1 import reward_pb2
from tests.helpers.media import gradient_frames
from tests.helpers.server import frames_video, pcm_audio, running_server, sample

SCORE = "/omninft.v1.RewardService/Score"
LIST = "/omninft.v1.RewardService/ListScorers"
GARBAGE = [
    b"\xff\xff\xff\xff",
    b"\x0a\xff\xff\xff\xff\x07",  # field 1, length-delimited, claims ~2 GB
    b"\x0a\x7f" * 50_000,  # deeply nested length prefixes
    bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
]


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info is not None]


async def _raw_call(
    channel: grpc.aio.Channel, method: str, body: bytes, **kw: object
) -> grpc.aio.AioRpcError:
    call = channel.unary_unary(method)  # no serializers: the body goes out as given
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(body, timeout=10, **kw)
    return err.value


async def test_malformed_bodies_are_invalid_argument_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with running_server() as r:
        for body in GARBAGE:
            err = await _raw_call(r.channel, SCORE, body)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (body[:8], err.code(), err.details())
            assert "not a valid omninft.v1.ScoreRequest" in (err.details() or "")
            rid = dict(err.trailing_metadata() or ()).get("x-request-id")
            assert rid and rid in (err.details() or "")
        err = await _raw_call(r.channel, LIST, b"\xff\xff\xff\xff")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "omninft.v1.ListScorersRequest" in (err.details() or "")
        assert await r.health_status() == health_pb2.HealthCheckResponse.SERVING
    assert _tracebacks(caplog) == []
    lines = [r for r in caplog.records if "are not a valid" in r.getMessage()]
    assert len(lines) == len(GARBAGE) + 1


async def test_token_is_checked_before_the_body_is_parsed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running_server(auth_token="s3cret-token") as r:
        for i in range(20):
            body = GARBAGE[i % len(GARBAGE)]
            err = await _raw_call(r.channel, SCORE, body)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.code()
        # An unknown method is not revealed to an unauthenticated caller.
        err = await _raw_call(r.channel, "/omninft.v1.RewardService/NoSuchMethod", b"")
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        # With the token, garbage is a parse error, not UNKNOWN.
        err = await _raw_call(
            r.channel, SCORE, GARBAGE[0], metadata=(("authorization", "Bearer s3cret-token"),)
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        # Health stays open without a token.
        assert await r.health_status() == health_pb2.HealthCheckResponse.SERVING
    assert _tracebacks(caplog) == []


async def test_unknown_scorer_names_are_echoed_bounded() -> None:
    names = [f"{i:04d}" + "x" * 10_000 for i in range(2000)]
    async with running_server() as r:
        req = reward_pb2.ScoreRequest(
            samples=[sample(video=frames_video(gradient_frames(4, 16, 16)))], scorers=names
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details() or ""
    assert len(details) < 1024, len(details)
    assert "2000 unknown scorers" in details and "0000xxx" in details


def _latin1_titled_mp4(tmp_path: Path) -> bytes:
    import av

    path = tmp_path / "title.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=8)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for f in gradient_frames(8, 32, 32):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = path.read_bytes()
    # Append a udta/meta-less ilst-free 'udta' box holding a QuickTime '\xa9nam' title in Latin-1.
    title = b"Caf\xe9"
    nam = struct.pack(">I4sHH", 12 + len(title), b"\xa9nam", len(title), 0x55C4) + title
    udta = struct.pack(">I4s", 8 + len(nam), b"udta") + nam
    moov = data.index(b"moov") - 4
    size = struct.unpack(">I", data[moov : moov + 4])[0]
    patched = data[:moov] + struct.pack(">I", size + len(udta)) + data[moov + 4 : moov + size] + udta
    return patched + data[moov + size :]


async def test_non_utf8_container_metadata_is_scored(tmp_path: Path) -> None:
    data = _latin1_titled_mp4(tmp_path)
    async with running_server() as r:
        req = reward_pb2.ScoreRequest(
            samples=[sample(video=reward_pb2.Video(container=data))], scorers=["brightness"]
        )
        resp = await r.stub.Score(req, timeout=30)
    res = resp.results[0]
    assert not res.HasField("error"), res.error.message
    assert "brightness" in res.scores


def _wav_with_format_tag(tag: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(1600, np.int16), 16000, subtype="PCM_16", format="WAV")
    data = bytearray(buf.getvalue())
    fmt = data.index(b"fmt ")
    data[fmt + 8 : fmt + 10] = struct.pack("<H", tag)
    return bytes(data)


async def test_audio_stream_without_codec_is_invalid_argument() -> None:
    async with running_server() as r:
        req = reward_pb2.ScoreRequest(
            samples=[sample(audio=reward_pb2.Audio(container=_wav_with_format_tag(0x0100)))],
            scorers=["loudness"],
        )
        resp = await r.stub.Score(req, timeout=30)
    err = resp.results[0].error
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], err.message
    assert "audio" in err.message


async def test_file_uris_with_bad_percent_encoding_or_non_utf8_names(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/caf\xe9.wav"
    with open(name, "wb") as fh:
        sf.write(fh, 0.1 * np.ones(1600, np.float32), 16000, format="WAV")
    from urllib.parse import quote_from_bytes

    good = "file://" + quote_from_bytes(name)
    bad = "file://" + quote_from_bytes(os.fsencode(tmp_path)) + "/%ff%fe.wav"
    async with running_server(allowed_uri_roots=[str(tmp_path)]) as r:
        req = reward_pb2.ScoreRequest(
            samples=[
                sample("good", audio=reward_pb2.Audio(uri=good)),
                sample("bad", audio=reward_pb2.Audio(uri=bad)),
                sample("host", audio=reward_pb2.Audio(uri="file://[::1/x.wav")),
            ],
            scorers=["loudness"],
        )
        resp = await r.stub.Score(req, timeout=30)
    good_res, bad_res, host_res = resp.results
    assert host_res.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], host_res.error.message
    assert not good_res.HasField("error"), good_res.error.message
    assert "loudness_db" in good_res.scores
    assert bad_res.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], bad_res.error.message
    assert "does not exist" in bad_res.error.message


@pytest.mark.parametrize("value", [1e30, 1e6, float("inf")])
async def test_absurd_pcm_amplitudes_are_refused(value: float) -> None:
    pcm = np.zeros((1, 1600), np.float32)
    pcm[0, 10] = value
    async with running_server() as r:
        req = reward_pb2.ScoreRequest(samples=[sample(audio=pcm_audio(pcm))], scorers=["loudness"])
        resp = await r.stub.Score(req, timeout=30)
    err = resp.results[0].error
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], (value, err.message, resp.results[0].scores)
    assert "amplitude" in err.message or "NaN or Inf" in err.message


async def test_absurd_amplitudes_in_float_wav_are_refused() -> None:
    buf = io.BytesIO()
    sf.write(buf, np.full(1600, 1e30, np.float32), 16000, subtype="FLOAT", format="WAV")
    async with running_server() as r:
        req = reward_pb2.ScoreRequest(
            samples=[sample(audio=reward_pb2.Audio(container=buf.getvalue()))], scorers=["loudness"]
        )
        resp = await r.stub.Score(req, timeout=30)
    err = resp.results[0].error
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], (err.message, resp.results[0].scores)
    assert "amplitude" in err.message
