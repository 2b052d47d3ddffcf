"""`omninft-bench run`: each suite's options are explained in --help and refused by the other suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from omninft.bench.cli import main


def test_help_explains_the_vbench_options() -> None:
    result = CliRunner().invoke(main, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    out = " ".join(result.output.split())
    assert (
        "vbench_standard scores the official prompt suite" in out
        and "custom_input scores your own videos" in out
    )
    assert "'<prompt>-<i>.mp4'" in out and "animal, architecture, food" in out
    assert "'flat' = every video directly in --videos" in out
    assert "javisbench: folder of generated samples" in out and "javisbench: demo set size." in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["vbench", "--samples", "."],
            "--samples: javisbench option(s), not read by `run vbench` (vbench reads --videos)",
        ),
        (
            ["vbench", "--metrics", "fvd", "--limit", "2"],
            "--metrics, --limit: javisbench option(s), not read by `run vbench`",
        ),
        (
            ["javisbench", "--mode", "custom_input", "--demo"],
            "--mode: vbench option(s), not read by `run javisbench`",
        ),
        (
            ["javisbench", "--dimensions", "scene", "--demo"],
            "--dimensions: vbench option(s), not read by `run javisbench`",
        ),
    ],
)
def test_options_of_the_other_suite_are_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    proc = subprocess.run(
        [exe, "run", *args, "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
