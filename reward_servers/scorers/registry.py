"""Scorer registry: the ScorerSpecs declared in scorer modules, found by scanning, built on first use.

Every module under ``omninft.reward_servers.scorers`` (subpackages included) that defines a module-level
``SCORERS`` tuple of :class:`ScorerSpec` registers those scorers; so do modules named by the
``omninft.scorers`` entry-point group (third-party packages) and ``register()`` calls (server plugins given as
"module:function" targets, which have no spec). Scorer modules are cheap to import: transformers and model
weights load only when ``build`` runs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import pkgutil
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING

from omninft.reward_servers.models._family import family_weights
from omninft.reward_servers.scorers._shared import recording, sharing
from omninft.reward_servers.scorers.base import Scorer, ScorerConfig
from omninft.reward_servers.scorers.spec import ScorerSpec

if TYPE_CHECKING:
    from omninft.reward_servers.weights import WeightSpec

__all__ = [
    "DuplicateScorerError",
    "UnknownScorerError",
    "available",
    "build",
    "builder",
    "official_weights",
    "recording",
    "register",
    "register_spec",
    "sharing",
    "spec",
    "specs",
    "suite_scorers",
    "suites",
    "target",
    "unknown_scorer_message",
]

logger = logging.getLogger(__name__)

_PACKAGE = "omninft.reward_servers.scorers"
ENTRY_POINT_GROUP = "omninft.scorers"

_lock = threading.RLock()
_SPECS: dict[str, ScorerSpec] = {}
_ORIGIN: dict[str, str] = {}  # name -> module that declared it (for duplicate messages)
_PLUGINS: dict[str, str] = {}  # name -> "module:function" (no spec)
# Built-in names a server config's `plugins` replaces on purpose (test stand-ins, local experiments).
_OVERRIDES: dict[str, str] = {}
_discovered = False


class UnknownScorerError(KeyError):
    """Raised for a scorer name that is not registered; the message lists the close matches."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown scorer"


class DuplicateScorerError(ValueError):
    """Two declarations claim the same scorer name."""


def _scorer_modules() -> Iterable[str]:
    """Names of every module in the scorers package, subpackages included."""
    package = importlib.import_module(_PACKAGE)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{_PACKAGE}."):
        yield info.name


