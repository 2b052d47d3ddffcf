"""Per-video formulas and aggregates of subject/background consistency, aesthetic and imaging quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional import vbench_quality as vq


def _np_consistency(feats: np.ndarray) -> tuple[float, int]:
    """Independent float64 reference of §1.1: clipped cosines to the previous and to the first frame."""
    f = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    s = [(max(0.0, f[t - 1] @ f[t]) + max(0.0, f[0] @ f[t])) / 2 for t in range(1, len(f))]
    return float(np.sum(s)), len(s)


def test_consistency_hand_computed():
    # frames: e1, e1, e2, (e1+e2)/sqrt2 scaled: cos to previous / first
    feats = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    r = vq.frame_pair_consistency(feats)
    h = 1 / np.sqrt(2)
    # t=1: (1 + 1)/2 = 1; t=2: (0 + 0)/2 = 0; t=3: (h + h)/2 = h
    assert r.cnt_per_video == 3
    assert r.video_sim == pytest.approx(1 + 0 + h, abs=1e-6)
    assert r.video_results() == pytest.approx((1 + h) / 3, abs=1e-6)


def test_consistency_negative_cosines_are_clipped():
    feats = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    r = vq.frame_pair_consistency(feats)
    # t=1: max(0,-1)=0, max(0,-1)=0 -> 0; t=2: prev -1 -> 0, first 1 -> 1 -> 0.5
    assert r.video_sim == pytest.approx(0.5, abs=1e-7) and r.cnt_per_video == 2


def test_consistency_matches_numpy_reference():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 64))
    feats = base + 0.7 * rng.normal(size=(17, 64))  # mostly positive cosines, some pairs near 0
    r = vq.frame_pair_consistency(torch.tensor(feats, dtype=torch.float32))
    sim, cnt = _np_consistency(feats)
    assert r.cnt_per_video == cnt == 16
    assert r.video_sim == pytest.approx(sim, abs=1e-5)


def test_one_frame_video_reference_behaviours():
    r = vq.frame_pair_consistency(torch.ones(1, 8))
    assert r == vq.PairConsistency(0.0, 0)
    assert r.video_results(empty=1.0) == 1.0  # background_consistency's reference value
    with pytest.raises(ValueError):
        r.video_results()  # subject_consistency divides by zero in the reference
    with pytest.raises(ValueError):
        vq.frame_pair_consistency(torch.ones(8))


def test_pair_weighted_aggregate_is_not_a_mean_of_means():
    a = vq.PairConsistency(video_sim=9.0, cnt_per_video=10)  # 0.9 over 10 pairs
    b = vq.PairConsistency(video_sim=0.5, cnt_per_video=1)  # 0.5 over 1 pair
    assert vq.pair_weighted_aggregate([a, b]) == pytest.approx(9.5 / 11)
    assert vq.pair_weighted_aggregate([a, b]) != pytest.approx((0.9 + 0.5) / 2)
    # a 1-frame video contributes nothing to the weighted aggregate
    assert vq.pair_weighted_aggregate([a, vq.PairConsistency(0.0, 0)]) == pytest.approx(0.9)
    assert vq.pair_weighted_aggregate([b, a]) == vq.pair_weighted_aggregate([a, b])
    with pytest.raises(ValueError):
        vq.pair_weighted_aggregate([])
    with pytest.raises(ValueError):
        vq.pair_weighted_aggregate([vq.PairConsistency(0.0, 0)])


def test_consistency_per_frame_terms_independent_of_stacking():
    feats = torch.randn(9, 32, generator=torch.Generator().manual_seed(3))
    whole = vq.frame_pair_consistency(feats)
    head = vq.frame_pair_consistency(feats[:5])
    # the first 4 pairs of the whole video are exactly the 4 pairs of its first 5 frames
    s = 0.0
    f = vq.l2_normalize(feats)
    for t in range(1, 5):
        s += (max(0.0, float(f[t - 1] @ f[t])) + max(0.0, float(f[0] @ f[t]))) / 2
    assert head.video_sim == pytest.approx(s, abs=1e-6)
    assert whole.cnt_per_video == 8


def test_aesthetic_video_score():
    scores = torch.tensor([[5.0], [6.0], [7.5]])
    assert vq.aesthetic_video_score(scores) == pytest.approx((0.5 + 0.6 + 0.75) / 3, abs=1e-7)
    assert vq.mean_over_videos([0.5, 0.7]) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        vq.aesthetic_video_score(torch.zeros(0))
    with pytest.raises(ValueError):
        vq.mean_over_videos([])


def test_imaging_scores_keep_0_100_per_video_and_0_1_aggregate():
    assert vq.imaging_video_score([60.0, 70.0, 65.0]) == pytest.approx(65.0)
    assert vq.imaging_aggregate([65.0, 55.0]) == pytest.approx(0.60)
    with pytest.raises(ValueError):
        vq.imaging_video_score([])


def test_l2_normalize_matches_numpy():
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    ref = x.numpy() / np.linalg.norm(x.numpy(), axis=1, keepdims=True)
    np.testing.assert_allclose(vq.l2_normalize(x).numpy(), ref, rtol=0, atol=1e-6)
