"""VBench motion/flicker math (specs/vbench.md §1.3-1.5, §12) against hand-computed cases and naive references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional import vbench_motion as vm
from omninft.reward_servers.functional.flow_padding import centred_padding, pad_replicate, unpad

# ------------------------------------------------------------------------------------------- padding


@pytest.mark.parametrize(
    ("h", "w", "d", "expected"),
    [
        (240, 320, 8, (0, 0, 0, 0)),  # already multiples
        (241, 321, 8, (3, 4, 3, 4)),  # 7 px each: 3 before, 4 after
        (270, 480, 8, (0, 0, 1, 1)),  # 270 -> 272
        (270, 480, 16, (0, 0, 1, 1)),  # 270 -> 272, 480 already a multiple of 16
        (100, 37, 16, (5, 6, 6, 6)),  # 112 - 100 = 12 ; 48 - 37 = 11
        (1, 1, 8, (3, 4, 3, 4)),
    ],
)
def test_centred_padding_hand_computed(h, w, d, expected):
    assert centred_padding(h, w, d) == expected


def test_kitti_mode_pads_bottom_only():
    assert centred_padding(241, 321, 8, mode="kitti") == (3, 4, 0, 7)


def test_pad_replicate_matches_numpy_edge_pad_and_unpad_inverts():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 13, 10)).astype(np.float32)
    p = centred_padding(13, 10, 8)  # (3, 3, 1, 2)
    y = pad_replicate(torch.from_numpy(x), p)
    ref = np.pad(x, ((0, 0), (0, 0), (p[2], p[3]), (p[0], p[1])), mode="edge")
    assert y.shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(y.numpy(), ref)
    np.testing.assert_array_equal(unpad(y, p).numpy(), x)
    same = torch.from_numpy(x[..., :8, :8].copy())
    assert pad_replicate(same, centred_padding(8, 8, 8)) is same


# ------------------------------------------------------------------------------------------- flow top-k


def _naive_top_mean(flow: np.ndarray, fraction: float) -> float:
    mags = sorted(
        (float(np.hypot(u, v)) for u, v in zip(flow[0].ravel(), flow[1].ravel(), strict=True)), reverse=True
    )
    k = int(len(mags) * fraction)
    return sum(mags[:k]) / k


def test_flow_top_mean_hand_computed():
    flow = np.zeros((2, 4, 10), dtype=np.float32)  # 40 px: 5 % -> top 2, 2 % -> top 0
    flow[0, 0, 0], flow[1, 0, 0] = 3, 4  # |.| = 5
    flow[0, 1, 1] = -2  # 2
    flow[1, 2, 2] = 1  # 1
    assert vm.flow_top_mean(flow, 0.05) == pytest.approx((5 + 2) / 2)
    assert np.isnan(vm.flow_top_mean(flow, 0.02))  # int(0.8) == 0: the reference's mean of nothing


def test_flow_top_mean_matches_naive_float64_and_reference_expression():
    rng = np.random.default_rng(1)
    flow = (rng.standard_normal((2, 24, 40)) * 5).astype(np.float32)
    for frac in (vm.DYNAMIC_TOP_FRACTION, vm.STATIC_TOP_FRACTION):
        got = vm.flow_top_mean(flow, frac)
        assert got == pytest.approx(_naive_top_mean(flow, frac), rel=1e-6)
        # the reference's own float32 expression (HWC layout), bit for bit
        hwc = flow.transpose(1, 2, 0)
        rad = np.sqrt(np.square(hwc[:, :, 0]) + np.square(hwc[:, :, 1]))
        ref = np.mean(abs(np.sort(-rad.flatten()))[: int(24 * 40 * frac)])
        assert got == float(ref)


def test_flow_top_mean_rejects_bad_shape():
    with pytest.raises(ValueError):
        vm.flow_top_mean(np.zeros((3, 4, 4), np.float32), 0.05)


# ------------------------------------------------------------------------------------------- dynamic_degree


@pytest.mark.parametrize(
    ("fps", "interval"), [(8, 1), (4, 1), (12, 2), (20, 2), (24, 3), (25, 3), (30, 4), (60, 8)]
)
def test_dynamic_interval_rounds_half_to_even(fps, interval):
    assert vm.dynamic_frame_interval(fps) == interval  # 12/8 = 1.5 -> 2, 20/8 = 2.5 -> 2 (§12)


def test_dynamic_interval_degenerate_rates():
    assert vm.dynamic_frame_interval(0) == 1
    with pytest.raises(ValueError):
        vm.dynamic_frame_interval(float("nan"))


def test_dynamic_frame_indices():
    assert vm.dynamic_frame_indices(10, 24) == [0, 3, 6, 9]
    assert vm.dynamic_frame_indices(16, 8) == list(range(16))


def test_dynamic_thresholds_hand_computed():
    t = vm.dynamic_thresholds(480, 640, 16)
    assert t.thres == pytest.approx(6 * 480 / 256) and t.count_num == 4
    assert vm.dynamic_thresholds(512, 512, 40).count_num == 10
    assert vm.dynamic_thresholds(64, 64, 2).count_num == 0  # round(0.5) == 0
    assert vm.dynamic_thresholds(64, 64, 6).count_num == 2  # round(1.5) == 2
    assert vm.dynamic_thresholds(64, 64, 10).count_num == 2  # round(2.5) == 2


def test_is_dynamic_early_exit_semantics():
    t = vm.MotionThresholds(1.0, 2)
    assert vm.is_dynamic([0.5, 2.0, 0.1, 3.0], t)
    assert not vm.is_dynamic([0.5, 2.0, 1.0, 0.0], t)  # 1.0 is not > thres
    assert vm.is_dynamic([0.0], vm.MotionThresholds(1.0, 0))  # count_num 0: dynamic after any pair
    assert not vm.is_dynamic([], vm.MotionThresholds(1.0, 0))  # one sampled frame: no pairs, not dynamic
    assert not vm.is_dynamic([float("nan")] * 3, vm.MotionThresholds(1.0, 1))


def test_dynamic_degree_aggregate():
    assert vm.dynamic_degree_aggregate([True, False, True, True]) == 0.75
    with pytest.raises(ValueError):
        vm.dynamic_degree_aggregate([])


# ------------------------------------------------------------------------------------------- static filter


def test_static_pairs_and_thresholds():
    assert vm.static_filter_pairs(4) == [(0, 1), (1, 2), (2, 3), (0, 3), (3, 0)]
    assert vm.static_filter_pairs(1) == [(0, 0), (0, 0)]
    t = vm.static_thresholds(256, 320, 16)
    assert t.thres == 3.0 and t.count_num == 2
    assert vm.static_thresholds(256, 256, 24).count_num == 3
    assert vm.static_thresholds(256, 256, 20).count_num == 2  # round(2.5) == 2
    assert vm.static_thresholds(256, 256, 4).count_num == 0  # round(0.5) == 0


def test_is_static_rule():
    t = vm.MotionThresholds(3.0, 2)
    # two consecutive scores above thres are allowed, a third is not
    assert vm.is_static([4, 4, 1, 1, 11.9, 0], t)
    assert not vm.is_static([4, 4, 4, 1, 0, 0], t)
    # first<->last limit: thres * count_num * 2 = 12
    assert vm.is_static([0, 0, 12.0, 12.0], t)
    assert not vm.is_static([0, 0, 12.01, 0], t)
    assert not vm.is_static([0, 0, 0, 12.5], t)
    # count_num 0 makes the first<->last limit 0
    assert not vm.is_static([0.0, 0.1, 0.0], vm.MotionThresholds(3.0, 0))
    assert vm.is_static([0.0, 0.0, 0.0], vm.MotionThresholds(3.0, 0))
    with pytest.raises(ValueError):
        vm.is_static([0.0], t)


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("a dog running-3.mp4", "a dog running"),
        ("/x/y/a cat.mp4", "a cat"),
        ("v-1-12.mp4", "v-1"),
        ("no-number-x.mp4", "no-number-x"),
        ("a.b-0.mp4", "a.b"),
    ],
)
def test_prompt_from_filename(name, prompt):
    assert vm.prompt_from_filename(name) == prompt


def test_select_static_visits_sorted_and_stops_at_five():
    paths = [f"/v/p-{i}.mp4" for i in range(12)] + ["/v/q-0.mp4", "/v/other-0.mp4"]
    static = {
        "/v/p-0.mp4",
        "/v/p-1.mp4",
        "/v/p-10.mp4",
        "/v/p-2.mp4",
        "/v/p-4.mp4",
        "/v/p-5.mp4",
        "/v/p-6.mp4",
    }
    calls: list[str] = []

    def pred(p: str) -> bool:
        calls.append(p)
        return p in static

    sel = vm.select_static(reversed(paths), ["p", "q"], pred)
    # sorted order is lexicographic: p-0, p-1, p-10, p-11, p-2, p-3, p-4, p-5 (5th hit), then stop for p
    assert sel.static_path["p"] == ["/v/p-0.mp4", "/v/p-1.mp4", "/v/p-10.mp4", "/v/p-2.mp4", "/v/p-4.mp4"]
    assert sel.static_path["q"] == []
    assert "/v/p-5.mp4" not in calls and "/v/other-0.mp4" not in calls and calls == sel.tested
    assert sel.as_reference_json()["p"]["static_count"] == 5
    assert sel.copies()[:2] == [("/v/p-0.mp4", "p-0.mp4"), ("/v/p-1.mp4", "p-1.mp4")]
    assert sel.copies()[4] == ("/v/p-4.mp4", "p-4.mp4")


def test_select_static_all_scope_tests_everything():
    paths = [f"p-{i}.mp4" for i in range(7)]
    sel = vm.select_static(paths, None, lambda p: True, per_prompt=None)
    assert len(sel.static_path["p"]) == 7 and len(sel.tested) == 7


# ------------------------------------------------------------------------------------------- temporal_flickering


def test_consecutive_mae_and_score_hand_computed():
    frames = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    frames[1] = 10
    frames[2, 0, 0, 0] = 120  # frame 2 vs frame 1: 11 values differ by 10, one by 110 -> 220 / 12
    mae = vm.consecutive_mae(frames)
    assert mae.dtype == np.float32
    np.testing.assert_allclose(mae, [10.0, 220 / 12], rtol=1e-6)
    assert vm.temporal_flickering_score(frames) == pytest.approx((255 - (10 + 220 / 12) / 2) / 255, rel=1e-6)


def test_flicker_matches_float64_naive():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (5, 9, 7, 3), dtype=np.uint8)
    naive = [np.abs(frames[t].astype(np.float64) - frames[t + 1]).mean() for t in range(4)]
    np.testing.assert_allclose(vm.consecutive_mae(frames), naive, rtol=1e-6)
    with pytest.raises(ValueError):
        vm.temporal_flickering_score(frames[:1])


def test_mean_score():
    assert vm.mean_score([0.5, 1.0]) == 0.75
    with pytest.raises(ValueError):
        vm.mean_score([])


# ------------------------------------------------------------------------------------------- motion_smoothness


def test_interpolation_plan_odd_and_even():
    p = vm.interpolation_plan(5)
    assert p.inputs == (0, 2, 4) and p.pairs == ((0, 2), (2, 4)) and p.targets == (1, 3)
    q = vm.interpolation_plan(6)  # frame 5 is never compared
    assert q.inputs == (0, 2, 4) and q.targets == (1, 3)
    assert vm.interpolation_plan(3).pairs == ((0, 2),)
    for n in (1, 2):
        with pytest.raises(ValueError):
            vm.interpolation_plan(n)


def test_to_uint8_truncates_and_clips():
    x = np.array([-0.1, 0.0, 0.5, 1.0 / 255 * 254.999, 1.0, 1.2], dtype=np.float32)
    assert vm.to_uint8_truncate(x).tolist() == [0, 0, 127, 254, 255, 255]


def test_frame_abs_diff_mean_no_uint8_wraparound():
    a = np.array([[[0, 255, 10]]], dtype=np.uint8)
    b = np.array([[[255, 0, 12]]], dtype=np.uint8)
    assert vm.frame_abs_diff_mean(a, b) == pytest.approx((255 + 255 + 2) / 3)
    with pytest.raises(ValueError):
        vm.frame_abs_diff_mean(a, b.astype(np.float32))


def test_motion_smoothness_score():
    assert vm.motion_smoothness_score([2.55, 0.0]) == pytest.approx((255 - 1.275) / 255)
    with pytest.raises(ValueError):
        vm.motion_smoothness_score([])


def test_amt_scale_cli_branch_and_memory_rule():
    assert vm.amt_scale(1080, 1920) == 1.0  # the CLI (torch.device) branch, §12
    assert vm.amt_scale(8192, 8192) == 1.0
    assert vm.amt_scale(8192, 8193) == 1.0  # s just under 1: floor(16 / sqrt(s)) is still 16
    assert vm.amt_scale(9000, 9000) == 16 / 17  # s = 0.8285, 16 / sqrt(s) = 17.58
    # memory rule, 80 GB card: 1080p stays at scale 1
    assert vm.amt_scale(1080, 1920, 80 * 1024**3) == 1.0
    # 8 GiB card at 1080p: s = 524288/2073600 * sqrt(5692/1500) = 0.4925..., 16/sqrt(s) = 22.79 -> 16/22
    s = 1024 * 512 / (1080 * 1920) * np.sqrt((8192 - 2500) / 1500)
    assert vm.amt_scale(1080, 1920, 8 * 1024**3) == pytest.approx(16 / np.floor(16 / np.sqrt(s))) == 16 / 22
    assert vm.amt_padding_divisor(1.0) == 16 and vm.amt_padding_divisor(16 / 22) == 22
    with pytest.raises(ValueError):
        vm.amt_scale(100, 100, 1024**3)
