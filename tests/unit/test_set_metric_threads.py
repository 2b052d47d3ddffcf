"""Set metrics run with one BLAS thread (fast on a busy machine); the numbers must not depend on it (issue 17)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from omninft.bench.metrics import FeatureStats, frechet_distance, polynomial_mmd
from omninft.bench.results import MIN_SET_SAMPLES, set_metric_na_reason


def test_frechet_and_mmd_are_bit_identical_whatever_the_thread_count() -> None:
    rng = np.random.default_rng(0)
    fake, real = rng.standard_normal((3, 256)), rng.standard_normal((5, 256))
    with threadpool_limits(1):
        one = (frechet_distance(FeatureStats.of(fake), FeatureStats.of(real)), polynomial_mmd(fake, real))
    with threadpool_limits(2):
        two = (frechet_distance(FeatureStats.of(fake), FeatureStats.of(real)), polynomial_mmd(fake, real))
    assert one == two


def test_na_reason_states_the_minimum() -> None:
    assert MIN_SET_SAMPLES == 2
    assert set_metric_na_reason(1) == "n/a: 1 sample(s), a set metric needs at least 2"
