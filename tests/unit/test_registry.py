"""The scorer registry: discovery from ScorerSpecs, duplicates, did-you-mean, lazy heavy imports, typed options."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.spec import (
    BenchMetric,
    InvalidOptions,
    ModelOptions,
    ScorerSpec,
    options_schema,
    parse_options,
)

ROOT = Path(__file__).resolve().parents[2]


def _build(name: str, cfg: ScorerConfig) -> None:
    raise AssertionError("not built in these tests")


def test_every_scorer_module_declares_its_specs() -> None:
    specs = registry.specs()
    # Plugins other tests registered in this process have no spec; every declared scorer is available.
    assert set(specs) <= set(registry.available()) and len(specs) >= 22
    for name, s in specs.items():
        assert s.name == name
        assert registry.target(name) == f"{s.build.__module__}:{s.build.__name__}"
        assert s.build.__module__.startswith("omninft.reward_servers.scorers.")


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(registry.UnknownScorerError, match=r"unknown scorer 'clapp'\. Did you mean: clap"):
        registry.spec("clapp")
    with pytest.raises(KeyError, match="Did you mean: imagebind"):
        registry.build("imagebnd", ScorerConfig())


def test_registering_a_name_twice_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_PLUGINS", dict(registry._PLUGINS))
    with pytest.raises(registry.DuplicateScorerError, match="'clap' is registered twice"):
        registry.register("clap", "somewhere:build")
    with pytest.raises(registry.DuplicateScorerError, match="'clap' is registered twice"):
        registry.register_spec(
            ScorerSpec(name="clap", build=_build, version="1", outputs=("x",), modalities=())
        )
    registry.register("my_plugin", "pkg.mod:build")
    registry.register("my_plugin", "pkg.mod:build")  # the same target again (a second server in one process)
    with pytest.raises(registry.DuplicateScorerError):
        registry.register("my_plugin", "other.mod:build")
    assert registry.target("my_plugin") == "pkg.mod:build"


def test_register_spec_and_unregister(monkeypatch: pytest.MonkeyPatch) -> None:
    s = ScorerSpec(name="throwaway_x", build=_build, version="1", outputs=("x",), modalities=("video",))
    registry.register_spec(s)
    try:
        assert registry.spec("throwaway_x") is s and "throwaway_x" in registry.available()
    finally:
        registry.unregister("throwaway_x")
    assert "throwaway_x" not in registry.available()
    with pytest.raises(ValueError, match="cannot be unregistered"):
        registry.unregister("clap")


def test_listing_scorers_imports_no_heavy_model_library() -> None:
    code = (
        "import sys, json\n"
        "from omninft.reward_servers.scorers import registry\n"
        "names = registry.available(); [registry.official_weights(n) for n in names]\n"
        "print(json.dumps([len(names), [m for m in ('transformers', 'onnxruntime', 'tensorrt', 'cv2') "
        "if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    n, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert n >= 22 and heavy == []


def test_protocol_resolution_names_the_choices() -> None:
    s = registry.spec("clip")
    assert s.protocol(ScorerConfig()) == "javisbench-v1"
    assert s.protocol(ScorerConfig(protocol="javisbench-v1-rgb")) == "javisbench-v1-rgb"
    with pytest.raises(ValueError, match="unknown protocol 'vbench' for clip; choose one of javisbench-v1, "):
        s.protocol(ScorerConfig(protocol="vbench"))


@dataclass(frozen=True)
class _Opts(ModelOptions):
    """Every supported option type."""

    n: int = 3
    x: float = 1.5
    name: str = "a"
    flag: bool = False
    limit: float | None = 4.0
    sizes: tuple[int, ...] = (1, 2)


def test_options_are_typed_with_none_words_and_did_you_mean() -> None:
    o = parse_options(
        _Opts, {"n": 4, "x": 2, "limit": "none", "sizes": [3], "flag": "true"}, "scorers.s.options"
    )
    assert o == _Opts(n=4, x=2.0, limit=None, sizes=(3,), flag=True)
    assert parse_options(_Opts, {"limit": "null"}, "k").limit is None
    assert parse_options(_Opts, {"limit": None}, "k").limit is None
    assert parse_options(_Opts, {"ort_tensorrt_ep": True}, "k").ort_tensorrt_ep is True
    with pytest.raises(InvalidOptions, match=r"^scorers\.s\.options\.nn: unknown option; did you mean n\?$"):
        parse_options(_Opts, {"nn": 1}, "scorers.s.options")
    with pytest.raises(InvalidOptions, match=r"k\.n: expected int, got str 'many'"):
        parse_options(_Opts, {"n": "many"}, "k")
    with pytest.raises(InvalidOptions, match=r"k\.flag: expected bool"):
        parse_options(_Opts, {"flag": 1}, "k")
    with pytest.raises(InvalidOptions, match=r"k\.limit: 'soon' does not match"):
        parse_options(_Opts, {"limit": "soon"}, "k")


def test_every_registered_scorer_accepts_its_default_options() -> None:
    for name, s in registry.specs().items():
        defaults = {f.name: getattr(s.options(), f.name) for f in dataclasses.fields(s.options)}
        assert s.parse_options(defaults) == s.options(), name
        schema = options_schema(s.options)
        assert set(schema["properties"]) == set(defaults) and schema["additionalProperties"] is False


def test_bench_metric_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="exactly one of output or embedding"):
        BenchMetric("javisbench", "x")
    with pytest.raises(ValueError, match="kind"):
        BenchMetric("javisbench", "x", embedding="e", kind="cosine")


def test_generated_bench_routes_are_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, "scripts/gen_bench_routes.py", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, f"{out.stdout}{out.stderr[-2000:]}\nrun: python scripts/gen_bench_routes.py"
