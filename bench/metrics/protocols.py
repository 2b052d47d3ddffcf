"""Set-level (FVD / KVD / FAD) arithmetic per JavisBench protocol name.

- "javisbench-v1" (default) reproduces the reference: Fréchet distance in float32 torch with SVD square roots,
  KVD on per-set mean-centred features (the side effect of the reference's in-place covariance) in float32.
- "javisbench-v1-fd64": Fréchet distance in float64 (the same formula), KVD as the reference.
- "javisbench-v1-rawkvd": KVD on the raw features (float64), Fréchet distance as the reference.
- "javisbench-v1-corrected": both corrections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omninft.bench.metrics.frechet import FeatureStats, frechet_distance, frechet_distance_float32
from omninft.bench.metrics.mmd import kvd_reference, polynomial_mmd


@dataclass(frozen=True)
class SetMath:
    """How a protocol computes the two set-level distances."""

    fd_float64: bool
    kvd_raw: bool

    def frechet(self, fake: np.ndarray, real: np.ndarray) -> float:
        """Fréchet distance of two [N, d] feature sets."""
        if self.fd_float64:
            return frechet_distance(FeatureStats.of(fake), FeatureStats.of(real))
        return frechet_distance_float32(fake, real)

    def kvd(self, fake: np.ndarray, real: np.ndarray) -> float:
        """Polynomial-kernel MMD² of two [N, d] feature sets."""
        if self.kvd_raw:
            return polynomial_mmd(fake, real)
        return kvd_reference(fake, real)


SET_PROTOCOLS: dict[str, SetMath] = {
    "javisbench-v1": SetMath(fd_float64=False, kvd_raw=False),
    "javisbench-v1-fd64": SetMath(fd_float64=True, kvd_raw=False),
    "javisbench-v1-rawkvd": SetMath(fd_float64=False, kvd_raw=True),
    "javisbench-v1-corrected": SetMath(fd_float64=True, kvd_raw=True),
}


def set_math(protocol: str) -> SetMath:
    """The SetMath of a protocol name (ValueError naming the choices when unknown)."""
    try:
        return SET_PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(
            f"unknown JavisBench protocol {protocol!r}; choose one of {', '.join(SET_PROTOCOLS)}"
        ) from None
