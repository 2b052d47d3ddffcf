"""Progress output of `omninft-bench run javisbench` in a log (stderr not a terminal): whole lines, no `\\r`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from omninft.bench.demo_data import write_demo_set
from omninft.bench.reference import save_reference
from tests.cli.test_javisbench_run import EMBEDDERS


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    samples = tmp_path / "demo"
    csv_path = write_demo_set(samples, n=4, seconds=1.0, height=96, width=128)
    cfg = tmp_path / "embedders.yaml"
    cfg.write_text(EMBEDDERS)
    ref = tmp_path / "ref.npz"
    rng = np.random.default_rng(0)
    save_reference(ref, {"video": rng.random((4, 16), np.float32), "audio": rng.random((4, 16), np.float32)})
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    proc = subprocess.run(
        [exe, "run", "javisbench", "--samples", str(samples), "--prompts", str(csv_path), "--out", str(tmp_path / "o"),
         "--metrics", "fvd,clip_score", "--reference-cache", str(ref), "--embedded-config", str(cfg),
         "--weights", "tiny"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert any(line.startswith("scoring samples: 4/4 samples (100 %)") for line in lines), proc.stderr
    assert any(line.startswith("set metrics: ") and "fvd on" in line for line in lines), proc.stderr
