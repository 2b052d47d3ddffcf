"""The reference's set-level arithmetic (float32 FD, KVD on per-set centred features) and its variants."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.bench.metrics import (
    SET_PROTOCOLS,
    FeatureStats,
    frechet_distance,
    frechet_distance_float32,
    kvd_reference,
    polynomial_mmd,
    polynomial_mmd_float32,
    set_math,
)
from omninft.bench.runner import _set_metric
from omninft.bench.suites.javisbench.metrics import SET_ROUTES

FAKE = np.array([[1.0, 0.0], [3.0, 0.0]], np.float32)
REAL = np.array([[0.0, 1.0], [0.0, 3.0]], np.float32)


def test_centred_kvd_hand_computed():
    # centred: fake -> ±(1, 0), real -> ±(0, 1); k = (x·y / 2 + 1)^3
    # K_ff off-diagonal (-1/2 + 1)^3 = 1/8, K_rr the same, K_fr = 1 everywhere: 1/8 + 1/8 - 2 = -1.75
    assert kvd_reference(FAKE, REAL) == pytest.approx(-1.75, abs=1e-7)
    # raw: K_ff off-diagonal (3/2 + 1)^3 = 15.625, K_rr the same, K_fr = 1: 31.25 - 2 = 29.25
    assert polynomial_mmd(FAKE, REAL) == pytest.approx(29.25, abs=1e-9)
    assert polynomial_mmd_float32(FAKE, REAL) == pytest.approx(29.25, abs=1e-5)
    np.testing.assert_array_equal(FAKE, [[1.0, 0.0], [3.0, 0.0]])  # the caller's features are not centred


def test_centred_kvd_ignores_a_common_shift_raw_kvd_does_not():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 8)).astype(np.float32)
    b = rng.standard_normal((5, 8)).astype(np.float32)
    assert kvd_reference(a + 3.0, b - 2.0) == pytest.approx(kvd_reference(a, b), rel=1e-4)
    assert polynomial_mmd(a + 3.0, b - 2.0) != pytest.approx(polynomial_mmd(a, b), rel=1e-2)


def test_float32_fd_hand_computed_diagonal_case():
    # fake: columns ±1 and ±2 about mean (1, 0); real: ±3, ±1 about (0, 0); n = 2, so var = 2·x² / 1
    fake = np.array([[2.0, 2.0], [0.0, -2.0]], np.float32)
    real = np.array([[3.0, 1.0], [-3.0, -1.0]], np.float32)
    # Σf = diag(2, 8), Σr = diag(18, 2); Tr sqrt(Σf Σr) = 6 + 4; ‖Δμ‖² = 1
    want = 1.0 + (2 + 8) + (18 + 2) - 2.0 * (6 + 4)
    assert frechet_distance_float32(fake, real) == pytest.approx(want, abs=1e-4)
    assert frechet_distance(FeatureStats.of(fake), FeatureStats.of(real)) == pytest.approx(want, abs=1e-9)


def test_float32_and_float64_fd_differ_at_float32_resolution_on_a_small_set():
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((8, 400)) * 0.5 + 5.0).astype(np.float32)
    b = (rng.standard_normal((8, 400)) * 0.6 + 4.0).astype(np.float32)
    f32 = frechet_distance_float32(a, b)
    f64 = frechet_distance(FeatureStats.of(a), FeatureStats.of(b))
    assert f32 != f64 and abs(f32 - f64) / f64 < 1e-3
    with pytest.raises(ValueError):
        frechet_distance_float32(a[:1], b)


def test_protocols_select_the_arithmetic():
    assert set(SET_PROTOCOLS) == {
        "javisbench-v1",
        "javisbench-v1-fd64",
        "javisbench-v1-rawkvd",
        "javisbench-v1-corrected",
    }
    fvd, kvd = SET_ROUTES["fvd"], SET_ROUTES["kvd"]
    assert _set_metric(kvd, FAKE, REAL) == pytest.approx(-1.75, abs=1e-7)  # default: the reference
    assert _set_metric(kvd, FAKE, REAL, "javisbench-v1-fd64") == pytest.approx(-1.75, abs=1e-7)
    assert _set_metric(kvd, FAKE, REAL, "javisbench-v1-rawkvd") == pytest.approx(29.25)
    assert _set_metric(kvd, FAKE, REAL, "javisbench-v1-corrected") == pytest.approx(29.25)
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((8, 16)), rng.standard_normal((8, 16))
    assert _set_metric(fvd, a, b) == frechet_distance_float32(a, b)
    assert _set_metric(fvd, a, b, "javisbench-v1-corrected") == frechet_distance(
        FeatureStats.of(a), FeatureStats.of(b)
    )
    with pytest.raises(ValueError, match="unknown JavisBench protocol"):
        set_math("javisbench-v2")
