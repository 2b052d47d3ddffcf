"""The Triton Python-backend pipeline in-process (no Triton): the same outcomes as the server, crash isolation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omninft.reward_servers.serving.config import ServerConfig
from omninft.reward_servers.serving.errors import BadRequestError
from omninft.reward_servers.serving.oip_schema import provenance_parameters
from omninft.reward_servers.serving.triton_backend import ScorerPipeline, check_provenance, rows_of
from tests.helpers.media import encode_video, gradient_frames

DARK = encode_video(gradient_frames(8, 16, 16, level=40), fps=8)
BRIGHT = encode_video(gradient_frames(8, 16, 16, level=220), fps=8)


def _pipeline(**options: object) -> ScorerPipeline:
    cfg = ServerConfig.from_dict(
        {
            "plugins": {"brightness": "tests.helpers.scorers:build"},
            "scorers": {"brightness": {"maxBatchSize": 2, "options": options}},
        }
    )
    return ScorerPipeline(cfg, "brightness", max_batch_size=2)


def test_chunks_score_each_sample_and_fail_only_bad_ones() -> None:
    pipe = _pipeline()
    try:
        rows = [
            {"video": DARK},
            {"video": b"junk"},
            {"video": BRIGHT},
            {"video": DARK},
            {"video": b"file:///etc/x"},
        ]
        scores, errors = pipe.run(rows)
        alone = [pipe.run([{"video": v}])[0][0]["brightness"] for v in (DARK, BRIGHT)]
    finally:
        pipe.close()
    assert (
        scores[0]["brightness"] == alone[0] == scores[3]["brightness"] and scores[2]["brightness"] == alone[1]
    )
    assert math.isnan(scores[1]["brightness"]) and math.isnan(scores[4]["brightness"])
    assert errors[0] == errors[2] == errors[3] == ""
    assert errors[1].startswith("INVALID_ARGUMENT: ") and errors[4].startswith("INVALID_ARGUMENT: ")


def test_a_crashing_item_fails_alone() -> None:
    pipe = _pipeline(explode_above=0.6)
    try:
        scores, errors = pipe.run([{"video": DARK}, {"video": BRIGHT}])
    finally:
        pipe.close()
    assert math.isfinite(scores[0]["brightness"]) and errors[0] == ""
    assert math.isnan(scores[1]["brightness"]) and errors[1].startswith(
        "INTERNAL: scorer 'brightness' failed"
    )


def test_rows_of_requires_one_batch_size() -> None:
    col = np.array([[b"a"], [b"b"]], dtype=np.object_)
    assert rows_of({"video": col, "prompt": col}) == [
        {"video": b"a", "prompt": b"a"},
        {"video": b"b", "prompt": b"b"},
    ]
    with pytest.raises(BadRequestError):
        rows_of({"video": col, "prompt": col[:1]})


def test_a_model_refuses_weights_other_than_the_exported_ones(caplog: pytest.LogCaptureFixture) -> None:
    pipe = _pipeline()
    try:
        info = pipe.scorer.info
        exported = provenance_parameters(info)
        check_provenance("brightness", exported, info)
        changed = {**exported, "weights_sha256": "0" * 64}
        with pytest.raises(RuntimeError, match="weights_sha256: expected '0000.*re-export"):
            check_provenance("brightness", changed, info)
        check_provenance("brightness", {}, info)
    finally:
        pipe.close()
    assert "records no scorer provenance" in caplog.text
