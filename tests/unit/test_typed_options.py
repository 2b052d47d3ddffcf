"""Scorers read their options through their typed Options dataclass, never `cfg.options.get(...)` by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omninft.reward_servers.scorers import clip as clip_scorer
from omninft.reward_servers.scorers import i3d as i3d_scorer
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.spec import InvalidOptions, model_options
from omninft.reward_servers.scorers.videoalign import model_dtype

SCORERS_DIR = Path(__file__).resolve().parents[2] / "reward_servers" / "scorers"
# A raw read of a scorer config's options mapping: .get(...) or [...] on `cfg.options` / `opts`.
RAW_READ = re.compile(r"\b(?:cfg\.options|opts)\s*(?:\.get\(|\[)")


def test_no_scorer_reads_options_by_hand() -> None:
    offenders = [
        f"{path.name}:{i}: {line.strip()}"
        for path in sorted(SCORERS_DIR.glob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_READ.search(line)
    ]
    assert offenders == [], "read options through the scorer's Options dataclass:\n" + "\n".join(offenders)


def test_options_are_coerced_and_checked_where_the_scorer_reads_them() -> None:
    assert clip_scorer.image_batch_size(ScorerConfig(options={"image_batch_size": "7"})) == 7
    # 0 = the device's default: one JavisBench sample (48 frames) per call on a CPU, 192 frames on a GPU
    assert clip_scorer.image_batch_size(ScorerConfig(options={"image_batch_size": 0})) == 48
    assert clip_scorer.image_batch_size(ScorerConfig(device="cuda:0", options={"image_batch_size": 0})) == 192
    with pytest.raises(
        InvalidOptions, match=r"scorers\.clip\.options\.image_bach_size: unknown option; did you mean"
    ):
        clip_scorer.image_batch_size(ScorerConfig(options={"image_bach_size": 7}))
    with pytest.raises(InvalidOptions, match=r"scorers\.my_i3d\.options\.max_frames: expected int"):
        i3d_scorer.max_frames_option(ScorerConfig(options={"max_frames": "many"}), "my_i3d")
    with pytest.raises(ValueError, match="max_frames must be >="):
        i3d_scorer.max_frames_option(ScorerConfig(options={"max_frames": 2}))


def test_shared_model_options_ignore_the_scorers_own_keys() -> None:
    assert model_options(ScorerConfig(options={"num_frames": 4})).ort_tensorrt_ep is None
    assert (
        model_options(ScorerConfig(options={"ort_tensorrt_ep": "false", "num_frames": 4})).ort_tensorrt_ep
        is False
    )
    with pytest.raises(InvalidOptions, match="ort_tensorrt_ep"):
        model_options(ScorerConfig(options={"ort_tensorrt_ep": "sometimes"}))


def test_dtype_option_none_words_mean_the_protocol_default() -> None:
    import torch

    assert (
        model_dtype(ScorerConfig(protocol="javisbench-v1-fp32", options={"dtype": "none"})) == torch.float32
    )
    with pytest.raises(ValueError, match="dtype must be one of"):
        model_dtype(ScorerConfig(options={"dtype": "float8"}))


def test_shared_dtype_helper_reads_only_its_field_for_either_scorer() -> None:
    import torch

    hpsv3_cfg = ScorerConfig(
        options={"clip_max": 5.0, "pillow_pass_order": "vertical_first", "dtype": "float16"}
    )
    assert model_dtype(hpsv3_cfg, bf16_on_cpu=False) == torch.float16
    assert (
        model_dtype(ScorerConfig(options={"clip_max": 5.0}), bf16_on_cpu=False) == torch.float32
    )  # CPU default
