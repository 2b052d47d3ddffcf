"""Old-policy η schedules, training-σ subsets and the config loader."""

from __future__ import annotations

import pytest
import torch

from omninft.trainer.config import ConfigError, load_config, to_dict
from omninft.trainer.core.ema import EvalEMA, OldPolicyConfig, ema_decay, old_policy_eta
from omninft.trainer.core.sigmas import linear_grid, n_train_sigmas, training_sigmas
from omninft.trainer.policies.toy import ToyAdapter, ToyModelConfig

LTX2_20 = torch.tensor(
    [
        1.0,
        0.991,
        0.982,
        0.972,
        0.960,
        0.948,
        0.934,
        0.918,
        0.900,
        0.879,
        0.855,
        0.828,
        0.795,
        0.755,
        0.707,
        0.647,
        0.569,
        0.465,
        0.319,
        0.100,
        0.0,
    ],
    dtype=torch.float64,
)


def test_eta_schedules() -> None:
    assert old_policy_eta(0) == 0.0
    assert old_policy_eta(100) == pytest.approx(0.1)
    assert old_policy_eta(10_000) == 0.5
    assert old_policy_eta(50, OldPolicyConfig(decay_type=0)) == 0.0
    assert old_policy_eta(74, OldPolicyConfig(decay_type=2)) == 0.0
    assert old_policy_eta(175, OldPolicyConfig(decay_type=2)) == pytest.approx(0.75)
    assert old_policy_eta(10_000, OldPolicyConfig(decay_type=2)) == 0.999
    assert ema_decay(0) == pytest.approx(0.1) and ema_decay(1000) == 0.9
    p = [torch.ones(2)]
    ema = EvalEMA(p)
    ema.update([torch.zeros(2)], step=0)
    torch.testing.assert_close(ema.shadow[0], torch.full((2,), 0.1))


def test_old_equals_train_at_start_and_soft_update() -> None:
    adapter = ToyAdapter(ToyModelConfig(blocks=1, video_dim=16, audio_dim=8, cond_dim=16))
    for a, b in zip(adapter.old_model.parameters(), adapter.train_model.parameters(), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        for p in adapter.train_model.parameters():
            p.add_(1.0)
    old0 = [p.clone() for p in adapter.old_model.parameters()]
    adapter.soft_update(0.25)
    for o, o0, t in zip(adapter.old_model.parameters(), old0, adapter.train_model.parameters(), strict=True):
        torch.testing.assert_close(o, 0.25 * o0 + 0.75 * t)


def test_first_frac_is_the_noisiest_levels() -> None:
    g = torch.Generator().manual_seed(0)
    s = training_sigmas(LTX2_20[:-1], 2, "first_frac", 0.4, g)
    assert s.shape == (8, 2)
    assert sorted(s[:, 0].tolist(), reverse=True) == LTX2_20[:8].tolist()
    assert torch.equal(s[:, 0], s[:, 1])


def test_random_frac_per_sample() -> None:
    g = torch.Generator().manual_seed(0)
    grid = linear_grid(10)[:-1]
    s = training_sigmas(grid, 4, "random_frac", 0.99, g)
    assert s.shape == (n_train_sigmas(10, 0.99), 4) == (9, 4)
    for j in range(4):
        assert len(set(s[:, j].tolist())) == 9
    assert not torch.equal(s[:, 0], s[:, 1])
    with pytest.raises(ValueError):
        training_sigmas(grid, 1, "bogus", 0.5, g)


def test_config_overrides_and_errors() -> None:
    cfg = load_config(
        {"advantage": {"mode": "gdpo"}},
        ["train.lr=1e-5", "surgery.per_block=[0, 1]", "epochs=3", "reward.async=false"],
    )
    assert cfg.advantage.mode == "gdpo" and cfg.train.lr == 1e-5 and cfg.surgery.per_block == [0.0, 1.0]
    assert cfg.epochs == 3 and cfg.reward.async_ is False
    assert to_dict(cfg)["reward"]["async"] is False
    assert [r.name for r in cfg.rewards] == ["toy_video", "toy_audio", "toy_sync"]
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config({"train": {"lrr": 1}})
    with pytest.raises(ConfigError, match="server"):
        load_config({"rewards": [{"name": "x", "server": "nowhere"}]})
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(None, ["train.lr=fast"])


def test_release_settings_are_named_config_values() -> None:
    cfg = load_config({"advantage": {"route_fallback": "release"}, "regions": {"rope": True}})
    assert cfg.advantage.route_fallback == "release" and cfg.regions.rope is True
    assert load_config().advantage.route_fallback == "empty" and load_config().regions.rope is False
    with pytest.raises(ConfigError, match="route_fallback"):
        load_config({"advantage": {"route_fallback": "sum"}})


def test_cfg_rollouts_of_a_text_policy_need_a_negative_prompt() -> None:
    ltx = {"policy": {"kind": "ltx2"}, "sampler": {"video_cfg": 1.5, "audio_cfg": 3.0}}
    with pytest.raises(ConfigError, match="negative_prompt"):
        load_config(ltx)
    explicit_empty = load_config({**ltx, "sampler": {**ltx["sampler"], "negative_prompt": ""}})
    assert explicit_empty.sampler.negative_prompt == ""
    # Without CFG the negative prompt is never used, and the toy policy has no text.
    assert load_config({"policy": {"kind": "ltx2"}}).sampler.negative_prompt is None
    assert load_config({"sampler": {"video_cfg": 2.0}}).policy.kind == "toy"


def test_released_ltx2_config_sets_the_ltx2_negative_prompt() -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "omninft_ltx2.yaml"
    cfg = load_config(yaml.safe_load(path.read_text()))
    assert cfg.sampler.negative_prompt and cfg.sampler.negative_prompt.startswith("blurry, out of focus")
    assert cfg.advantage.route_fallback == "empty" and cfg.regions.rope is False
