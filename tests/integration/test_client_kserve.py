"""omninft_client with protocol="kserve" against omninft-serve's own KServe v2 front on 127.0.0.1:0.

The same samples scored through RewardService and through ModelInfer must give identical ScoreResults: scores
bit for bit, per-sample errors as the same SampleError objects, chunking by the models' max_batch_size,
the bearer token, TLS, and retries on UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from omninft.reward_servers.serving.config import TLSConfig
from omninft_client import (
    AsyncRewardClient,
    InvalidArgumentError,
    RetryPolicy,
    RewardClient,
    Sample,
    UnauthenticatedError,
    UnavailableError,
)
from omninft_client.media import audio_bytes, video_bytes
from tests.helpers.media import encode_audio, encode_video, gradient_frames, sine
from tests.helpers.server import default_scorers, running_server
from tests.integration.test_server_security import pki  # noqa: F401  (fixture)

CLIPS = [encode_video(gradient_frames(8, 16, 16, level=lv), fps=8) for lv in (30, 90, 150, 210, 250)]
WAV = encode_audio(sine(0.25, 16000))


def _samples() -> list[Sample]:
    """Five good samples (video, audio, prompt) and a bad video among them."""
    good = [
        Sample(id=f"s{i}", video=video_bytes(c), audio=audio_bytes(WAV), prompt=f"a clip {i}")
        for i, c in enumerate(CLIPS)
    ]
    bad = Sample(id="bad", video=video_bytes(b"not a video at all"), audio=audio_bytes(WAV), prompt="oops")
    return [*good[:2], bad, *good[2:]]


async def test_kserve_client_matches_reward_service_with_a_bad_sample_among_good_ones() -> None:
    async with running_server(default_scorers(max_batch_size=2)) as r:
        address = r.server.address

        def both() -> tuple[list, list, object]:
            with RewardClient(address) as plain, RewardClient(address, protocol="kserve") as kserve:
                desc = kserve.wait_ready(10)
                return plain.score(_samples()), kserve.score(_samples()), desc

        plain, kserve, desc = await asyncio.to_thread(both)
    assert {s.name for s in desc.scorers} == {"brightness", "loudness", "caption"}  # type: ignore[attr-defined]
    assert desc.scorer("brightness").max_batch_size == 2  # type: ignore[attr-defined]
    assert desc.scorer("brightness").weights_sha256  # type: ignore[attr-defined]
    assert [r.id for r in kserve] == [r.id for r in plain]
    for got, want in zip(kserve, plain, strict=True):
        # Bit-identical scores and the same per-sample error objects, whatever the chunking.
        assert got.scores == want.scores
        assert got.error == want.error
        assert set(got.scorer_errors) == set(want.scorer_errors)
        for name, err in got.scorer_errors.items():
            # RewardService appends the request field path ("(samples[0].video.container)"); KServe has none.
            assert err.code == want.scorer_errors[name].code
            assert want.scorer_errors[name].message.startswith(err.message)
    bad = kserve[2]
    # Only the scorer that read the bad video failed: no brightness number, the others are kept.
    assert not bad.ok and "brightness" not in bad.scores
    assert bad.scorer_errors["brightness"].code == "INVALID_ARGUMENT"
    assert bad.scorer_errors["brightness"].message
    assert "loudness" not in bad.scorer_errors and bad.score("loudness_db") == plain[2].score("loudness_db")
    assert all(r.ok for i, r in enumerate(kserve) if i != 2)


async def test_async_kserve_client_subset_of_scorers_and_unknown_model() -> None:
    # Scorer batches capped at 2: the test caption core is not bit-identical across forward batch sizes, and
    # KServe's per-model requests reach the micro-batcher in other groupings than one Score request does.
    async with running_server(default_scorers(max_batch_size=2)) as r:
        async with AsyncRewardClient(
            r.server.address, protocol="kserve", max_samples_per_request=2
        ) as client:
            results = await client.score(_samples(), ["caption", "brightness"])
            with pytest.raises(InvalidArgumentError, match="nope"):
                await client.score(_samples(), "nope")
            with pytest.raises(ValueError, match="scores only"):
                await client.embed(_samples(), "brightness")
        async with AsyncRewardClient(r.server.address, max_samples_per_request=2) as plain:
            expected = await plain.score(_samples(), ["caption", "brightness"])
    assert [x.scores for x in results] == [x.scores for x in expected]
    assert set(results[0].scores) == {"caption_score", "brightness"}
    assert {k: v.code for k, v in results[2].scorer_errors.items()} == {"brightness": "INVALID_ARGUMENT"}
    assert {k: v.code for k, v in expected[2].scorer_errors.items()} == {"brightness": "INVALID_ARGUMENT"}


async def test_a_sample_failed_by_every_scorer_is_a_sample_error() -> None:
    async with running_server() as r:
        async with AsyncRewardClient(r.server.address, protocol="kserve") as client:
            (res,) = await client.score([Sample(id="x", video=video_bytes(b"junk"))], "brightness")
    assert res.error is not None and res.error.code == "INVALID_ARGUMENT" and res.scorer_errors == {}
    assert res.scores == {}


async def test_token_is_sent_and_required() -> None:
    async with running_server(auth_token="kserve-token") as r:
        sample = [Sample(id="a", prompt="a cat")]
        async with AsyncRewardClient(r.server.address, protocol="kserve", token="kserve-token") as client:
            (res,) = await client.score(sample, "caption")
            assert res.ok and "caption_score" in res.scores
        async with AsyncRewardClient(r.server.address, protocol="kserve", token="wrong") as client:
            with pytest.raises(UnauthenticatedError):
                await client.score(sample, "caption")


async def test_tls(pki: dict[str, Path]) -> None:  # noqa: F811
    tls = TLSConfig(cert_file=str(pki["server_cert"]), key_file=str(pki["server_key"]))
    async with running_server(tls=tls) as r:
        ca = pki["ca"].read_bytes()
        async with AsyncRewardClient(r.server.address, protocol="kserve", root_certificates=ca) as client:
            (res,) = await client.score([Sample(id="a", prompt="a cat")], "caption")
    assert res.ok and "caption_score" in res.scores


async def test_unavailable_is_retried_until_the_server_serves_again() -> None:
    async with running_server() as r:
        assert r.server.servicer is not None
        sample = [Sample(id="a", prompt="a cat")]
        once = RetryPolicy(max_attempts=1)
        patient = RetryPolicy(max_attempts=20, initial_backoff_s=0.05, max_backoff_s=0.2)
        async with (
            AsyncRewardClient(r.server.address, protocol="kserve", retry=once) as strict,
            AsyncRewardClient(r.server.address, protocol="kserve", retry=patient) as client,
        ):
            await strict.wait_ready(10)
            await client.wait_ready(10)
            r.server.servicer.draining = True
            # Draining answers ModelInfer with UNAVAILABLE: without retries the call fails ...
            with pytest.raises(UnavailableError):
                await strict.score(sample, "caption")
            # ... with retries it succeeds once the server serves again.
            asyncio.get_running_loop().call_later(0.5, setattr, r.server.servicer, "draining", False)
            (res,) = await client.score(sample, "caption", timeout_s=20)
    assert res.ok and res.score("caption_score") == res.scores["caption_score"]


def test_protocol_is_checked_and_frames_are_refused() -> None:
    import numpy as np

    from omninft_client.media import video_frames

    with pytest.raises(ValueError, match="protocol"):
        RewardClient("127.0.0.1:1", protocol="http")
    from omninft_client import _kserve
    from omninft_client.results import ScorerDescription, ScorerInputSpec

    model = ScorerDescription(
        name="brightness",
        outputs=("brightness",),
        max_batch_size=4,
        input_spec=ScorerInputSpec(modalities=("video",)),
    )
    frames = Sample(id="f", video=video_frames(np.zeros((2, 4, 4, 3), np.uint8), fps=8))
    with pytest.raises(ValueError, match="container bytes or a file:// uri"):
        _kserve.build_infer_request([frames], model, "rid")
