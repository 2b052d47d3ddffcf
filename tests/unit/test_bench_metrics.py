"""Set-level metric math against independent references (scipy sqrtm, direct numpy MMD)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from omninft.bench.metrics import FeatureStats, frechet_distance, polynomial_mmd, trace_sqrt_product


def _scipy_fd(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook FD with scipy's general matrix square root."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def _direct_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k = (x·y/d + 1)^3, written out with full kernel matrices."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


@pytest.mark.parametrize(("n", "d"), [(200, 16), (64, 40)])
def test_frechet_matches_scipy_sqrtm(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3
    y = rng.standard_normal((n + 7, d)) * 1.3 + 0.5
    got = frechet_distance(FeatureStats.of(x), FeatureStats.of(y))
    assert got == pytest.approx(_scipy_fd(x, y), rel=1e-6, abs=1e-8)


def test_frechet_rank_deficient_sets_match_scipy() -> None:
    # Fewer samples than dims (JavisBench-mini categories): singular covariances, tiny singular values left unrooted.
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((12, 30)), rng.standard_normal((15, 30)) + 0.2
    assert frechet_distance(FeatureStats.of(x), FeatureStats.of(y)) == pytest.approx(
        _scipy_fd(x, y), rel=1e-5
    )


def test_frechet_of_a_set_with_itself_is_zero_and_symmetric() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((50, 8)), rng.standard_normal((60, 8)) * 2
    assert frechet_distance(FeatureStats.of(x), FeatureStats.of(x)) == pytest.approx(0.0, abs=1e-8)
    a = frechet_distance(FeatureStats.of(x), FeatureStats.of(y))
    b = frechet_distance(FeatureStats.of(y), FeatureStats.of(x))
    assert a == pytest.approx(b, rel=1e-9)


def test_streaming_statistics_equal_batch_statistics() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((101, 5)) + 3.0
    stream = FeatureStats(5)
    for chunk in np.array_split(x, 7):
        stream.update(chunk)
    halves = FeatureStats.of(x[:40]).merge(FeatureStats.of(x[40:]))
    for s in (stream, halves):
        assert s.n == 101
        np.testing.assert_allclose(s.mean, x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(s.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)


def test_trace_sqrt_product_of_commuting_diagonals() -> None:
    a, b = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 0.0])
    assert trace_sqrt_product(a, b) == pytest.approx(2.0 + 2.0 + 0.0)


def test_statistics_guard_rails() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        _ = FeatureStats.of(np.ones((1, 3))).cov
    with pytest.raises(ValueError, match="dimension"):
        FeatureStats(3).update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="differ"):
        frechet_distance(FeatureStats.of(np.eye(3)), FeatureStats.of(np.eye(4)))


def test_polynomial_mmd_matches_direct_numpy_and_sklearn_defaults() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((70, 12)), rng.standard_normal((55, 12)) + 0.3
    assert polynomial_mmd(x, y) == pytest.approx(_direct_mmd(x, y), rel=1e-10)
    # gamma=1/d, coef0=1, degree=3 are the defaults; explicit values give the same number.
    assert polynomial_mmd(x, y, gamma=1 / 12, coef0=1.0, degree=3) == pytest.approx(polynomial_mmd(x, y))


def test_polynomial_mmd_blocks_do_not_change_the_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    import omninft.bench.metrics.mmd as mmd

    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((33, 6)), rng.standard_normal((29, 6))
    whole = polynomial_mmd(x, y)
    monkeypatch.setattr(mmd, "_BLOCK", 4)
    assert polynomial_mmd(x, y) == pytest.approx(whole, rel=1e-12)


def test_mmd_is_near_zero_for_same_distribution_and_needs_two_rows() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((400, 4)), rng.standard_normal((400, 4))
    assert abs(polynomial_mmd(x, y)) < 0.05
    assert polynomial_mmd(x, y + 2.0) > 1.0
    with pytest.raises(ValueError, match="at least 2"):
        polynomial_mmd(x[:1], y)
