"""Set-level metrics (pure numpy): Fréchet distance from streaming statistics and unbiased polynomial MMD²."""

from omninft.bench.metrics.frechet import FeatureStats, frechet_distance, trace_sqrt_product
from omninft.bench.metrics.mmd import polynomial_mmd

__all__ = ["FeatureStats", "frechet_distance", "polynomial_mmd", "trace_sqrt_product"]
