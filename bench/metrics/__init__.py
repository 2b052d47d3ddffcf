"""Set-level metrics: Fréchet distance (float32 as the reference, or float64) and unbiased polynomial MMD²."""

from omninft.bench.metrics.frechet import (
    FeatureStats,
    frechet_distance,
    frechet_distance_float32,
    trace_sqrt_product,
)
from omninft.bench.metrics.mmd import kvd_reference, polynomial_mmd, polynomial_mmd_float32
from omninft.bench.metrics.protocols import SET_PROTOCOLS, SetMath, set_math

__all__ = [
    "SET_PROTOCOLS",
    "FeatureStats",
    "SetMath",
    "frechet_distance",
    "frechet_distance_float32",
    "kvd_reference",
    "polynomial_mmd",
    "polynomial_mmd_float32",
    "set_math",
    "trace_sqrt_product",
]
