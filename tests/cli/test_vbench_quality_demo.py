"""`omninft-bench run vbench --demo` over the seven Quality dimensions through the real console script and a real
embedded `omninft-serve` with the project's own VBench scorers (tiny random weights): every dimension whose scorer
is installed gets a value (and the Quality score is formed), and each video is decoded once for all the
dimensions that read it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from omninft.bench.suites.vbench.dimensions import DIMENSIONS, QUALITY_LIST
from omninft.reward_servers.scorers import registry


def test_demo_fills_the_quality_dimensions_with_one_decode_per_video(tmp_path: Path) -> None:
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
            "1.0",
            "--dimensions",
            ",".join(QUALITY_LIST),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**_env(), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = [d for d in QUALITY_LIST if DIMENSIONS[d].scorer in registry.available()]
    assert served == list(QUALITY_LIST)
    for d in QUALITY_LIST:
        assert re.search(rf"^\s*{d} = -?[0-9.]+%\s+\(5/5 scored\)$", proc.stdout, re.M), (d, proc.stdout)
    assert re.search(r"^\s*Quality = -?[0-9.]+%$", proc.stdout, re.M)
    assert "TINY RANDOM WEIGHTS" in proc.stderr
    assert "decodes per video = 1.00" in proc.stdout
    doc = json.loads((out / "results.json").read_text())
    prov = doc["provenance"]
    assert (
        prov["decodes"]["per_video"] == 1.0 and prov["decodes"]["videos"] == 20
    )  # 4 demo prompts x 5 videos
    assert prov["tiny_weights"] and {s["name"] for s in prov["scorers"]} == {
        DIMENSIONS[d].scorer for d in served
    }
    assert all(s["protocol"].startswith("vbench-v1") for s in prov["scorers"])
    ev = json.loads((out / "evaluation_results" / "results_eval_results.json").read_text())
    assert sorted(ev) == sorted(served)
    assert all(len(ev[d][1]) == 5 for d in served)  # [aggregate, per-video records]


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
