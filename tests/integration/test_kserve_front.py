"""The KServe v2 front driven by NVIDIA's own client (`tritonclient.grpc`) against a real server on 127.0.0.1:0.

Covers health, metadata, Triton's ModelConfig/ModelStatistics, batched inference that matches RewardService,
the per-sample failure convention (NaN + `error`), every KServe-style bad-input error, auth and TLS.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.grpc.aio as tgrpc_aio
from tritonclient.utils import InferenceServerException

from omninft.reward_servers.serving.config import TLSConfig
from omninft_client.v1 import reward_pb2
from tests.helpers.media import encode_video, gradient_frames
from tests.helpers.server import running_server, sample
from tests.integration.test_server_security import pki  # noqa: F401  (fixture)

CLIP_A = encode_video(gradient_frames(8, 16, 16), fps=8)
CLIP_B = encode_video(gradient_frames(8, 16, 16, level=90), fps=8)


def _bytes_input(name: str, items: list[bytes]) -> tgrpc.InferInput:
    """A [batch, 1] BYTES InferInput filled through tritonclient's own serializer."""
    arr = np.array(items, dtype=np.object_).reshape(-1, 1)
    inp = tgrpc.InferInput(name, list(arr.shape), "BYTES")
    inp.set_data_from_numpy(arr)
    return inp


def _status(exc: InferenceServerException) -> str:
    """The gRPC status name tritonclient reports ('StatusCode.NOT_FOUND')."""
    return str(exc.status())


async def test_health_metadata_and_config_answer_tritonclient() -> None:
    async with running_server() as r:
        client = tgrpc_aio.InferenceServerClient(r.server.address)
        try:
            assert await client.is_server_live()
            assert await client.is_server_ready()
            assert await client.is_model_ready("brightness")
            assert not await client.is_model_ready("nope")
            meta = await client.get_server_metadata(as_json=True)
            assert meta["name"] == "omninft" and "statistics" in meta["extensions"]
            model = await client.get_model_metadata("caption", as_json=True)
            assert [i["name"] for i in model["inputs"]] == ["prompt"]
            assert model["inputs"][0] == {"name": "prompt", "datatype": "BYTES", "shape": ["-1", "1"]}
            assert [o["name"] for o in model["outputs"]] == ["caption_score", "error"]
            cfg = (await client.get_model_config("brightness")).config
            assert cfg.max_batch_size == r.server.batchers["brightness"].max_batch_size
            assert cfg.dynamic_batching.max_queue_delay_microseconds == round(
                r.server.batchers["brightness"].max_queue_delay_ms * 1000
            )
            assert [i.name for i in cfg.input] == ["video"]
            assert (
                cfg.parameters["weights_sha256"].string_value
                == r.server.scorers["brightness"].info.weights.sha256
            )
        finally:
            await client.close()


async def test_batched_infer_matches_reward_service_and_keeps_good_samples() -> None:
    async with running_server() as r:
        ref = await r.stub.Score(
            reward_pb2.ScoreRequest(
                samples=[
                    sample("a", video=reward_pb2.Video(container=CLIP_A)),
                    sample("b", video=reward_pb2.Video(container=CLIP_B)),
                ],
                scorers=["brightness"],
            ),
            timeout=20,
        )
        expected = [res.scores["brightness"] for res in ref.results]

        def call() -> tgrpc.InferResult:
            with tgrpc.InferenceServerClient(r.server.address) as client:
                inp = _bytes_input("video", [CLIP_A, b"not a video at all", CLIP_B])
                return client.infer("brightness", [inp], request_id="req-7")

        result = await asyncio.to_thread(call)
        scores = result.as_numpy("brightness")
        errors = result.as_numpy("error")
        assert scores.dtype == np.float64 and scores.shape == (3, 1)
        assert result.get_response().id == "req-7"
        # Bit-identical to RewardService for the same samples, whatever else is in the batch.
        assert scores[0, 0] == expected[0] and scores[2, 0] == expected[1]
        assert math.isnan(scores[1, 0])
        assert errors[0, 0] == b"" and errors[2, 0] == b""
        assert errors[1, 0].startswith(b"INVALID_ARGUMENT: ")


async def test_requested_outputs_and_statistics() -> None:
    async with running_server() as r:
        client = tgrpc_aio.InferenceServerClient(r.server.address)
        try:
            before = (await client.get_inference_statistics("caption")).model_stats[0]
            res = await client.infer(
                "caption",
                [_bytes_input("prompt", [b"a cat", b""])],
                outputs=[tgrpc_aio.InferRequestedOutput("caption_score")],
            )
            assert [o.name for o in res.get_response().outputs] == ["caption_score"]
            scores = res.as_numpy("caption_score")
            assert np.isfinite(scores[0, 0]) and math.isnan(scores[1, 0])  # empty prompt: InvalidSample
            after = (await client.get_inference_statistics("caption")).model_stats[0]
            assert after.inference_stats.success.count == before.inference_stats.success.count + 1
            assert after.inference_stats.fail.count == before.inference_stats.fail.count + 1
            assert after.execution_count >= before.execution_count + 1
            assert after.inference_stats.compute_infer.ns > 0 and after.last_inference > 0
            everything = await client.get_inference_statistics()
            assert {m.name for m in everything.model_stats} == set(r.server.scorers)
        finally:
            await client.close()


