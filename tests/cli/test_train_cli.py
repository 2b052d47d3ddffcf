"""``omninft-train`` (via ``python -m omninft.trainer.cli``): config loading, overrides, a real 1-epoch toy run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from omninft.trainer.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "toy.yaml"


def test_print_config_with_overrides() -> None:
    res = CliRunner().invoke(
        main,
        [
            "--config",
            str(CONFIG),
            "--set",
            "advantage.mode=gdpo",
            "--set",
            "surgery.per_block=[0, 0.5, 1, 1]",
            "--print-config",
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load(res.output)
    assert cfg["advantage"]["mode"] == "gdpo" and cfg["surgery"]["per_block"] == [0.0, 0.5, 1.0, 1.0]
    assert [r["name"] for r in cfg["rewards"]] == ["toy_video", "toy_audio", "toy_sync"]


def test_bad_override_is_a_usage_error() -> None:
    res = CliRunner().invoke(main, ["--set", "train.nope=1", "--print-config"])
    assert res.exit_code == 2 and "unknown config key" in res.output


@pytest.mark.timeout(240)
def test_one_epoch_subprocess_with_embedded_server(tmp_path: Path) -> None:
    run = {
        "out_dir": str(tmp_path / "run"),
        "epochs": 1,
        "policy": {
            "base_checkpoint": str(tmp_path / "base.pt"),
            "pretrain_steps": 10,
            "pretrain_batch": 8,
            "options": {"model": {"blocks": 2, "video_dim": 32, "audio_dim": 16, "cond_dim": 32}},
        },
        "data": {"groups_per_epoch": 2, "group_size": 4, "rollout_batch": 8},
        "sampler": {"steps": 4},
        "train": {"micro_batch": 8},
        "log": {"checkpoint_every": 1},
    }
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(run))
    cmd = [
        sys.executable,
        "-m",
        "omninft.trainer.cli",
        "--config",
        str(cfg_path),
        "--set",
        "threads=1",
        "--set",
        "advantage.mode=gdpo_paper",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=220, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # GDPO has no routes, so no route ever falls back.
    assert summary == {
        "epochs_run": 1,
        "epoch": 1,
        "step": 1,
        "log": str(tmp_path / "run" / "log.jsonl"),
        "route_fallback_epochs": {},
        "tensorboard": summary["tensorboard"],
    }
    rec = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert rec["mode"] == "gdpo_paper" and rec["reward_fail_rate/toy_sync"] == 0.0
    assert (tmp_path / "run" / "ckpt-000001.pt").exists()
    assert (tmp_path / "run" / "reward-server-local.log").exists()
