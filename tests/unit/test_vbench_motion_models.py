"""Per-video VBench motion pipelines (RAFT dynamic_degree / static filter, AMT motion_smoothness) on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional import vbench_motion as vm
from omninft.reward_servers.models import amt, raft
from omninft.reward_servers.models.raft import vbench as raft_vbench
from tests.helpers.flow_frames import texture


def _clip(t: int, h: int, w: int, step: int = 2) -> np.ndarray:
    """t frames of a texture drifting `step` px right per frame, uint8 (T, H, W, 3)."""
    base = texture(h, w + step * t)
    return np.stack(
        [base[0, :, :, step * k : step * k + w].permute(1, 2, 0).numpy() for k in range(t)]
    ).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_raft():
    return raft.load("tiny", seed=0)[0]


@pytest.fixture(scope="module")
def tiny_amt():
    return amt.load("tiny", seed=0)[0]


def test_dynamic_degree_video_samples_at_8fps_and_agrees_with_the_rule(tiny_raft):
    frames = _clip(6, 128, 136)
    res = raft.dynamic_degree_video(tiny_raft, frames, fps=16)  # interval 2: frames 0, 2, 4
    assert res.num_frames == 3 and res.thresholds == vm.dynamic_thresholds(128, 136, 3)
    sampled = frames[[0, 2, 4]]
    full = [raft.pair_score(tiny_raft, sampled, k, k + 1, vm.DYNAMIC_TOP_FRACTION) for k in range(2)]
    assert res.pair_scores == full[: len(res.pair_scores)]
    assert res.decision == vm.is_dynamic(full, res.thresholds)


def test_static_filter_video_scores_the_reference_pairs(tiny_raft):
    frames = _clip(3, 128, 128)
    res = raft.static_filter_video(tiny_raft, frames)
    scores = [
        raft.pair_score(tiny_raft, frames, i, j, vm.STATIC_TOP_FRACTION) for i, j in vm.static_filter_pairs(3)
    ]
    assert res.thresholds == vm.static_thresholds(128, 128, 3)
    assert res.pair_scores == scores[: len(res.pair_scores)]
    assert res.decision == vm.is_static(scores, res.thresholds)


def test_early_exits_stop_scoring(monkeypatch):
    calls: list[tuple[int, int]] = []
    scripted = {(0, 1): 9.0, (1, 2): 9.0, (2, 3): 0.0, (0, 3): 0.0, (3, 0): 0.0}

    def fake(model, frames, pairs, fraction, iters=None, batch=1):
        calls.extend(pairs)
        return [scripted.get(p, 9.0) for p in pairs]

    monkeypatch.setattr(raft_vbench, "pair_scores", fake)
    frames = np.zeros((4, 256, 256, 3), np.uint8)  # static thres 3.0, count_num round(0.5) = 0
    res = raft_vbench.static_filter_video(None, frames)  # type: ignore[arg-type]
    assert res.decision is False and calls == [(0, 1)]  # one pair above thres already exceeds count_num 0
    calls.clear()
    dyn = raft_vbench.dynamic_degree_video(None, np.zeros((16, 256, 256, 3), np.uint8), fps=8)  # type: ignore[arg-type]
    # dynamic thres 6.0, count_num 4: pairs (0,1), (1,2) score 9, (2,3) 0, then 9s until the 4th hit
    assert dyn.decision is True and len(calls) == 5 and dyn.pair_scores == [9.0, 9.0, 0.0, 9.0, 9.0]
    calls.clear()  # in batches of 4 the whole chunk holding the deciding pair is scored
    dyn = raft_vbench.dynamic_degree_video(None, np.zeros((16, 256, 256, 3), np.uint8), fps=8, batch=4)  # type: ignore[arg-type]
    assert dyn.decision is True and len(calls) == 8 and dyn.pair_scores[:5] == [9.0, 9.0, 0.0, 9.0, 9.0]


def test_batched_pairs_agree_with_one_at_a_time(tiny_raft, tiny_amt):
    frames = _clip(5, 128, 136)
    one = raft.static_filter_video(tiny_raft, frames, batch=1)
    many = raft.static_filter_video(tiny_raft, frames, batch=3)
    assert many.decision == one.decision
    n = min(len(one.pair_scores), len(many.pair_scores))
    np.testing.assert_allclose(many.pair_scores[:n], one.pair_scores[:n], rtol=1e-4)
    dyn1 = raft.dynamic_degree_video(tiny_raft, frames, fps=8)
    dyn3 = raft.dynamic_degree_video(tiny_raft, frames, fps=8, batch=3)
    assert dyn1.decision == dyn3.decision
    ms1 = amt.motion_smoothness_video(tiny_amt, frames)
    ms2 = amt.motion_smoothness_video(tiny_amt, frames, batch=2)
    # uint8 truncation can flip a pixel by one level where the float prediction moved by ~1e-6
    assert ms2.score == pytest.approx(ms1.score, abs=1e-3)
    with pytest.raises(ValueError):
        amt.motion_smoothness_video(tiny_amt, frames, batch=0)


def test_bad_frames_are_rejected(tiny_raft, tiny_amt):
    with pytest.raises(ValueError):
        raft.dynamic_degree_video(tiny_raft, np.zeros((0, 128, 128, 3), np.uint8), fps=8)
    with pytest.raises(ValueError):
        raft.static_filter_video(tiny_raft, np.zeros((2, 128, 128), np.uint8))
    with pytest.raises(ValueError, match="at least 3 frames"):
        amt.motion_smoothness_video(tiny_amt, np.zeros((2, 128, 128, 3), np.uint8))


def test_motion_smoothness_video_follows_the_reference_protocol(tiny_amt):
    frames = _clip(6, 128, 144)  # inputs 0, 2, 4; targets 1, 3; frame 5 unused
    res = amt.motion_smoothness_video(tiny_amt, frames)
    manual = []
    for i, target in ((0, 1), (2, 3)):
        x0 = torch.from_numpy(frames[i]).permute(2, 0, 1)[None] / 255.0
        x1 = torch.from_numpy(frames[i + 2]).permute(2, 0, 1)[None] / 255.0
        with torch.no_grad():
            pred = amt.interpolate_midpoint(tiny_amt, x0, x1)
        img = (pred[0] * 255.0).permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)
        manual.append(np.mean(np.abs(img.astype(np.int32) - frames[target].astype(np.int32))))
    assert res.diffs == pytest.approx(manual, abs=1e-12) and res.scale == 1.0
    assert res.score == pytest.approx((255 - np.mean(manual)) / 255, abs=1e-12)


@pytest.mark.slow
def test_full_size_pipelines_reproduce_the_reference_classes():
    """Golden from VBench's own DynamicDegree / StaticFilter / MotionSmoothness on the same clip and weights."""
    gold = json.loads((Path(__file__).parents[1] / "golden" / "vbench_motion_random_seed0.json").read_text())
    frames = _clip(5, 128, 136, 3)
    rmodel, _ = raft.load("random", seed=0)
    dyn = raft.dynamic_degree_video(rmodel, frames, fps=gold["dynamic_degree"]["fps"])
    ref = gold["dynamic_degree"]
    assert dyn.decision == ref["video_results"]
    assert (dyn.thresholds.thres, dyn.thresholds.count_num) == (
        ref["params"]["thres"],
        ref["params"]["count_num"],
    )
    np.testing.assert_allclose(dyn.pair_scores, ref["pair_scores"][: len(dyn.pair_scores)], rtol=1e-5)
    static = raft.static_filter_video(rmodel, frames)
    ref = gold["static_filter"]
    assert static.decision == ref["static"] and static.thresholds.count_num == ref["params"]["count_num"]
    np.testing.assert_allclose(static.pair_scores, ref["pair_scores"][: len(static.pair_scores)], rtol=1e-5)
    amodel, _ = amt.load("random", seed=0)
    assert amt.motion_smoothness_video(amodel, frames).score == pytest.approx(
        gold["motion_smoothness"], abs=1e-6
    )
    assert vm.temporal_flickering_score(frames) == pytest.approx(gold["temporal_flickering"], abs=1e-12)
