"""`omninft-bench run vbench --demo --dimensions color` through the real console script and a real embedded
`omninft-serve` with tiny GRiT: a dimension that the reference's own rule empties (no frame names the target
object, so every video is dropped) is reported with its reason and does not fail the demo.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path


def test_demo_reports_a_dimension_emptied_by_the_drop_rule_and_exits_0(tmp_path: Path) -> None:
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            exe,
            "run",
            "vbench",
            "--demo",
            "--demo-seconds",
            "0.5",
            "--dimensions",
            "color",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = re.search(r"^\s*color = (\S+)\s+\((\d+)/(\d+) scored(?:, (\d+) dropped)?\)$", proc.stdout, re.M)
    assert line, proc.stdout
    value, scored, total, dropped = line.groups()
    if value == "n/a":  # tiny GRiT names no demo target: all dropped, said on stderr with the reason
        assert int(scored) == 0 and int(dropped or 0) == int(total) > 0
        assert "color: no value in the demo" in proc.stderr and "dropped" in proc.stderr
    else:
        assert value.endswith("%") and int(scored) > 0
    doc = json.loads((out / "results.json").read_text())
    assert "color" in json.dumps(doc["vbench"])
