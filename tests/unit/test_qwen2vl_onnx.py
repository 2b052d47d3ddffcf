"""The Qwen2-VL reward models (VideoAlign, HPSv3) through their exportable "vision" + "text" split.

Tolerances: the torch split equals the eager reward forward to 1e-6 (same ops, attention batched per temporal
step instead of split per step); ONNX Runtime matches torch to 1e-4 relative to the largest reward (measured:
about 5e-7 on the tiny configs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from omninft.reward_servers import export
from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import _qwen2vl_export as qx
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models import hpsv3 as hp
from omninft.reward_servers.models import videoalign as va
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build

ORT_RTOL = 1e-4


def _item(
    loaded: va.LoadedVideoAlign | hp.LoadedHPSv3, grid: tuple[int, int, int], seed: int
) -> q.RewardInput:
    """A sample with random patch rows, one placeholder per merged visual token and the reward tokens."""
    rng = np.random.default_rng(seed)
    cfg = loaded.model.config.vision_config
    rows = rng.standard_normal((grid[0] * grid[1] * grid[2], 3 * 2 * cfg.patch_size**2)).astype(np.float32)
    n_visual = grid[0] * grid[1] * grid[2] // 4
    ids = [5, 6, 7, *[loaded.ids.visual] * n_visual, 8, 9, *loaded.ids.special, 10]
    return q.RewardInput(np.asarray(ids, np.int64), rows, grid)


def test_vision_positions_match_transformers() -> None:
    from transformers.vision_utils import get_vision_position_ids

    for grid in ((1, 4, 6), (3, 8, 4), (2, 2, 2)):
        want = get_vision_position_ids(torch.tensor([grid]), 2).numpy().reshape(grid[0], grid[1] * grid[2], 2)
        np.testing.assert_array_equal(qx.vision_positions(grid, 2), want)


@pytest.mark.parametrize("family", [va, hp], ids=["videoalign", "hpsv3"])
def test_split_graphs_equal_the_eager_reward_forward(family: object) -> None:
    loaded = family.load("tiny", 0, dtype=torch.float32)  # type: ignore[attr-defined]
    core = q.RewardCore(loaded.model, loaded.ids)
    split = TorchBackend(qx.split_graphs(loaded.model, loaded.ids))
    for seed, grid in enumerate([(1, 4, 4), (2, 4, 6), (3, 8, 4)]):
        item = _item(loaded, grid, seed)
        batch = q.collate([item], loaded.ids.pad)
        with torch.no_grad():
            want = core(
                *(
                    torch.from_numpy(batch[k])
                    for k in ("input_ids", "attention_mask", "pixel_values", "grid_thw")
                )
            )
        got = qx.run_split(split, [item], loaded.ids)
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-6)


def test_split_graphs_refuse_bfloat16() -> None:
    loaded = va.load("tiny", 0, dtype=torch.float32)
    loaded.model.to(torch.bfloat16)
    with pytest.raises(ValueError, match="float32 only"):
        qx.split_graphs(loaded.model, loaded.ids)


def test_exported_backend_needs_float32() -> None:
    with pytest.raises(ValueError, match="javisbench-v1-fp32 or options.dtype float32"):
        build("videoalign", ScorerConfig(weights="tiny", backend="onnxruntime"))
    with pytest.raises(ValueError, match="torch or onnxruntime"):
        build("hpsv3", ScorerConfig(weights="tiny", backend="tensorrt"))


@pytest.mark.slow
def test_omninft_export_videoalign_checks_both_graphs(tmp_path: Path) -> None:
    out = tmp_path / "va"
    res = CliRunner().invoke(
        export.main, ["--scorer", "videoalign", "--out", str(out), "--rtol", str(ORT_RTOL)]
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["graphs"]) == ["text", "vision"] and manifest["tiny"] is True
    for graph in manifest["graphs"].values():
        assert graph["check"]["max_rel"] < ORT_RTOL
    text_inputs = manifest["graphs"]["text"]["inputs"]
    assert text_inputs["input_ids"]["shape"] == ["batch", "seq"]
    assert manifest["graphs"]["vision"]["inputs"]["pixel_values"]["shape"][:2] == ["batch", "patches"]


@pytest.mark.slow
def test_hpsv3_serves_through_onnxruntime(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    sample = DecodedSample(
        "a", prompt="a red fox", video=DecodedVideo(rng.integers(0, 256, (8, 40, 56, 3), np.uint8), 24.0)
    )
    eager = build("hpsv3_video", ScorerConfig(weights="tiny"))
    ort = build("hpsv3_video", ScorerConfig(weights="tiny", backend="onnxruntime", onnx_dir=str(tmp_path)))
    assert ort.info.backend == "onnxruntime" and sorted(p.name for p in tmp_path.rglob("*.onnx")) == [
        "text.onnx",
        "vision.onnx",
    ]
    want = eager.forward([eager.preprocess(sample)])[0]
    got = ort.forward([ort.preprocess(sample)])[0]
    assert got.shape == want.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=0, atol=ORT_RTOL * np.abs(want).max())
    assert ort.postprocess(got).scores["hpsv3_video"] == pytest.approx(
        eager.postprocess(want).scores["hpsv3_video"], abs=ORT_RTOL * np.abs(want).max()
    )