async def test_bad_requests_are_kserve_errors_and_the_server_keeps_serving() -> None:
    async with running_server() as r:
        client = tgrpc_aio.InferenceServerClient(r.server.address)
        max_batch = r.server.batchers["brightness"].max_batch_size
        good = _bytes_input("video", [CLIP_A])
        wrong_type = tgrpc_aio.InferInput("video", [1, 1], "FP32")
        wrong_type.set_data_from_numpy(np.zeros((1, 1), np.float32))
        wrong_shape = tgrpc_aio.InferInput("video", [1, 2], "BYTES")
        wrong_shape.set_data_from_numpy(np.array([[CLIP_A, CLIP_A]], dtype=np.object_))
        cases: list[tuple[str, list[tgrpc.InferInput], str, str]] = [
            ("nope", [good], "NOT_FOUND", "unknown model"),
            ("brightness", [wrong_type], "INVALID_ARGUMENT", "expects BYTES"),
            ("brightness", [wrong_shape], "INVALID_ARGUMENT", "expected [batch, 1]"),
            ("brightness", [], "INVALID_ARGUMENT", "requires input(s) video"),
            (
                "brightness",
                [good, _bytes_input("prompt", [b"x"])],
                "INVALID_ARGUMENT",
                "unexpected input 'prompt'",
            ),
            (
                "brightness",
                [_bytes_input("video", [CLIP_A] * (max_batch + 1))],
                "INVALID_ARGUMENT",
                "max_batch_size",
            ),
        ]
        try:
            for model, inputs, code, text in cases:
                with pytest.raises(InferenceServerException) as err:
                    await client.infer(model, inputs)
                assert _status(err.value) == f"StatusCode.{code}", (model, err.value)
                assert text in err.value.message(), err.value.message()
            with pytest.raises(InferenceServerException) as err:
                await client.infer("brightness", [good], model_version="2")
            assert _status(err.value) == "StatusCode.NOT_FOUND"
            with pytest.raises(InferenceServerException) as err:
                await client.get_model_metadata("nope")
            assert _status(err.value) == "StatusCode.NOT_FOUND"
            # Media that is not media is a per-sample failure, not a request error.
            res = await client.infer("brightness", [_bytes_input("video", [b"\x00" * 64])])
            assert math.isnan(res.as_numpy("brightness")[0, 0])
            assert res.as_numpy("error")[0, 0].startswith(b"INVALID_ARGUMENT")
            res = await client.infer("brightness", [good])
            assert np.isfinite(res.as_numpy("brightness")[0, 0])
        finally:
            await client.close()


async def test_file_uris_need_an_allowed_root(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(CLIP_A)
    async with running_server(allowed_uri_roots=[str(tmp_path)]) as r:
        client = tgrpc_aio.InferenceServerClient(r.server.address)
        try:
            res = await client.infer(
                "brightness", [_bytes_input("video", [clip.as_uri().encode(), b"file:///etc/passwd"])]
            )
            scores, errors = res.as_numpy("brightness"), res.as_numpy("error")
            assert np.isfinite(scores[0, 0]) and errors[0, 0] == b""
            assert math.isnan(scores[1, 0]) and errors[1, 0].startswith(b"INVALID_ARGUMENT")
        finally:
            await client.close()


async def test_bearer_token_is_required() -> None:
    async with running_server(auth_token="kserve-token") as r:
        client = tgrpc_aio.InferenceServerClient(r.server.address)
        try:
            with pytest.raises(InferenceServerException) as err:
                await client.infer("brightness", [_bytes_input("video", [CLIP_A])])
            assert _status(err.value) == "StatusCode.UNAUTHENTICATED"
            res = await client.infer(
                "brightness",
                [_bytes_input("video", [CLIP_A])],
                headers={"authorization": "Bearer kserve-token"},
            )
            assert np.isfinite(res.as_numpy("brightness")[0, 0])
        finally:
            await client.close()
        counted = r.server.metrics.registry.get_sample_value(
            "omninft_requests_total", {"method": "inference.GRPCInferenceService/ModelInfer", "code": "OK"}
        )
        assert counted == 1


async def test_tls(pki: dict[str, Path]) -> None:  # noqa: F811
    tls = TLSConfig(cert_file=str(pki["server_cert"]), key_file=str(pki["server_key"]))
    async with running_server(tls=tls) as r:

        def call() -> float:
            with tgrpc.InferenceServerClient(
                r.server.address, ssl=True, root_certificates=str(pki["ca"])
            ) as client:
                res = client.infer("brightness", [_bytes_input("video", [CLIP_A])])
                return float(res.as_numpy("brightness")[0, 0])

        assert math.isfinite(await asyncio.to_thread(call))

        def plaintext() -> None:
            with tgrpc.InferenceServerClient(r.server.address) as client:
                client.is_server_live(client_timeout=3)

        with pytest.raises(InferenceServerException):
            await asyncio.to_thread(plaintext)


async def test_draining_server_is_not_ready_and_refuses_inference() -> None:
    async with running_server() as r:
        client = tgrpc_aio.InferenceServerClient(r.server.address)
        try:
            assert r.server.servicer is not None
            r.server.servicer.draining = True
            assert await client.is_server_live()
            assert not await client.is_server_ready()
            assert not await client.is_model_ready("brightness")
            with pytest.raises(InferenceServerException) as err:
                await client.infer("brightness", [_bytes_input("video", [CLIP_A])])
            assert _status(err.value) == "StatusCode.UNAVAILABLE"
        finally:
            await client.close()


async def test_reflection_and_health_name_the_inference_service() -> None:
    import grpc
    from grpc_health.v1 import health_pb2
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    async with running_server() as r:
        db = ProtoReflectionDescriptorDatabase(grpc.insecure_channel(r.server.address))
        assert "inference.GRPCInferenceService" in await asyncio.to_thread(db.get_services)
        assert (
            await r.health_status("inference.GRPCInferenceService") == health_pb2.HealthCheckResponse.SERVING
        )
