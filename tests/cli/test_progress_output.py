"""Progress output of `omninft-bench run javisbench` in a log (stderr not a terminal): whole lines, no `\\r`;
a resumed run reuses the stored set-level values (no set-metric work, same numbers)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from omninft.bench.demo_data import write_demo_set
from omninft.bench.reference import save_reference
from omninft.bench.runner import set_value_digest
from omninft.bench.suites.javisbench.metrics import SetMetricRoute, route_for
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
    cmd = [
        exe,
        "run",
        "javisbench",
        "--samples",
        str(samples),
        "--prompts",
        str(csv_path),
        "--out",
        str(tmp_path / "o"),
        "--metrics",
        "fvd,clip_score",
        "--reference-cache",
        str(ref),
        "--embedded-config",
        str(cfg),
        "--weights",
        "tiny",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert any(line.startswith("scoring samples: 4/4 samples (100 %)") for line in lines), proc.stderr
    assert any(line.startswith("set metrics (fvd): ") and "fvd on" in line for line in lines), proc.stderr
    first = json.loads((tmp_path / "o" / "results.json").read_text())["results"]["fvd"]

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "set metrics" not in again.stderr and "\r" not in again.stderr
    assert json.loads((tmp_path / "o" / "results.json").read_text())["results"]["fvd"] == first


def test_set_value_digest_follows_every_input() -> None:
    route = route_for("fad")
    assert isinstance(route, SetMetricRoute)
    rng = np.random.default_rng(0)
    fake, real = rng.random((3, 8)), rng.random((3, 8))
    base = set_value_digest(route, "javisbench-v1", fake, real)
    assert base == set_value_digest(route, "javisbench-v1", fake.copy(), real.copy())
    nudged = fake.copy()
    nudged[1, 2] += 1e-12
    assert set_value_digest(route, "javisbench-v1", nudged, real) != base
    assert set_value_digest(route, "javisbench-v1", fake, real[:2]) != base
    assert set_value_digest(route, "javisbench-v1-fd64", fake, real) != base
    assert set_value_digest(route_for("fvd"), "javisbench-v1", fake, real) != base  # type: ignore[arg-type]
