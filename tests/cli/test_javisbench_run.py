"""`omninft-bench run javisbench` end to end through the real console script and an embedded server.

clip/clap are the real scorers with tiny weights; i3d/audioclip are stood in by the test embedders
(plugins), so the set-level path runs through a real server too.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from omninft.bench.cli import main
from omninft.bench.demo_data import write_demo_set
from omninft.bench.reference import load_reference, save_reference

EMBEDDERS = """
plugins:
  i3d: "tests.helpers.scorers:build"
  audioclip: "tests.helpers.scorers:build"
scorers:
  i3d: {options: {kind: video_embed, embedding: i3d}}
  audioclip: {options: {kind: audio_embed, embedding: audioclip}}
"""


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("demo")
    csv_path = write_demo_set(folder, n=4, seconds=1.0, height=96, width=128)
    return folder, csv_path


@pytest.fixture(scope="module")
def embedders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "embedders.yaml"
    path.write_text(EMBEDDERS)
    return path


def _run(*args: str, cmd: str = "run") -> subprocess.CompletedProcess[str]:
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    extra = ["javisbench"] if cmd == "run" else []
    return subprocess.run(
        [exe, *cmd.split(), *extra, "--no-progress", *args], capture_output=True, text=True, timeout=300
    )


def test_bad_samples_fail_alone_and_are_excluded(
    demo_set: tuple[Path, Path], embedders: Path, tmp_path: Path
) -> None:
    src, csv_path = demo_set
    samples = tmp_path / "samples"
    shutil.copytree(src, samples)
    (samples / "sample_0001.mp4").unlink()  # missing video: every metric fails for row 1
    (samples / "sample_0002.wav").write_bytes(
        b"RIFF\x00\x00not really a wav"
    )  # corrupt audio: audio metrics fail
    ref = tmp_path / "ref.npz"
    rng = np.random.default_rng(0)
    save_reference(ref, {"video": rng.random((4, 16), np.float32), "audio": rng.random((4, 16), np.float32)})
    out = tmp_path / "out"
    args = (
        "--samples",
        str(samples),
        "--prompts",
        str(csv_path),
        "--out",
        str(out),
        "--verbose",
        "--metrics",
        "fvd,fad,clip_score",
        "--metrics",
        "clap_score",
        "--reference-cache",
        str(ref),
        "--embedded-config",
        str(embedders),
        "--weights",
        "tiny",
        "--allow-failures",
    )
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["results"]) == ["fvd", "fad", "clip_score", "clap_score"]  # official order
    assert doc["tiny_weights"] is True and "TINY RANDOM WEIGHTS" in doc["warning"]
    clip, clap = doc["results"]["clip_score"], doc["results"]["clap_score"]
    assert clip["all"][1] is None and clap["all"][1] is None and clap["all"][2] is None
    assert clip["all"][2] is not None
    valid = [v for v in clap["all"] if v is not None]
    assert math.isclose(clap["overall"], sum(valid) / len(valid))  # failures excluded, never scored as 0
    assert doc["counts"]["clap_score"] == {"total": 4, "scored": 2, "failed": 2}
    assert doc["counts"]["fvd"]["scored"] == 3 and doc["counts"]["fad"]["scored"] == 2
    assert set(doc["results"]["fvd"]) == {"overall", "0", "1", "2", "3", "4"}
    reasons = {(e["sample"], e["metric"]): e for e in doc["errors"]}
    assert reasons[("sample_0001", "clip_score")]["code"] == "NOT_FOUND"
    assert reasons[("sample_0002", "clap_score")]["code"] == "INVALID_ARGUMENT"
    assert reasons[("sample_0002", "fad")]["code"] == "INVALID_ARGUMENT"
    assert len(clip["0"]) == 5 and len(clip["3"]) == 3  # official per-category layout
    report = (out / "report.md").read_text()
    assert "sample_0002" in report and "TINY RANDOM WEIGHTS" in report
    html = (out / "report.html").read_text()
    assert "<svg" in html and "<script" not in html
    prov = doc["provenance"]
    assert {s["name"] for s in prov["scorers"]} == {"clip", "clap", "i3d", "audioclip"}
    assert all(len(s["weights_sha256"]) == 64 for s in prov["scorers"])
    assert prov["reference"]["rows"] == {"video": 4, "audio": 4} and prov["sample_counts"]["missing"] == 1
    assert (
        "computed 12, reused 0" in proc.stdout
    )  # 3 found samples x 4 scorers; the corrupt one's INVALID kept


def test_demo_runs_the_installed_metrics(embedders: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # Only the test embedders (fast to load); av_align is skipped with a clear line until it is installed.
    wanted = {"fvd", "kvd", "fad", "av_align"}
    proc = _run(
        "--demo",
        "--demo-n",
        "4",
        "--demo-seconds",
        "0.5",
        "--out",
        str(out),
        "--metrics",
        ",".join(wanted),
        "--embedded-config",
        str(embedders),
    )
    assert proc.returncode == 0, proc.stderr
    assert "DEMO" in proc.stderr and "TINY RANDOM WEIGHTS" in proc.stderr
    doc = json.loads((out / "results.json").read_text())
    assert {"fvd", "kvd", "fad"} <= set(doc["results"])
    assert set(doc["results"]) | set(doc.get("skipped", {})) == wanted
    for key, why in doc.get("skipped", {}).items():
        assert f"{key}: skipped, not available" in proc.stderr and "not available" in why
    ref = load_reference(out / "demo-reference.pt")
    assert ref.features["video"].shape == (4, 16) and ref.features["audio"].shape == (4, 16)
    assert all(math.isfinite(doc["results"][k]) for k in ("fvd", "kvd", "fad"))
    assert list(doc["provenance"]["servers"]) == ["embedded"]


def test_usage_errors_before_any_server(
    demo_set: tuple[Path, Path], embedders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, csv_path = demo_set
    base = ["run", "javisbench", "--samples", str(folder), "--prompts", str(csv_path), "--out", str(tmp_path)]
    r = CliRunner().invoke(main, [*base, "--metrics", "cavp_score"])
    assert r.exit_code == 2 and "unknown JavisBench metric" in r.output
    r = CliRunner().invoke(main, [*base, "--metrics", "kvd", "--embedded-config", str(embedders)])
    assert r.exit_code == 2 and "need --reference-cache" in r.output
    import omninft.bench.availability as availability

    monkeypatch.setattr(
        availability, "installed_scorers", lambda names, **_: {n: n != "desync" for n in names}
    )
    r = CliRunner().invoke(main, [*base, "--metrics", "desync,clip_score"])
    assert (
        r.exit_code == 2
        and "not available in this installation" in r.output
        and "desync (scorer desync)" in r.output
    )


def test_reference_build_from_csv_paths(embedders: Path, tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    write_demo_set(gt / "clips", n=3, seconds=0.5, height=48, width=64, seed=3)
    csv_path = tmp_path / "gt.csv"
    csv_path.write_text(
        "text,path,audio_path\n"
        + "".join(f"clip {i},clips/sample_{i:04d}.mp4,clips/sample_{i:04d}.wav\n" for i in range(3))
    )
    out = tmp_path / "ref.pt"
    proc = _run(
        "--videos",
        str(gt),
        "--prompts",
        str(csv_path),
        "--out",
        str(out),
        "--embedded-config",
        str(embedders),
        "--weights",
        "tiny",
        cmd="reference build",
    )
    assert proc.returncode == 0, proc.stderr
    ref = load_reference(out)
    assert ref.features["video"].shape == (3, 16) and ref.features["audio"].shape == (3, 16)
    (gt / "clips" / "sample_0001.mp4").unlink()
    proc = _run(
        "--videos",
        str(gt),
        "--prompts",
        str(csv_path),
        "--out",
        str(tmp_path / "r2.pt"),
        "--embedded-config",
        str(embedders),
        cmd="reference build",
    )
    assert proc.returncode == 2 and "sample_0001" in proc.stderr and "cover every row" in proc.stderr


def test_fetch_weights_runs_omninft_serve_per_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        ok = cmd[-1] == "clip"
        return subprocess.CompletedProcess(
            cmd,
            0 if ok else 1,
            "clip-vit sha256 ab at /x\n" if ok else "",
            "" if ok else "Error: cannot reach huggingface.co\n",
        )

    monkeypatch.setattr(subprocess, "run", fake_run)
    r = CliRunner().invoke(main, ["fetch-weights", "javisbench", "--metrics", "clip_score,clap_score"])
    assert [c[c.index("--scorer") + 1] for c in calls] == ["clap", "clip"]
    assert all("omninft.reward_servers.cli" in c for c in calls)
    assert r.exit_code == 1 and "clap: FAILED: Error: cannot reach huggingface.co" in r.output
    assert "could not fetch the weights of clap" in r.output and "cached: clip" in r.output
