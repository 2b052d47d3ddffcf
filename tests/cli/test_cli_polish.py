"""Every console script answers -h and --version; one --server option name across run, perf and health."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from omninft.bench.cli import main as bench_main
from omninft.reward_servers.cli import serve_main
from omninft.reward_servers.export import main as export_main
from omninft.trainer.cli import main as train_main


@pytest.mark.parametrize("cmd", [bench_main, serve_main, export_main, train_main])
def test_help_and_version_everywhere(cmd: object) -> None:
    for args in (["-h"], ["--version"]):
        res = CliRunner().invoke(cmd, args)  # type: ignore[arg-type]
        assert res.exit_code == 0, res.output
    assert "version 0." in CliRunner().invoke(cmd, ["--version"]).output  # type: ignore[arg-type]


def test_server_option_name_is_shared() -> None:
    for cmd, args in (
        (bench_main, ["run", "-h"]),
        (bench_main, ["perf", "-h"]),
        (serve_main, ["health", "-h"]),
    ):
        assert "--server" in CliRunner().invoke(cmd, args).output


def test_every_bench_option_has_help() -> None:
    for sub in ("run", "perf", "demo-data"):
        command = bench_main.commands[sub]
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "hidden", False):
                assert getattr(param, "help", None), f"{sub} {param.opts} has no help"
