"""The Open Inference Protocol model of a scorer: tensors, BYTES framing, failures, and exported config.pbtxt."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from omninft.reward_servers import export
from omninft.reward_servers.scorers.base import InvalidSample, ScorerOutput
from omninft.reward_servers.serving.config import ServerConfig
from omninft.reward_servers.serving.errors import BadRequestError, ScorerFailure, invalid_sample_status
from omninft.reward_servers.serving.oip_schema import (
    PROVENANCE_KEYS,
    collect_results,
    deserialize_bytes,
    make_schema,
    sample_from_row,
    serialize_bytes,
)
from omninft.reward_servers.serving.triton_backend import CONFIG_PARAMETER
from omninft.reward_servers.serving.triton_repo import ProvenanceError, export_repository, read_config
from omninft_client._kserve import scorer_from_config


def test_bytes_framing_matches_tritonclient() -> None:
    items = [b"", b"abc", bytes(range(256)) * 3]
    ours = serialize_bytes(items)
    theirs = serialize_byte_tensor(np.array(items, dtype=np.object_)).item()
    assert ours == theirs
    assert deserialize_bytes(ours, 3) == items
    assert list(deserialize_bytes_tensor(ours)) == items
    for bad, count in [(ours[:-1], 3), (ours + b"\0", 3), (ours, 4), (b"\xff\xff\xff\xff", 1)]:
        with pytest.raises(ValueError):
            deserialize_bytes(bad, count)


def test_schema_orders_inputs_and_reserves_error() -> None:
    schema = make_schema("s", ("prompt", "audio", "video"), ("a", "b"), 8)
    assert schema.inputs == ("video", "audio", "prompt")
    assert schema.all_outputs == ("a", "b", "error")
    with pytest.raises(ValueError, match="reserved"):
        make_schema("s", ("video",), ("error",), 8)
    with pytest.raises(ValueError, match="embeddings only"):
        make_schema("s", ("video",), (), 8)


def test_rows_become_samples_with_uris_and_text() -> None:
    s = sample_from_row(0, {"video": b"file:///data/a.mp4", "audio": b"RIFF....", "prompt": "ä cat".encode()})
    assert s.video.uri == "file:///data/a.mp4" and s.audio.container == b"RIFF...." and s.prompt == "ä cat"
    with pytest.raises(BadRequestError, match="UTF-8"):
        sample_from_row(1, {"prompt": b"\xff\xfe"})


def test_failed_samples_get_nan_and_a_coded_error() -> None:
    outcomes = [
        ScorerOutput(scores={"a": 1.5}),
        InvalidSample("too short"),
        ScorerFailure("scorer 's' failed on this sample"),
        ScorerOutput(scores={"a": 2.0}),
    ]
    errors = [None, None, None, invalid_sample_status("bad video", "samples[3].video")]
    scores, messages = collect_results(outcomes, errors, ("a",), "rid-1")
    assert scores[0] == {"a": 1.5}
    assert all(math.isnan(s["a"]) for s in scores[1:])
    assert messages == [
        "",
        "INVALID_ARGUMENT: too short",
        "INTERNAL: scorer 's' failed on this sample; request id rid-1",
        "INVALID_ARGUMENT: bad video",
    ]


def test_exported_repository_parses_with_tritons_model_config(tmp_path: Path) -> None:
    cfg = ServerConfig.from_dict(
        {
            "plugins": {"brightness": "tests.helpers.scorers:build"},
            "allowedUriRoots": [str(tmp_path)],
            "authToken": "never-exported",
            "scorers": {
                "brightness": {"maxBatchSize": 4, "maxQueueDelayMs": 2.5},
                "clap": {"device": "cuda:0"},
            },
        }
    )
    models = export_repository(tmp_path / "repo", cfg)
    assert [m.name for m in models] == ["brightness", "clap"]
    bright = read_config(tmp_path / "repo" / "brightness" / "config.pbtxt")
    assert bright.backend == "python" and bright.max_batch_size == 4
    assert [(i.name, i.data_type, list(i.dims)) for i in bright.input] == [
        ("video", model_config_pb2.TYPE_STRING, [1])
    ]
    assert [(o.name, o.data_type) for o in bright.output] == [
        ("brightness", model_config_pb2.TYPE_FP64),
        ("error", model_config_pb2.TYPE_STRING),
    ]
    assert bright.dynamic_batching.max_queue_delay_microseconds == 2500
    assert list(bright.dynamic_batching.preferred_batch_size) == [4]
    assert bright.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    embedded = json.loads(bright.parameters[CONFIG_PARAMETER].string_value)
    assert list(embedded["scorers"]) == ["brightness"] and embedded["plugins"] == {
        "brightness": "tests.helpers.scorers:build"
    }
    assert embedded["allowedUriRoots"] == [str(tmp_path)] and "authToken" not in embedded
    assert ServerConfig.from_dict(embedded).scorers["brightness"].max_batch_size == 4
    clap = read_config(tmp_path / "repo" / "clap" / "config.pbtxt")
    assert [i.name for i in clap.input] == ["audio", "audio_prompt"] and clap.max_batch_size == 16
    assert clap.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert "TritonPythonModel" in (tmp_path / "repo" / "clap" / "1" / "model.py").read_text()
    params = {k: v.string_value for k, v in clap.parameters.items()}
    assert params["tiny_weights"] == "true" and params["device"] == "cuda:0"
    assert len(params["weights_sha256"]) == 64 and params["scorer_version"] and params["protocol"]
    described = scorer_from_config(clap)
    assert described is not None and described.weights_sha256 == params["weights_sha256"]
    assert described.tiny_weights


def test_export_records_provenance_or_says_why_it_cannot(tmp_path: Path) -> None:
    missing = ServerConfig.from_dict({"scorers": {"clap": {"weights": str(tmp_path / "no-such.ckpt")}}})
    with pytest.raises(ProvenanceError, match="cannot build scorer 'clap'.*--no-provenance"):
        export_repository(tmp_path / "repo", missing)
    (model,) = export_repository(tmp_path / "bare", missing, provenance=False)
    params = read_config(model.config_path).parameters
    assert not set(PROVENANCE_KEYS) & set(params) and CONFIG_PARAMETER in params


def test_export_cli_triton(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    result = CliRunner().invoke(
        export.main,
        [
            "--format",
            "triton",
            "--scorer",
            "clap",
            "--scorer",
            "video_stats",
            "--out",
            str(out),
            "--max-batch-size",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "clap: inputs audio, audio_prompt; outputs clap_score, error; max_batch_size 8" in result.output
    assert read_config(out / "video_stats" / "config.pbtxt").max_batch_size == 8
    bad = CliRunner().invoke(export.main, ["--format", "triton", "--scorer", "nope", "--out", str(out)])
    assert bad.exit_code != 0 and "nope" in bad.output
    two = CliRunner().invoke(
        export.main, ["--scorer", "clap", "--scorer", "clip", "--out", str(tmp_path / "x")]
    )
    assert two.exit_code != 0 and "exactly one scorer" in two.output
