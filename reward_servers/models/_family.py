"""Official weights declared by the model families: each package under models/ exposes `WEIGHTS`.

A family package (``reward_servers/models/<family>/__init__.py``) lists the WeightSpecs of its official
checkpoint and of the companion files its loaders read (tokenizers, base-model configs), each with
``family=<package name>``. Loaders look their specs up here by name, scorers name their families in their
ScorerSpec, and ``omninft-serve fetch-weights`` downloads what a scorer's families declare.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from omninft.reward_servers.weights import WeightSpec

_PACKAGE = "omninft.reward_servers.models"


def family_weights(family: str) -> tuple[WeightSpec, ...]:
    """The WeightSpecs model family `family` declares (empty for a family without official weights).

    `family` is a package under reward_servers/models/, or a dotted module path (a family outside omninft).
    """
    module = importlib.import_module(family if "." in family else f"{_PACKAGE}.{family}")
    declared = tuple(getattr(module, "WEIGHTS", ()))
    for w in declared:
        if not isinstance(w, WeightSpec) or w.family != family:
            raise TypeError(f"{module.__name__}.WEIGHTS: {w!r} is not a WeightSpec with family={family!r}")
    return declared


def families() -> list[str]:
    """Names of the model family packages."""
    package = importlib.import_module(_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg)


@cache
def declared_weights() -> dict[str, WeightSpec]:
    """Every official WeightSpec by name, across families; one name declared twice raises."""
    out: dict[str, WeightSpec] = {}
    for family in families():
        for w in family_weights(family):
            if w.name in out:
                raise ValueError(f"weights {w.name!r} declared by families {out[w.name].family} and {family}")
            out[w.name] = w
    return out


def official_spec(name: str) -> WeightSpec:
    """The official WeightSpec called `name` (KeyError listing the declared ones)."""
    known = declared_weights()
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"no official weights named {name!r}; declared: {', '.join(sorted(known))}") from None
