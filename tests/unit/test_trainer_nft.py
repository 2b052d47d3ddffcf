"""DiffusionNFT loss: zero gradient at r = ½ and θ = old, sign follows the advantage, the local AWR identity."""

from __future__ import annotations

import pytest
import torch

from omninft.trainer.core.advantages import optimality
from omninft.trainer.core.nft import (
    NFTConfig,
    adaptive_scale,
    combine_modalities,
    implicit_policies,
    nft_terms,
    weighted_token_mean,
)


def _data(
    seed: int = 0, b: int = 3, n: int = 5, c: int = 4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(b, n, c, generator=g, dtype=torch.float64)
    old = x0 + 0.3 * torch.randn(b, n, c, generator=g, dtype=torch.float64)
    ref = old + 0.1 * torch.randn(b, n, c, generator=g, dtype=torch.float64)
    return x0, old, ref


def _grad_at_old(adv: torch.Tensor, cfg: NFTConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x0, old, ref = _data()
    theta = old.clone().requires_grad_(True)
    t = nft_terms(x0, theta, old, ref, optimality(adv, cfg.adv_clip), cfg)
    t.policy.sum().backward()
    assert theta.grad is not None
    return theta.grad, x0, old


def test_zero_gradient_at_half_and_old() -> None:
    grad, _, _ = _grad_at_old(torch.zeros(3, dtype=torch.float64), NFTConfig(beta=1.0))
    assert torch.count_nonzero(grad) == 0
    grad, _, _ = _grad_at_old(torch.zeros(3, dtype=torch.float64), NFTConfig(beta=0.1))
    assert float(grad.abs().max()) < 1e-12


@pytest.mark.parametrize("beta", [1.0, 0.1])
def test_local_awr_identity(beta: float) -> None:
    """∂L/∂x̂0_θ at θ = old equals 2·clip(A, ±5)·(x̂0_old − x0)/(w·M) per sample."""
    adv = torch.tensor([2.0, -7.0, 0.5], dtype=torch.float64)
    cfg = NFTConfig(beta=beta)
    grad, x0, old = _grad_at_old(adv, cfg)
    w = adaptive_scale(old, x0)
    m = x0[0].numel()
    expected = 2.0 * adv.clamp(-5, 5)[:, None, None] * (old - x0) / (w[:, None, None] * m)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_gradient_sign_follows_advantage() -> None:
    """A gradient step pulls toward x0 for A > 0 and pushes away for A < 0."""
    x0, old, ref = _data(1)
    for sign in (1.0, -1.0):
        theta = old.clone().requires_grad_(True)
        adv = torch.full((3,), 2.0 * sign, dtype=torch.float64)
        nft_terms(x0, theta, old, ref, optimality(adv), NFTConfig()).policy.sum().backward()
        assert theta.grad is not None
        # Descent direction −grad vs the direction to the data x0 − old.
        cos = (-(theta.grad) * (x0 - old)).flatten(1).sum(1)
        assert bool((torch.sign(cos) == sign).all())


def test_implicit_policies_sum_to_twice_old() -> None:
    x0, old, _ = _data(2)
    theta = old + 0.05
    pos, neg = implicit_policies(theta, old, 1.0)
    torch.testing.assert_close(pos + neg, 2 * old)
    assert torch.equal(pos, theta)


def test_weighted_mean_with_equal_weights_is_plain_mean() -> None:
    x0, old, ref = _data(3)
    theta = old + 0.1
    r = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    plain = nft_terms(x0, theta, old, ref, r, NFTConfig())
    weighted = nft_terms(x0, theta, old, ref, r, NFTConfig(), token_weights=torch.full((3, 5), 1.37))
    torch.testing.assert_close(plain.policy, weighted.policy)
    v = torch.randn(2, 6, dtype=torch.float64)
    torch.testing.assert_close(weighted_token_mean(v, torch.ones(2, 6)), v.mean(1))


def test_kl_and_masked_combination() -> None:
    x0, old, ref = _data(4)
    theta = old + 0.2
    cfg = NFTConfig(kl_coef=0.5)
    t = nft_terms(x0, theta, old, ref, torch.full((3,), 0.7, dtype=torch.float64), cfg)
    torch.testing.assert_close(t.kl, ((theta - ref) ** 2).flatten(1).mean(1))
    mask = torch.tensor([True, False, True])
    total, logs = combine_modalities(
        {"video": t, "audio": t}, {"video": mask, "audio": torch.ones(3, dtype=torch.bool)}, cfg
    )
    pol_v = (t.policy * mask).sum() / 3
    expected = (pol_v + cfg.kl_coef * t.kl.mean()) / 2 + (t.policy.mean() + cfg.kl_coef * t.kl.mean()) / 2
    torch.testing.assert_close(total, expected)
    assert logs["loss_policy/video"] == pytest.approx(float(pol_v))


def test_optimality_transform() -> None:
    a = torch.tensor([-10.0, -5.0, 0.0, 2.5, 5.0, 9.0])
    torch.testing.assert_close(optimality(a), torch.tensor([0.0, 0.0, 0.5, 0.75, 1.0, 1.0]))


def test_modality_weights_use_the_release_normalisation() -> None:
    x0, old, ref = _data(4)
    cfg = NFTConfig(kl_coef=0.5)
    tv = nft_terms(x0, old + 0.2, old, ref, torch.full((3,), 0.7, dtype=torch.float64), cfg)
    ta = nft_terms(x0, old - 0.1, old, ref, torch.full((3,), 0.2, dtype=torch.float64), cfg)
    total, _ = combine_modalities({"video": tv, "audio": ta}, None, cfg, {"video": 2.0, "audio": 0.5})
    lv = tv.policy.mean() + 0.5 * tv.kl.mean()
    la = ta.policy.mean() + 0.5 * ta.kl.mean()
    torch.testing.assert_close(total, (2.0 * lv + 0.5 * la) / 2.5)
    # Unit weights: the plain mean of the two modalities, as before.
    unit, _ = combine_modalities({"video": tv, "audio": ta}, None, cfg)
    torch.testing.assert_close(unit, (lv + la) / 2)
