"""Ctrl-C keeps every sample scored so far; the rerun computes only the rest (issue 17 item 9)."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from omninft.bench.demo_data import write_demo_set
from omninft_client.testing import FakeRewardServer, FakeSample

N = 6


def test_sigint_keeps_scored_samples_and_the_rerun_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    csv_path = write_demo_set(folder, n=N, seconds=0.5, height=32, width=48)
    release = threading.Event()

    def clip(sample: FakeSample) -> dict[str, float]:
        if not sample.id.startswith(("sample_0000", "sample_0001")):
            release.wait(60)  # the other samples hang until the run was interrupted
        return {"clip_score": float(len(sample.prompt))}

    out = tmp_path / "out"
    store = out / "store.sqlite"
    exe = shutil.which("omninft-bench")
    cmd = [
        exe or sys.executable,
        "run",
        "javisbench",
        "--no-progress",
        "--samples",
        str(folder),
        "--prompts",
        str(csv_path),
        "--out",
        str(out),
        "--metrics",
        "clip_score",
        "--send-bytes",
    ]
    with FakeRewardServer({"clip": clip}, outputs={"clip": ["clip_score"]}, max_batch_size=1) as srv:
        proc = subprocess.Popen(
            [*cmd, "--server", srv.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 90
        stored = 0
        while time.monotonic() < deadline and stored < 2:
            time.sleep(0.2)
            if store.exists():
                try:
                    with sqlite3.connect(store) as db:
                        stored = db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        assert stored == 2, "the two fast samples were not stored while the others were in flight"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        release.set()
        assert proc.returncode == 130, err
        assert "every scored sample is saved" in err and "Traceback" not in err
        rerun = subprocess.run([*cmd, "--server", srv.address], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "computed 4, reused 2 stored outcomes" in rerun.stdout
    doc = json.loads((out / "results.json").read_text())
    assert doc["counts"]["clip_score"]["scored"] == N
