"""`omninft-bench run vbench --demo` over the five non-GRiT Semantic dimensions through the real console script and a
real embedded `omninft-serve` with the project's own scorers (tiny random weights): each dimension gets a value
from all of its videos, the reference file carries the §4 per-video fields, and each video is decoded once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from omninft.bench.suites.vbench.dimensions import DIMENSIONS

MINE = ("human_action", "scene", "appearance_style", "temporal_style", "overall_consistency")


def test_demo_fills_the_five_semantic_dimensions(tmp_path: Path) -> None:
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
            ",".join(MINE),
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
    for d in MINE:
        assert re.search(rf"^\s*{d} = -?[0-9.]+%\s+\(5/5 scored\)$", proc.stdout, re.M), (d, proc.stdout)
    assert "TINY RANDOM WEIGHTS" in proc.stderr
    assert "Total: not computed, needs" in proc.stderr  # four Semantic dimensions were not asked for
    assert "decodes per video = 1.00" in proc.stdout
    doc = json.loads((out / "results.json").read_text())
    prov = doc["provenance"]
    assert (
        prov["decodes"]["per_video"] == 1.0 and prov["decodes"]["videos"] == 25
    )  # 5 demo prompts x 5 videos
    assert prov["tiny_weights"] and {s["name"] for s in prov["scorers"]} == {
        DIMENSIONS[d].scorer for d in MINE
    }
    ev = json.loads((out / "evaluation_results" / "results_eval_results.json").read_text())
    assert sorted(ev) == sorted(MINE)
    assert {"success_frame_count", "frame_count"} <= set(ev["scene"][1][0])
    assert (
        isinstance(ev["human_action"][1][0]["video_results"], bool)
        and "cor_num_per_video" in ev["human_action"][1][0]
    )
    style = ev["appearance_style"][1][0]
    assert len(style["frame_results"]) == 8 and style["cur_sim"] == style["frame_results"][-1]  # 1 s at 8 fps
