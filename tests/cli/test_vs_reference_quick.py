"""`vs_reference quick` through its real entry point: ours timed with tiny weights, no reference venv needed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~25 CPU s (two bench runs with tiny weights); the margin is for a loaded machine
def test_quick_mode_times_ours_and_skips_the_reference(tmp_path: Path) -> None:
    """Two runs (av_align, the whole suite) on 2 samples: times, RSS, forward share, one decode per sample."""
    out = tmp_path / "vs.json"
    proc = subprocess.run(
        [sys.executable, "-m", "omninft.bench.perf.scripts.vs_reference", "quick", "--work", str(tmp_path / "w"),
         "--json-out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "reference side skipped: no --ref-python given" in proc.stdout
    doc = json.loads(out.read_text())
    runs = doc["runs"]
    assert set(runs) == {"ours/av_align/n2", "ours/suite/n2"}
    for run in runs.values():
        assert run["rc"] == 0 and "error" not in run
        assert run["wall_s"] > 0 and run["cpu_s"] > 0 and run["peak_rss_mib"] > 50
        assert run["tiny_weights"] is False  # AV-Align has no network: nothing random to label
        assert run["decodes_per_sample"] == {"video": 1.0, "audio": 1.0}
        assert 0.0 <= run["forward_share"] <= 1.0
        assert run["server_stats"]["stage_seconds"]["av_align"]["preprocess"] > 0
        assert run["server_ready_s"] and run["server_ready_s"][0] > 0
        assert math.isfinite(run["values"]["av_align"])
    table = doc["tables"]["2"]
    assert "| av_align |" in table and "whole suite" in table
    assert "| av_align |" in proc.stdout  # the markdown table is printed too