def _entry_point_modules() -> Iterable[str]:
    """Modules named by the omninft.scorers entry-point group (value "package.module")."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        yield ep.value.split(":")[0]


def _collect(module: ModuleType) -> None:
    for s in getattr(module, "SCORERS", ()):
        if not isinstance(s, ScorerSpec):
            raise TypeError(f"{module.__name__}.SCORERS holds {type(s).__name__}, not ScorerSpec")
        _add(s, module.__name__)


def _add(s: ScorerSpec, origin: str) -> None:
    previous = _SPECS.get(s.name)
    if previous is s:
        return
    if previous is not None or s.name in _PLUGINS:
        where = _ORIGIN.get(s.name) or _PLUGINS.get(s.name, "?")
        raise DuplicateScorerError(f"scorer {s.name!r} is registered twice: by {where} and by {origin}")
    _SPECS[s.name] = s
    _ORIGIN[s.name] = origin


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        for name in (*_scorer_modules(), *_entry_point_modules()):
            _collect(importlib.import_module(name))
        _discovered = True


def specs() -> dict[str, ScorerSpec]:
    """Every declared ScorerSpec by name (plugins registered as bare targets have none)."""
    _discover()
    return dict(_SPECS)


def available() -> list[str]:
    """Names of every registered scorer, sorted."""
    _discover()
    return sorted({*_SPECS, *_PLUGINS})


def unknown_scorer_message(name: str) -> str:
    """A 'did you mean' message for an unregistered scorer name."""
    names = available()
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"unknown scorer {name!r}.{hint} Available: {', '.join(names)}"


def spec(name: str) -> ScorerSpec:
    """The ScorerSpec of `name` (UnknownScorerError with close matches; KeyError for a spec-less plugin)."""
    _discover()
    if name in _SPECS:
        return _SPECS[name]
    if name in _PLUGINS:
        raise KeyError(f"scorer {name!r} is a plugin target ({_PLUGINS[name]}) without a ScorerSpec")
    raise UnknownScorerError(unknown_scorer_message(name))


def target(name: str) -> str:
    """The "module:function" that builds `name`."""
    _discover()
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    if name in _PLUGINS:
        return _PLUGINS[name]
    s = spec(name)
    return f"{s.build.__module__}:{s.build.__name__}"


def builder(name: str) -> Callable[[str, ScorerConfig], Scorer]:
    """The build function for `name`: build(name, cfg) -> Scorer."""
    _discover()
    if name in _SPECS and name not in _OVERRIDES:
        return _SPECS[name].build
    if name not in _PLUGINS and name not in _OVERRIDES:
        raise UnknownScorerError(unknown_scorer_message(name))
    module_name, attr = _OVERRIDES.get(name, _PLUGINS.get(name, "")).split(":")
    fn: Callable[[str, ScorerConfig], Scorer] = getattr(importlib.import_module(module_name), attr)
    return fn


def build(name: str, cfg: ScorerConfig) -> Scorer:
    """Build and load scorer `name` with `cfg` (options checked, weights resolved, backend created)."""
    _discover()
    if name in _SPECS and name not in _OVERRIDES:
        _SPECS[name].parse_options(cfg.options)
    return builder(name)(name, cfg)


def register(name: str, target: str, *, override: bool = False) -> None:
    """Register a spec-less scorer as "module:function" (server plugins); a name taken by another raises.

    ``override=True`` lets an explicit server-config plugin replace a built-in scorer of the same name (its spec's
    options are then not applied); the server logs it.
    """
    _discover()
    with _lock:
        if override and name in _SPECS:
            _OVERRIDES[name] = target
            return
        if name in _SPECS or _PLUGINS.get(name, target) != target:
            where = _ORIGIN.get(name) or _PLUGINS[name]
            raise DuplicateScorerError(f"scorer {name!r} is registered twice: by {where} and by {target}")
        _PLUGINS[name] = target


def register_spec(s: ScorerSpec, origin: str = "register_spec()") -> None:
    """Register a spec declared outside the scanned packages (tests, notebooks); a taken name raises."""
    _discover()
    with _lock:
        _add(s, origin)


def unregister(name: str) -> None:
    """Forget a scorer registered with register() or register_spec() (tests)."""
    with _lock:
        _PLUGINS.pop(name, None)
        _OVERRIDES.pop(name, None)
        if _ORIGIN.get(name, "").startswith(_PACKAGE):
            raise ValueError(f"scorer {name!r} is declared in {_ORIGIN[name]}; it cannot be unregistered")
        _SPECS.pop(name, None)
        _ORIGIN.pop(name, None)


def official_weights(name: str) -> list[WeightSpec]:
    """The official WeightSpecs scorer `name` loads: those its families declare (all, or the ones it names)."""
    s = spec(name)
    out: list[WeightSpec] = []
    for family in s.families:
        declared = family_weights(family)
        chosen = [w for w in declared if not s.weights or w.name in s.weights]
        out += [w for w in chosen if w not in out]
    missing = [w for w in s.weights if w not in {x.name for x in out}]
    if missing:
        raise KeyError(
            f"scorer {name!r} names weights {missing} that none of its families {s.families} declares"
        )
    return out


def suites() -> list[str]:
    """The benchmark suites the declared scorers serve (from their bench metrics), sorted."""
    return sorted({m.suite for s in specs().values() for m in s.bench})


def suite_scorers(suite: str) -> list[str]:
    """The scorers benchmark `suite` uses: those with a bench metric of the suite, and its helpers named
    `<suite>_*` (VBench's static filter), sorted; KeyError for an unknown suite."""
    known = suites()
    if suite not in known:
        raise KeyError(f"unknown benchmark suite {suite!r}; known: {', '.join(known)}")
    return sorted(
        n for n, s in specs().items() if any(m.suite == suite for m in s.bench) or n.startswith(f"{suite}_")
    )
