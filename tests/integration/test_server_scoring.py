"""Score / Embed / ListScorers against a real server: happy paths and every per-sample rejection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2

from omninft_client.v1 import reward_pb2
from tests.helpers.media import encode_audio, encode_video, gradient_frames, sine
from tests.helpers.server import Running, frames_video, pcm_audio, running_server, sample

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAMES = gradient_frames()
CLIP = encode_video(FRAMES, audio=sine())
FASTSTART = encode_video(FRAMES, faststart=True)
WAV = encode_audio(sine(channels=2))
MAX_PROMPT = 256


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("allowed")
    (root / "clip.mp4").write_bytes(CLIP)
    (root / "tone.wav").write_bytes(WAV)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.mp4").write_bytes(CLIP)
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def srv(media_root: Path) -> AsyncIterator[Running]:
    async with running_server(
        allowed_uri_roots=[str(media_root)], max_prompt_chars=MAX_PROMPT, max_samples_per_request=8
    ) as r:
        yield r


def good(sample_id: str = "good") -> reward_pb2.Sample:
    return sample(
        sample_id,
        prompt="a red car",
        video=reward_pb2.Video(container=CLIP),
        audio=reward_pb2.Audio(container=CLIP),
    )


async def test_scores_from_containers_frames_pcm_and_uris(srv: Running, media_root: Path) -> None:
    req = reward_pb2.ScoreRequest(
        samples=[
            good("container"),
            sample("raw", prompt="x", video=frames_video(FRAMES), audio=pcm_audio(sine())),
            sample(
                "uri",
                prompt="y",
                video=reward_pb2.Video(uri=(media_root / "clip.mp4").as_uri()),
                audio=reward_pb2.Audio(uri=(media_root / "tone.wav").as_uri()),
            ),
            sample("wav", prompt="z", video=frames_video(FRAMES), audio=reward_pb2.Audio(container=WAV)),
        ]
    )
    call = srv.stub.Score(req, metadata=(("x-request-id", "req-123"),), timeout=30)
    resp = await call
    assert resp.request_id == "req-123"
    assert ("x-request-id", "req-123") in tuple(await call.trailing_metadata())
    assert [r.id for r in resp.results] == ["container", "raw", "uri", "wav"]
    assert [s.name for s in resp.scorers] == ["brightness", "loudness", "caption"]
    for r in resp.results:
        assert not r.HasField("error") and not r.scorer_errors, r
        assert set(r.scores) == {"brightness", "loudness_db", "caption_score"}
    # Decoded container frames and raw frames describe the same clip (lossy codec: close, not equal).
    assert resp.results[0].scores["brightness"] == pytest.approx(
        resp.results[1].scores["brightness"], abs=0.02
    )
    # 0.5 s of a 0.5-amplitude sine zero-padded to the scorer's 1 s window: RMS 0.5/sqrt(2)/sqrt(2) = 0.25.
    assert resp.results[1].scores["loudness_db"] == pytest.approx(20 * np.log10(0.25), abs=0.05)


async def test_selected_scorers_only(srv: Running) -> None:
    resp = await srv.stub.Score(
        reward_pb2.ScoreRequest(samples=[good()], scorers=["loudness", "loudness"]), timeout=30
    )
    assert [s.name for s in resp.scorers] == ["loudness"]
    assert set(resp.results[0].scores) == {"loudness_db"}


async def test_embed_returns_tensors_keyed_by_scorer(srv: Running) -> None:
    resp = await srv.stub.Embed(reward_pb2.EmbedRequest(samples=[good()]), timeout=30)
    emb = resp.results[0].embeddings
    assert set(emb) == {"brightness.frame_luma", "loudness.rms", "caption.text"}
    t = emb["brightness.frame_luma"]
    assert t.dtype == "float32" and list(t.shape) == [8]
    vec = np.frombuffer(t.data, "<f4")
    assert np.all(np.diff(vec) > 0)  # the gradient clip brightens over time
    assert resp.request_id


async def test_list_scorers_reports_scorers_and_server_limits(srv: Running) -> None:
    resp = await srv.stub.ListScorers(reward_pb2.ListScorersRequest(), timeout=10)
    by_name = {s.name: s for s in resp.scorers}
    assert set(by_name) == {"brightness", "loudness", "caption"}
    assert by_name["caption"].tiny_weights and not by_name["brightness"].tiny_weights
    assert len(by_name["brightness"].weights_sha256) == 64
    assert list(by_name["loudness"].input_spec.modalities) == ["audio"]
    assert resp.server.max_samples_per_request == 8
    assert resp.server.max_message_bytes == 256 * 1024 * 1024
    assert resp.server.package_version


def _nan_pcm() -> reward_pb2.Audio:
    x = sine()
    x[0, 10] = np.nan
    return pcm_audio(x)


def _inf_pcm() -> reward_pb2.Audio:
    x = sine()
    x[0, 10] = np.inf
    return pcm_audio(x)


def _tensor_video(dtype: str, shape: list[int], data: bytes) -> reward_pb2.Video:
    return reward_pb2.Video(frames=reward_pb2.Tensor(dtype=dtype, shape=shape, data=data), fps=24)


def _tensor_audio(dtype: str, shape: list[int], data: bytes) -> reward_pb2.Audio:
    return reward_pb2.Audio(pcm=reward_pb2.Tensor(dtype=dtype, shape=shape, data=data), sample_rate=16000)


# name -> (bad sample builder, field it must name, message fragment)
BAD_SAMPLES: dict[str, tuple[Callable[[Path], reward_pb2.Sample], str, str]] = {
    "corrupt container": (
        lambda root: sample(video=reward_pb2.Video(container=b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)),
        "video.container",
        "not a readable media container",
    ),
    "truncated container": (
        lambda root: sample(video=reward_pb2.Video(container=FASTSTART[: len(FASTSTART) * 2 // 3])),
        "video.container",
        "truncated",
    ),
    "nan pcm": (lambda root: sample(audio=_nan_pcm()), "audio.pcm", "NaN or Inf"),
    "inf pcm": (lambda root: sample(audio=_inf_pcm()), "audio.pcm", "NaN or Inf"),
    "shape x dtype mismatch": (
        lambda root: sample(video=_tensor_video("uint8", [16, 32, 48, 3], FRAMES.tobytes()[:-7])),
        "video.frames",
        "bytes were sent",
    ),
    "wrong frames dtype": (
        lambda root: sample(video=_tensor_video("float32", [1, 2, 2, 3], b"\x00" * 48)),
        "video.frames",
        "dtype uint8",
    ),
    "absurd video shape": (
        lambda root: sample(video=_tensor_video("uint8", [10**6, 10**4, 10**4, 3], b"\x00" * 12)),
        "video.frames",
        "server limit",
    ),
    "absurd channel count": (
        lambda root: sample(audio=_tensor_audio("float32", [1000, 1], b"\x00" * 4000)),
        "audio.pcm",
        "channels",
    ),
    "negative dimension": (
        lambda root: sample(audio=_tensor_audio("float32", [1, -4], b"")),
        "audio.pcm",
        "negative",
    ),
    "zero-length container": (
        lambda root: sample(video=reward_pb2.Video(container=b"")),
        "video.container",
        "zero-length",
    ),
    "zero-length pcm": (
        lambda root: sample(audio=_tensor_audio("float32", [1, 0], b"")),
        "audio.pcm",
        "empty",
    ),
    "huge prompt": (lambda root: sample(prompt="x" * (MAX_PROMPT + 1)), "prompt", "limit is 256"),
    "uri outside roots": (
        lambda root: sample(video=reward_pb2.Video(uri=(root.parent / "outside0" / "secret.mp4").as_uri())),
        "video.uri",
        "outside the server's allowed roots",
    ),
    "uri to a missing file": (
        lambda root: sample(video=reward_pb2.Video(uri=(root / "nope.mp4").as_uri())),
        "video.uri",
        "does not exist",
    ),
    "uri symlink escaping the root": (
        lambda root: sample(video=reward_pb2.Video(uri=(root / "link.mp4").as_uri())),
        "video.uri",
        "outside the server's allowed roots",
    ),
    "uri with dot-dot": (
        lambda root: sample(video=reward_pb2.Video(uri=f"file://{root}/../outside0/secret.mp4")),
        "video.uri",
        "'..'",
    ),
    "uri with encoded dot-dot": (
        lambda root: sample(video=reward_pb2.Video(uri=f"file://{root}/%2e%2e/outside0/secret.mp4")),
        "video.uri",
        "'..'",
    ),
    "non-file uri scheme": (
        lambda root: sample(video=reward_pb2.Video(uri="http://127.0.0.1:1/clip.mp4")),
        "video.uri",
        "only file://",
    ),
    "audio from a container without audio": (
        lambda root: sample(audio=reward_pb2.Audio(container=FASTSTART)),
        "audio.container",
        "no audio stream",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SAMPLES))
async def test_bad_sample_fails_alone_with_invalid_argument(
    srv: Running, media_root: Path, case: str
) -> None:
    build, field, fragment = BAD_SAMPLES[case]
    bad = build(media_root)
    bad.id = "bad"
    resp = await srv.stub.Score(
        reward_pb2.ScoreRequest(samples=[good("before"), bad, good("after")]), timeout=30
    )
    before, result, after = resp.results
    for ok in (before, after):
        assert set(ok.scores) == {"brightness", "loudness_db", "caption_score"}, ok
    assert result.id == "bad"
    if result.error.code:
        # Nothing requested could run on the sample: a sample-level error names the field.
        assert result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], result
        assert fragment in result.error.message
        assert not result.scores
        detail = error_details_pb2.BadRequest()
        assert result.error.details[0].Unpack(detail)
        assert detail.field_violations[0].field == f"samples[1].{field}"
    else:
        # Bad media fails only the scorers that read that modality; the others still score the sample.
        modality = field.split(".")[0]
        readers = {"video": {"brightness"}, "audio": {"loudness"}}[modality]
        assert readers <= set(result.scorer_errors), result
        for name in readers:
            err = result.scorer_errors[name]
            assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert fragment in err.message and f"samples[1].{field}" in err.message
        for name, err in result.scorer_errors.items():
            if name not in readers:  # other scorers may fail for their own reasons, never for this media
                assert fragment not in err.message, result
    # The server keeps serving.
    assert await srv.health_status() == 1


async def test_missing_modality_and_empty_prompt_fail_only_that_scorer(srv: Running) -> None:
    req = reward_pb2.ScoreRequest(
        samples=[
            sample("video-only", prompt="", video=frames_video(FRAMES)),
            sample("silent", prompt="quiet", audio=pcm_audio(np.zeros((1, 8000), np.float32))),
        ]
    )
    resp = await srv.stub.Score(req, timeout=30)
    video_only, silent = resp.results
    assert set(video_only.scores) == {"brightness"}
    assert set(video_only.scorer_errors) == {"loudness", "caption"}
    assert "needs audio" in video_only.scorer_errors["loudness"].message
    assert "needs prompt" in video_only.scorer_errors["caption"].message
    assert video_only.scorer_errors["caption"].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert set(silent.scores) == {"caption_score"}
    assert silent.scorer_errors["loudness"].message == "audio is silent"


async def test_undecoded_modalities_are_not_needed(srv: Running) -> None:
    # Only the caption scorer is asked for, so a corrupt video is never decoded and does not matter.
    req = reward_pb2.ScoreRequest(
        samples=[sample(prompt="hi", video=reward_pb2.Video(container=b"junk"))], scorers=["caption"]
    )
    resp = await srv.stub.Score(req, timeout=30)
    assert set(resp.results[0].scores) == {"caption_score"}


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (reward_pb2.ScoreRequest(samples=[sample()], scorers=["brightnes"]), "Did you mean: brightness"),
        (reward_pb2.ScoreRequest(samples=[]), "no samples"),
        (reward_pb2.ScoreRequest(samples=[sample(str(i)) for i in range(9)]), "at most 8"),
    ],
    ids=["unknown-scorer", "no-samples", "too-many-samples"],
)
async def test_malformed_request_is_invalid_argument(
    srv: Running, request_: reward_pb2.ScoreRequest, fragment: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await srv.stub.Score(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (err.value.details() or "")
    assert "This server hosts" in (err.value.details() or "") or fragment != "Did you mean: brightness"


async def test_embed_of_a_scorer_without_embeddings_is_rejected_by_name(srv: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await srv.stub.Embed(reward_pb2.EmbedRequest(samples=[good()], scorers=["nope"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
