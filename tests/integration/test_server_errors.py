"""Unexpected failures: INTERNAL with the request id, never a traceback; the server keeps serving."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from omninft.reward_servers.scorers.base import ScorerOutput
from omninft_client.v1 import reward_pb2
from tests.helpers.media import gradient_frames
from tests.helpers.server import frames_video, running_server, sample

REQ = reward_pb2.ScoreRequest(
    samples=[sample("a", prompt="p", video=frames_video(gradient_frames(8, 16, 16)))]
)


async def test_non_finite_score_is_a_per_scorer_internal_error() -> None:
    async with running_server() as r:
        r.server.scorers["brightness"].postprocess = lambda out: ScorerOutput(
            scores={"brightness": float("nan")}
        )
        resp = await r.stub.Score(REQ, metadata=(("x-request-id", "nan-1"),), timeout=10)
        result = resp.results[0]
        assert "brightness" not in result.scores and "caption_score" in result.scores
        status = result.scorer_errors["brightness"]
        assert status.code == grpc.StatusCode.INTERNAL.value[0]
        assert "request id nan-1" in status.message


async def test_wrong_output_count_fails_that_scorer_for_every_sample() -> None:
    async with running_server() as r:
        scorer = r.server.scorers["brightness"]
        real = scorer.forward
        scorer.forward = lambda items: real(items)[:-1]
        req = reward_pb2.ScoreRequest(
            samples=[REQ.samples[0], REQ.samples[0]], scorers=["brightness", "caption"]
        )
        resp = await r.stub.Score(req, timeout=10)
        for result in resp.results:
            assert "returned 1 outputs for 2 items" in result.scorer_errors["brightness"].message
            assert "caption_score" in result.scores


async def test_unexpected_exception_is_internal_with_request_id_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_server() as r:
        servicer: Any = r.server.servicer

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals /home/user/model.py line 42")

        monkeypatch.setattr(servicer, "_select", broken)
        call = r.stub.Score(REQ, metadata=(("x-request-id", "bug-7"),), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.INTERNAL
        details = err.value.details() or ""
        assert "request id bug-7" in details
        assert "secret" not in details and "Traceback" not in details and "RuntimeError" not in details
        assert ("x-request-id", "bug-7") in tuple(err.value.trailing_metadata() or ())
        monkeypatch.undo()
        assert (await r.stub.Score(REQ, timeout=10)).results[0].scores
