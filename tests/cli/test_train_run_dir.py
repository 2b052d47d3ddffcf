"""omninft-train refuses to mix two runs in one directory (issue 17 item 8)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from omninft.trainer.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "trainer" / "configs" / "toy.yaml"


def test_existing_run_directory_needs_resume_or_overwrite(tmp_path: Path) -> None:
    run = tmp_path / "toy"
    run.mkdir()
    (run / "log.jsonl").write_text('{"epoch": 0}\n')
    res = CliRunner().invoke(main, ["--config", str(CONFIG), "--set", f"out_dir={run}"])
    assert res.exit_code == 2 and "already holds a run" in res.output and "--resume auto" in res.output
    assert "Traceback" not in res.output
    assert (run / "log.jsonl").read_text() == '{"epoch": 0}\n'
    res = CliRunner().invoke(
        main, ["--config", str(CONFIG), "--set", f"out_dir={run}", "--resume", "auto", "--overwrite"]
    )
    assert res.exit_code == 2 and "exclude each other" in res.output


def test_toy_config_cites_nothing_outside_the_repository() -> None:
    assert "§" not in CONFIG.read_text()


def test_gitignore_covers_runs_and_demo_output() -> None:
    lines = (REPO / ".gitignore").read_text().splitlines()
    assert "runs/" in lines and "omninft-results/" in lines
