"""Pure KServe v2 pieces of the client: config -> description, error strings, response checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omninft_client import InternalError, Sample
from omninft_client import _kserve as k
from omninft_client.media import video_bytes
from omninft_client.results import SampleError
from omninft_client.v1 import kserve_pb2


def _config(name: str, outputs: list[str], *, error: bool = True) -> kserve_pb2.ModelConfig:
    cfg = kserve_pb2.ModelConfig(name=name, max_batch_size=4, backend="python")
    cfg.input.add(name="video", data_type=k.TYPE_STRING, dims=[1])
    for o in outputs:
        cfg.output.add(name=o, data_type=k.TYPE_FP64, dims=[1])
    if error:
        cfg.output.add(name="error", data_type=k.TYPE_STRING, dims=[1])
    cfg.parameters["weights_sha256"].string_value = "ab" * 32
    return cfg


def test_only_scorer_models_are_described() -> None:
    onnx_core = kserve_pb2.ModelConfig(name="clip_core", max_batch_size=8)
    onnx_core.output.add(name="logits", data_type=11, dims=[512])
    configs = [
        kserve_pb2.ModelConfigResponse(config=c)
        for c in (_config("brightness", ["brightness"]), onnx_core, _config("raw", ["x"], error=False))
    ]
    desc = k.server_description(configs)
    assert desc.names == ("brightness",)
    b = desc.scorer("brightness")
    assert b.outputs == ("brightness",) and b.max_batch_size == 4 and b.weights_sha256 == "ab" * 32
    assert b.input_spec.modalities == ("video",) and b.backend == "python"


def test_error_strings_become_sample_errors() -> None:
    assert k.parse_error(b"INVALID_ARGUMENT: video: bad") == SampleError("INVALID_ARGUMENT", "video: bad")
    assert k.parse_error(b"boom") == SampleError("UNKNOWN", "boom")
    assert k.parse_error(b"NOPE: x") == SampleError("UNKNOWN", "NOPE: x")


def _response(
    scores: list[float], errors: list[bytes], *, shape: int | None = None
) -> kserve_pb2.ModelInferResponse:
    n = len(scores) if shape is None else shape
    resp = kserve_pb2.ModelInferResponse(model_name="brightness")
    resp.outputs.add(name="brightness", datatype="FP64", shape=[n, 1])
    resp.raw_output_contents.append(np.asarray(scores, "<f8").tobytes())
    resp.outputs.add(name="error", datatype="BYTES", shape=[n, 1])
    resp.raw_output_contents.append(b"".join(len(e).to_bytes(4, "little") + e for e in errors))
    return resp


def test_nan_of_a_failed_sample_never_becomes_a_score() -> None:
    model = k.server_description(
        [kserve_pb2.ModelConfigResponse(config=_config("brightness", ["brightness"]))]
    )
    chunk = [Sample(id="a", video=video_bytes(b"x")), Sample(id="b", video=video_bytes(b"y"))]
    (a, b) = k.assemble_scores(
        [chunk], model.scorers, [_response([0.5, math.nan], [b"", b"INTERNAL: crashed"])], "r"
    )
    assert a.ok and a.scores == {"brightness": 0.5}
    # The only scorer failed: a sample error, as RewardService reports a sample that cannot be scored.
    assert b.error == SampleError("INTERNAL", "crashed") and b.scores == {}
    with pytest.raises(InternalError, match="shape"):
        k.assemble_scores([chunk], model.scorers, [_response([0.5, 0.1, 0.2], [b"", b"", b""])], "r")


def test_requests_frame_bytes_per_sample() -> None:
    model = k.server_description(
        [kserve_pb2.ModelConfigResponse(config=_config("brightness", ["brightness"]))]
    )
    samples = [
        Sample(id="a", video=video_bytes(b"abc")),
        Sample(id="b"),
        Sample(id="c", video=video_bytes(b"d")),
    ]
    chunks, reqs = k.prepare_requests(samples, model.scorers, 2, "rid", 2**20)
    assert [len(c) for c in chunks] == [2, 1] and len(reqs) == 2
    assert list(reqs[0].inputs[0].shape) == [2, 1] and reqs[0].id == "rid"
    assert reqs[0].raw_input_contents[0] == b"\x03\x00\x00\x00abc\x00\x00\x00\x00"
    assert [o.name for o in reqs[0].outputs] == ["brightness", "error"]
