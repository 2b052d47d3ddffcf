"""`omninft-bench run javisbench` end to end through the real console script and an embedded server."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from omninft.bench.demo_data import write_demo_set


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("demo")
    csv_path = write_demo_set(folder, n=4, seconds=1.0, height=96, width=128)
    return folder, csv_path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    return subprocess.run([exe, "run", "javisbench", "--no-progress", *args], capture_output=True, text=True,
                          timeout=300)


def test_bad_samples_fail_alone_and_are_excluded(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    src, csv_path = demo_set
    samples = tmp_path / "samples"
    shutil.copytree(src, samples)
    (samples / "sample_0001.mp4").unlink()  # missing video: both metrics fail for row 1
    (samples / "sample_0002.wav").write_bytes(b"RIFF\x00\x00not really a wav")  # corrupt audio: only CLAP fails
    out = tmp_path / "out"
    proc = _run("--samples", str(samples), "--prompts", str(csv_path), "--out", str(out), "--verbose")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["tiny_weights"] is True and "TINY RANDOM WEIGHTS" in doc["warning"]
    clip, clap = doc["results"]["clip_score"], doc["results"]["clap_score"]
    assert clip["all"][1] is None and clap["all"][1] is None and clap["all"][2] is None
    assert clip["all"][2] is not None
    valid = [v for v in clap["all"] if v is not None]
    assert math.isclose(clap["overall"], sum(valid) / len(valid))  # failures excluded, never scored as 0
    assert doc["counts"]["clap_score"] == {"total": 4, "scored": 2, "failed": 2}
    reasons = {(e["sample"], e["metric"]): e for e in doc["errors"]}
    assert reasons[("sample_0001", "clip_score")]["code"] == "NOT_FOUND"
    assert reasons[("sample_0002", "clap_score")]["code"] == "INVALID_ARGUMENT"
    assert len(clip["0"]) == 5 and len(clip["3"]) == 3  # official per-category layout
    report = (out / "report.md").read_text()
    assert "sample_0002" in report and "TINY RANDOM WEIGHTS" in report
    prov = doc["provenance"]
    assert {s["name"] for s in prov["scorers"]} == {"clip", "clap"}
    assert all(len(s["weights_sha256"]) == 64 for s in prov["scorers"])


def test_unavailable_metric_is_a_usage_error(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    folder, csv_path = demo_set
    proc = _run("--samples", str(folder), "--prompts", str(csv_path), "--out", str(tmp_path), "--metrics", "fvd")
    assert proc.returncode == 2 and "not served yet" in proc.stderr
