"""`--backend auto`: each scorer of the embedded JavisBench server gets its measured faster backend (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from omninft.bench import runner
from omninft.bench.suites.javisbench import backends


def _spec(backend: str, weights: str, config: dict | None = None, device: str = "cpu") -> dict:
    spec = runner.embedded_spec(
        ("clap", "clip", "i3d"),
        weights=weights,
        backend=backend,
        device=device,
        batch_size=4,
        allowed_roots=(Path("."),),
        embedded_config=config or {},
    )
    from omninft.bench.embedded import EmbeddedServer

    return EmbeddedServer(spec)._config()["scorers"]


def test_auto_picks_the_table_backend_for_full_size_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "EMBEDDED_BACKENDS", {"clip": "onnxruntime"})
    got = _spec("auto", "official")
    assert {n: c["backend"] for n, c in got.items()} == {
        "clap": "torch",
        "clip": "onnxruntime",
        "i3d": "torch",
    }
    # a backend named in the embedded config wins; other keys of that scorer stay
    got = _spec("auto", "official", {"scorers": {"clip": {"backend": "torch", "seed": 3}}})
    assert got["clip"]["backend"] == "torch" and got["clip"]["seed"] == 3


def test_auto_runs_torch_for_tiny_weights_and_off_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "EMBEDDED_BACKENDS", {"clip": "onnxruntime"})
    assert {c["backend"] for c in _spec("auto", "tiny").values()} == {"torch"}
    assert {c["backend"] for c in _spec("auto", "official", device="cuda:0").values()} == {"torch"}


def test_an_explicit_backend_applies_to_every_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "EMBEDDED_BACKENDS", {"clip": "onnxruntime"})
    assert {c["backend"] for c in _spec("torch", "official").values()} == {"torch"}
    assert {c["backend"] for c in _spec("onnxruntime", "random").values()} == {"onnxruntime"}


def test_a_scorer_given_tiny_weights_in_the_embedded_config_runs_torch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "EMBEDDED_BACKENDS", {"clip": "onnxruntime", "clap": "onnxruntime"})
    got = _spec("auto", "official", {"scorers": {"clip": {"weights": "tiny"}}})
    assert got["clip"]["backend"] == "torch" and got["clap"]["backend"] == "onnxruntime"


def test_the_measured_table_names_known_backends() -> None:
    assert set(backends.EMBEDDED_BACKENDS.values()) <= {"torch", "onnxruntime"}
    assert backends.embedded_backend("clip", "official") == backends.EMBEDDED_BACKENDS.get("clip", "torch")
