"""Advantages on hand-made 2-group tables: routed, global, gdpo (both variants), masking and skipped groups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omninft.trainer.core.advantages import (
    OMNINFT_REWARDS,
    AdvantageConfig,
    RewardSpec,
    compute_advantages,
    group_normalise,
    optimality,
)

EPS = 1e-4
GROUPS = torch.tensor([0, 0, 0, 1, 1, 1])
SPECS = [RewardSpec("v", "video", 1.0), RewardSpec("a", "audio", 2.0), RewardSpec("s", "sync", 0.5)]
R = {
    "v": torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 3.0], dtype=torch.float64),
    "a": torch.tensor([3.0, 1.0, 2.0, 1.0, 2.0, 0.0], dtype=torch.float64),
    "s": torch.tensor([0.5, 0.5, 2.0, 1.0, 0.0, 1.0], dtype=torch.float64),
}


def _ref_norm(x: np.ndarray, groups: np.ndarray, std: str = "global", ddof: int = 0) -> np.ndarray:
    out = np.empty_like(x)
    for g in np.unique(groups):
        m = groups == g
        sd = np.std(x, ddof=ddof) if std == "global" else np.std(x[m], ddof=ddof)
        out[m] = (x[m] - x[m].mean()) / (sd + EPS)
    return out


def _np(d: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in d.items()}


def test_group_normalise_population_global_std() -> None:
    a, stats = group_normalise(R["v"], GROUPS)
    np.testing.assert_allclose(a.numpy(), _ref_norm(R["v"].numpy(), GROUPS.numpy()), rtol=1e-12)
    a, _ = group_normalise(R["v"], GROUPS, std_mode="group")
    np.testing.assert_allclose(a.numpy(), _ref_norm(R["v"].numpy(), GROUPS.numpy(), "group"), rtol=1e-12)
    assert stats["zero_std_group_ratio"] == 0.0


def test_routed_sums_weighted_advantages_per_branch() -> None:
    adv = compute_advantages(R, GROUPS, SPECS, AdvantageConfig("routed"))
    g = GROUPS.numpy()
    av, aa, as_ = (_ref_norm(_np(R)[k], g) for k in ("v", "a", "s"))
    np.testing.assert_allclose(adv.per_modality["video"].numpy(), 1.0 * av + 0.5 * as_, rtol=1e-12)
    np.testing.assert_allclose(adv.per_modality["audio"].numpy(), 2.0 * aa + 0.5 * as_, rtol=1e-12)
    assert bool(adv.valid["video"].all()) and bool(adv.valid["audio"].all())
    routed_dis = np.mean(np.sign(1.0 * av + 0.5 * as_) != np.sign(2.0 * aa + 0.5 * as_))
    assert adv.stats["routed_sign_disagreement_rate"] == pytest.approx(routed_dis)
    # The paper's statistic compares the video and audio reward advantages before the sync term is added.
    both = (av != 0) & (aa != 0)
    assert adv.stats["sign_disagreement_rate"] == pytest.approx(
        np.mean(np.sign(av[both]) != np.sign(aa[both]))
    )


def test_sign_disagreement_is_mode_independent() -> None:
    rates = {
        m: compute_advantages(R, GROUPS, SPECS, AdvantageConfig(m)).stats["sign_disagreement_rate"]
        for m in ("routed", "global", "gdpo", "gdpo_paper")
    }
    assert len(set(rates.values())) == 1 and 0.0 <= rates["routed"] <= 1.0


def test_global_normalises_the_weighted_sum() -> None:
    adv = compute_advantages(R, GROUPS, SPECS, AdvantageConfig("global"))
    total = 1.0 * _np(R)["v"] + 2.0 * _np(R)["a"] + 0.5 * _np(R)["s"]
    expected = _ref_norm(total, GROUPS.numpy())
    for m in ("video", "audio"):
        np.testing.assert_allclose(adv.per_modality[m].numpy(), expected, rtol=1e-12)


def test_gdpo_variants() -> None:
    g = GROUPS.numpy()
    omni = compute_advantages(R, GROUPS, SPECS, AdvantageConfig("gdpo"))
    assert omni.mode == "gdpo_omninft"
    shared = sum(w * _ref_norm(_np(R)[k], g) for k, w in (("v", 1.0), ("a", 2.0), ("s", 0.5)))
    for m in ("video", "audio"):
        np.testing.assert_allclose(omni.per_modality[m].numpy(), shared, rtol=1e-12)
    paper = compute_advantages(R, GROUPS, SPECS, AdvantageConfig("gdpo_paper"))
    per = sum(w * _ref_norm(_np(R)[k], g, "group", 1) for k, w in (("v", 1.0), ("a", 2.0), ("s", 0.5)))
    expected = (per - per.mean()) / (np.std(per, ddof=1) + EPS)
    np.testing.assert_allclose(paper.per_modality["video"].numpy(), expected, rtol=1e-12)


def test_zero_video_weights_leave_video_r_at_half() -> None:
    specs = [RewardSpec("v", "video", 0.0), RewardSpec("a", "audio", 1.0)]
    adv = compute_advantages(R, GROUPS, specs, AdvantageConfig("routed"))
    torch.testing.assert_close(
        optimality(adv.per_modality["video"]), torch.full((6,), 0.5, dtype=torch.float64)
    )
    assert float(adv.per_modality["audio"].abs().sum()) > 0


def test_empty_route_falls_back_to_summed_reward() -> None:
    specs = [RewardSpec("a", "audio", 1.0)]
    adv = compute_advantages(R, GROUPS, specs, AdvantageConfig("routed"))
    np.testing.assert_allclose(adv.per_modality["video"].numpy(), _ref_norm(_np(R)["a"], GROUPS.numpy()))
    off = compute_advantages(R, GROUPS, specs, AdvantageConfig("routed", empty_route_fallback=False))
    assert float(off.per_modality["video"].abs().sum()) == 0.0


def test_failed_reward_is_masked_not_zero() -> None:
    bad = dict(R)
    bad["a"] = R["a"].clone()
    bad["a"][1] = float("nan")
    adv = compute_advantages(bad, GROUPS, SPECS, AdvantageConfig("routed"))
    # The failed sample leaves its group's stats: group 0 normalises over samples 0 and 2 only.
    a_vals = _np(bad)["a"]
    ok = np.isfinite(a_vals)
    sd = np.std(a_vals[ok])
    expected0 = (a_vals[0] - np.mean(a_vals[[0, 2]])) / (sd + EPS)
    assert adv.per_reward["a"][0].item() == pytest.approx(expected0)
    assert math.isnan(adv.per_reward["a"][1].item())
    # Its audio route is masked; video (no audio reward in it) is not.
    assert adv.valid["audio"].tolist() == [True, False, True, True, True, True]
    assert bool(adv.valid["video"].all())
    # global / gdpo need every reward: the sample is masked on both branches.
    for mode in ("global", "gdpo", "gdpo_paper"):
        m = compute_advantages(bad, GROUPS, SPECS, AdvantageConfig(mode))
        assert m.valid["video"].tolist() == [True, False, True, True, True, True]


def test_group_with_fewer_than_two_valid_is_skipped() -> None:
    bad = dict(R)
    bad["s"] = R["s"].clone()
    bad["s"][3:5] = float("nan")
    adv = compute_advantages(bad, GROUPS, SPECS, AdvantageConfig("routed"))
    assert adv.stats["skipped_groups/s"] == 1.0
    assert adv.valid["video"].tolist() == [True, True, True, False, False, False]
    assert adv.valid["audio"].tolist() == [True, True, True, False, False, False]
    assert bool(torch.isnan(adv.per_reward["s"][3:]).all())


def test_zero_std_group_ratio() -> None:
    flat = {"v": torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 2.0], dtype=torch.float64)}
    adv = compute_advantages(flat, GROUPS, [RewardSpec("v", "video")], AdvantageConfig("routed"))
    assert adv.stats["zero_std_group_ratio/v"] == 0.5
    assert adv.per_modality["video"][:3].abs().sum() == 0


def test_released_weights_and_unknown_mode() -> None:
    assert [s.weight for s in OMNINFT_REWARDS] == [1.0, 1.5, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="unknown advantage mode"):
        compute_advantages(R, GROUPS, SPECS, AdvantageConfig("bogus"))


# Two groups of four whose per-group centred video advantages cancel exactly (integers in float64), so the
# routed video sum is exactly 0 while the audio route is not.
G4 = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
R4 = {
    "v": torch.tensor([1.0, 3.0, 1.0, 3.0, 0.0, 2.0, 2.0, 0.0], dtype=torch.float64),
    "a": torch.tensor([0.1, 0.2, 0.7, 0.3, 0.11, 0.9, 0.5, 0.33], dtype=torch.float64),
}
SPECS4 = [RewardSpec("v", "video", 1.0), RewardSpec("a", "audio", 1.0)]


def test_release_fallback_fires_when_a_route_sums_to_zero() -> None:
    g = G4.numpy()
    av = _ref_norm(R4["v"].numpy(), g)
    # The hand-made case: the video route sums to exactly 0, the audio route does not.
    assert float(group_normalise(R4["v"], G4)[0].sum()) == 0.0
    assert float(group_normalise(R4["a"], G4)[0].sum()) != 0.0
    summed = _ref_norm(R4["v"].numpy() + R4["a"].numpy(), g)
    release = compute_advantages(R4, G4, SPECS4, AdvantageConfig("routed", route_fallback="release"))
    np.testing.assert_allclose(release.per_modality["video"].numpy(), summed, rtol=1e-12)
    np.testing.assert_allclose(
        release.per_modality["audio"].numpy(), _ref_norm(R4["a"].numpy(), g), rtol=1e-12
    )
    assert release.stats["route_fallback/video"] == 1.0 and release.stats["route_fallback/audio"] == 0.0
    intended = compute_advantages(R4, G4, SPECS4, AdvantageConfig("routed"))
    np.testing.assert_allclose(intended.per_modality["video"].numpy(), av, rtol=1e-12)
    assert intended.stats["route_fallback/video"] == 0.0


def test_empty_route_counts_as_fallback_in_both_modes() -> None:
    for fb in ("empty", "release"):
        adv = compute_advantages(
            R4, G4, [RewardSpec("a", "audio")], AdvantageConfig("routed", route_fallback=fb)
        )
        assert adv.stats["route_fallback/video"] == 1.0
    with pytest.raises(ValueError, match="route_fallback"):
        compute_advantages(R4, G4, SPECS4, AdvantageConfig("routed", route_fallback="sometimes"))
