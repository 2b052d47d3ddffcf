"""The README stays true: its server YAML loads, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from omninft.reward_servers.serving.config import ServerConfig

ROOT = Path(__file__).resolve().parents[2]


def test_readme_server_yaml_is_a_valid_config() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block, "README has no yaml block"
    cfg = ServerConfig.from_dict(yaml.safe_load(block.group(1)))
    assert set(cfg.scorers) == {"clap", "clip", "video_stats"}
    assert cfg.scorers["clap"].max_batch_size == 16 and cfg.scorers["clip"].device == "cuda:0"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in readme and re.search(r"^python -m pytest\s*$", ci, re.M)
    assert "omninft-bench run javisbench --demo" in readme
