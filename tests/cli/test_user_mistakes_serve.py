"""omninft-serve: user mistakes are caught before any port is bound, in one line, without a traceback (issue 17)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from omninft.reward_servers.cli import serve_main, tiny_banner


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(serve_main, args)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("name", "suggestion"), [("clpa", "clap"), ("CLAP", "clap")])
def test_unknown_scorer_is_a_usage_error_before_binding(name: str, suggestion: str) -> None:
    port = _free_port()
    code, out = _invoke(["--scorer", name, "--port", str(port)])
    assert code == 2
    assert f"unknown scorer {name!r}" in out and suggestion in out
    with socket.socket() as s:  # nothing was bound
        s.bind(("127.0.0.1", port))


def test_misspelt_weights_is_a_usage_error() -> None:
    code, out = _invoke(["--scorer", "clap", "--weights", "tinyy", "--port", "0"])
    assert code == 2
    assert "--weights 'tinyy'" in out and "Did you mean 'tiny'" in out


def test_official_weights_not_fetched_is_named_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNINFT_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out = _invoke(["--scorer", "clip", "--weights", "official", "--port", "0"])
    assert code == 1
    assert "not fetched yet" in out and "omninft-serve fetch-weights --scorer clip" in out


def test_metrics_port_in_use_names_the_port(tmp_path: Path) -> None:
    cfg = tmp_path / "server.yaml"
    cfg.write_text("plugins: {brightness: tests.helpers.scorers:build}\nscorers: {brightness: {}}\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = _invoke(["--config", str(cfg), "--port", "0", "--metrics-port", str(port)])
    assert code == 1
    assert f"metrics port 127.0.0.1:{port}" in out and "--metrics-port" in out


def test_tiny_banner_lists_every_scorer() -> None:
    names = [f"scorer_with_a_long_name_{i}" for i in range(8)]
    banner = tiny_banner(names)
    flat = " ".join(line.strip("# ").strip() for line in banner.splitlines())
    for n in names:
        assert n in flat
    assert all(len(line) <= 80 for line in banner.splitlines())
