"""`omninft-bench run vbench`, `fetch-suite vbench` and `vbench static-filter` through the real console script,
against an in-process FakeRewardServer hosting the TEST FIXTURE scorers of `tests/helpers/vbench_fixtures.py`.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omninft.bench.suites.vbench.demo import write_demo_vbench
from omninft.bench.suites.vbench.static_filter import is_static, select_static, static_thresholds
from omninft.bench.suites.vbench.suite import OFFICIAL_FILES, SuiteError, fetch_official
from tests.helpers.vbench_fixtures import fixture_server


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("vbench-cli")
    suite = write_demo_vbench(root / "videos", per_prompt=5, seconds=1.0, height=48, width=64, fps=8.0)
    return root / "videos", suite


@pytest.fixture(scope="module")
def server() -> Any:
    with fixture_server() as srv:
        yield srv


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def test_run_vbench_standard(demo: tuple[Path, Path], server: Any, tmp_path: Path) -> None:
    videos, suite = demo
    out = tmp_path / "out"
    proc = _cli(
        "run",
        "vbench",
        "--videos",
        str(videos),
        "--full-info",
        str(suite),
        "--server",
        server.address,
        "--out",
        str(out),
        "--name",
        "mymodel",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Total =" in proc.stdout and "subject_consistency = " in proc.stdout
    ev = json.loads((out / "evaluation_results" / "mymodel_eval_results.json").read_text())
    assert len(ev) == 16
    assert (out / "evaluation_results" / "mymodel_full_info.json").exists() and (
        out / "store.sqlite"
    ).exists()
    assert (out / "report.html").exists() and (out / "per_video.jsonl").read_text().count("\n") >= 80


def test_run_vbench_usage_errors(demo: tuple[Path, Path], server: Any, tmp_path: Path) -> None:
    videos, suite = demo
    proc = _cli(
        "run",
        "vbench",
        "--videos",
        str(videos),
        "--mode",
        "custom_input",
        "--dimensions",
        "color,subject_consistency",
        "--server",
        server.address,
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 2 and "custom_input cannot evaluate color" in proc.stderr
    proc = _cli(
        "run", "vbench", "--videos", str(videos), "--dimensions", "colour", "--server", server.address
    )
    assert proc.returncode == 2 and "unknown VBench dimension(s) colour" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _cli(
        "run",
        "vbench",
        "--videos",
        str(empty),
        "--full-info",
        str(suite),
        "--dimensions",
        "scene",
        "--server",
        server.address,
        "--out",
        str(tmp_path / "o2"),
        "--no-progress",
    )
    assert proc.returncode == 1 and "scene: no video was scored" in proc.stderr
    assert "5 expected videos are missing" in proc.stderr


def test_custom_input_single_file_with_prompt(demo: tuple[Path, Path], server: Any, tmp_path: Path) -> None:
    videos, _ = demo
    one = videos / "a red car-0.mp4"
    proc = _cli(
        "run",
        "vbench",
        "--videos",
        str(one),
        "--mode",
        "custom_input",
        "--prompt",
        "a blue car",
        "--dimensions",
        "temporal_style,dynamic_degree",
        "--server",
        server.address,
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "o" / "evaluation_results" / "results_full_info.json").read_text())
    assert info == [
        {
            "prompt_en": "a blue car",
            "dimension": ["dynamic_degree", "temporal_style"],
            "video_list": [str(one)],
        }
    ]
    assert "Total: not computed, needs subject_consistency" in proc.stderr


def _clip(path: Path, frames: np.ndarray) -> None:
    from dataclasses import replace

    from omninft.bench.demo_data import write_mp4
    from omninft.bench.synth import bouncing_disc_clip

    write_mp4(
        path,
        replace(bouncing_disc_clip(0, seconds=1.0, height=48, width=64, fps=8.0), frames=frames),
        mux_audio=False,
    )


def test_static_filter_cli_layout(tmp_path: Path) -> None:
    from omninft.bench.synth import bouncing_disc_clip

    cand = tmp_path / "cand"
    cand.mkdir()
    moving = bouncing_disc_clip(1, seconds=2.0, height=48, width=64, fps=8.0).frames
    still = np.repeat(moving[:1], 16, axis=0)
    prompts = ["In a still frame, a stop sign", "a laptop, frozen in time"]
    # Prompt 1: 7 candidates, the moving ones at 0 and 3; prompt 2: 2 candidates, both static.
    for i in range(7):
        _clip(cand / f"{prompts[0]}-{i}.mp4", moving if i in (0, 3) else still)
    for i in range(2):
        _clip(cand / f"{prompts[1]}-{i}.mp4", still)
    _clip(cand / "not in the suite-0.mp4", still)
    suite = tmp_path / "full_info.json"
    suite.write_text(
        json.dumps(
            [{"prompt_en": p, "dimension": ["temporal_flickering"]} for p in prompts]
            + [{"prompt_en": "x", "dimension": ["scene"]}]
        )
    )
    out = tmp_path / "filtered"
    with fixture_server() as srv:
        proc = _cli(
            "vbench",
            "static-filter",
            "--videos",
            str(cand),
            "--full-info",
            str(suite),
            "--server",
            srv.address,
            "--out",
            str(out),
        )
        tested = sum(c.n_samples for c in srv.calls if c.method == "Embed")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "filtered_static_video.json").read_text())
    assert info[prompts[0]]["static_count"] == 5 and info[prompts[1]]["static_count"] == 2
    assert [Path(p).name for p in info[prompts[0]]["static_path"]] == [
        f"{prompts[0]}-{i}.mp4" for i in (1, 2, 4, 5, 6)
    ]
    assert sorted(p.name for p in (out / "filtered_videos").iterdir()) == sorted(
        [f"{prompts[0]}-{i}.mp4" for i in range(5)] + [f"{prompts[1]}-{i}.mp4" for i in range(2)]
    )
    assert tested == 9  # prompt 1: 5 then the 2 still needed; prompt 2: both; nothing outside the suite
    assert "1 prompts have fewer than 5 static videos" in proc.stderr


def test_static_rule_hand_cases() -> None:
    assert static_thresholds(16, 240, 320) == (3.0 * 240 / 256, 2)
    assert static_thresholds(20, 256, 256) == (3.0, 2)  # round(2.5) = 2 (half to even)
    assert static_thresholds(28, 256, 256)[1] == 4  # round(3.5) = 4
    thres = 3.0
    n = 16  # count_num 2: at most 2 moving consecutive pairs; first/last limit 3 * 2 * 2 = 12
    calm = [0.0] * (n - 1)
    assert is_static(calm + [12.0, 0.0], n, 256, 256)
    assert not is_static(calm + [12.5, 0.0], n, 256, 256)
    assert is_static([thres + 1] * 2 + [0.0] * (n - 3) + [0.0, 0.0], n, 256, 256)
    assert not is_static([thres + 1] * 3 + [0.0] * (n - 4) + [0.0, 0.0], n, 256, 256)
    assert is_static([thres] * (n - 1) + [0.0, 0.0], n, 256, 256)  # "> thres", not ">="
    assert not is_static([0.0, 0.0, 0.1], 2, 256, 256)  # count_num 0: any first/last motion is too much
    with pytest.raises(ValueError):
        is_static([1.0], 1, 8, 8)


def test_select_static_stops_per_prompt() -> None:
    paths = [Path(f"p-{i}.mp4") for i in range(10)]
    seen: list[list[str]] = []

    def judge(batch: list[Path]) -> dict[Path, bool | str]:
        seen.append([p.name for p in batch])
        return {p: int(p.stem[-1]) % 2 == 0 for p in batch}

    res = select_static(paths, ["p"], judge, per_prompt=3)
    assert [p.name for p in res.prompts["p"]] == ["p-0.mp4", "p-2.mp4", "p-4.mp4"]
    assert seen == [["p-0.mp4", "p-1.mp4", "p-2.mp4"], ["p-3.mp4"], ["p-4.mp4"]]


class _Resp(io.BytesIO):
    def __enter__(self) -> _Resp:
        return self

    def __exit__(self, *a: object) -> None:
        self.close()


def test_fetch_suite_downloads_verifies_and_keeps(tmp_path: Path) -> None:
    bodies = {"VBench_full_info.json": b"[]", "prompts_per_category/food.txt": b"a cake\n"}
    files = {n: (f"some/{n}", hashlib.sha256(b).hexdigest()) for n, b in bodies.items()}
    urls: list[str] = []

    def opener(url: str, timeout: float) -> _Resp:
        urls.append(url)
        return _Resp(bodies[url.split("/some/", 1)[1]])

    got = fetch_official(tmp_path, opener=opener, files=files)
    assert urls[0] == (
        "https://raw.githubusercontent.com/Vchitect/VBench/45e79ec14e69a2187202c675d2dbce1a71843d53/"
        "some/VBench_full_info.json"
    )
    assert got["prompts_per_category/food.txt"].read_bytes() == b"a cake\n"
    fetch_official(tmp_path, opener=opener, files=files)
    assert len(urls) == 2  # verified files are kept
    bodies["VBench_full_info.json"] = b"[1]"
    (tmp_path / "VBench_full_info.json").unlink()
    with pytest.raises(SuiteError, match="does not match the pinned"):
        fetch_official(tmp_path, opener=opener, files=files)
    assert not (tmp_path / "VBench_full_info.json").exists()
    assert len(OFFICIAL_FILES) == 12 and all(len(sha) == 64 for _, sha in OFFICIAL_FILES.values())


def test_demo_generates_the_standard_naming_and_is_labelled(server: Any, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _cli("run", "vbench", "--demo", "--server", server.address, "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "TINY RANDOM WEIGHTS" in proc.stderr and "Total =" in proc.stdout
    names = sorted(p.name for p in (out / "demo-videos").iterdir())
    assert len(names) == 55 and "a red car-4.mp4" in names
    doc = json.loads((out / "results.json").read_text())
    assert doc["tiny_weights"] is True and "TINY RANDOM WEIGHTS" in doc["warning"]
    assert len(doc["vbench"]["raw"]) == 16 and doc["vbench"]["scores"]["total"] is not None


def test_sigkill_mid_run_then_rerun_gives_identical_numbers(demo: tuple[Path, Path], tmp_path: Path) -> None:
    import signal
    import sqlite3
    import time

    from tests.helpers.vbench_fixtures import SCORE_FIXTURES, on_the_wire

    videos, suite = demo
    args = [
        "run",
        "vbench",
        "--videos",
        str(videos),
        "--full-info",
        str(suite),
        "--chunk-size",
        "2",
        "--no-progress",
    ]
    with fixture_server() as srv:
        clean = _cli(*args, "--server", srv.address, "--out", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "killed"

    def slow(s: Any) -> Any:
        time.sleep(0.3)
        return on_the_wire("vbench_aesthetic_quality", SCORE_FIXTURES["vbench_aesthetic_quality"])(s)

    with fixture_server() as srv:
        srv._scorers["vbench_aesthetic_quality"] = slow
        exe = shutil.which("omninft-bench")
        assert exe
        proc = subprocess.Popen(
            [exe, *args, "--server", srv.address, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stored = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                with sqlite3.connect(out / "store.sqlite", timeout=1) as db:
                    stored = db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
            except sqlite3.Error:
                continue
            if stored >= 6:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL and stored >= 6
        assert not (out / "results.json").exists()
        again = _cli(*args, "--server", srv.address, "--out", str(out))
    assert again.returncode == 0, again.stderr
    ref = json.loads((tmp_path / "clean" / "evaluation_results" / "results_eval_results.json").read_text())
    got = json.loads((out / "evaluation_results" / "results_eval_results.json").read_text())
    assert got == ref
    assert json.loads((out / "results.json").read_text())["provenance"]["store"]["outcomes_reused"] >= 6


def test_static_filter_scope_all_tests_everything(tmp_path: Path) -> None:
    from omninft.bench.suites.vbench.static_filter import candidates, write_filtered

    for name in ("b-1.mp4", "a-0.mp4", "a-1.mp4", "a-2.mp4", "skip.gif"):
        (tmp_path / name).write_bytes(name.encode())
    paths = candidates(tmp_path, None)
    assert [p.name for p in paths] == ["a-0.mp4", "a-1.mp4", "a-2.mp4", "b-1.mp4"]  # sorted, *.mp4 only
    assert [p.name for p in candidates(tmp_path, ["b"])] == ["b-1.mp4"]
    res = select_static(paths, None, lambda batch: {p: p.name != "a-1.mp4" for p in batch}, per_prompt=None)
    assert {k: [p.name for p in v] for k, v in res.prompts.items()} == {
        "a": ["a-0.mp4", "a-2.mp4"],
        "b": ["b-1.mp4"],
    }
    write_filtered(res, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "filtered_videos").iterdir()) == [
        "a-0.mp4",
        "a-1.mp4",
        "b-0.mp4",
    ]
    assert (tmp_path / "out" / "filtered_videos" / "a-1.mp4").read_bytes() == b"a-2.mp4"


def test_custom_input_default_dimensions(demo: tuple[Path, Path], server: Any, tmp_path: Path) -> None:
    videos, _ = demo
    proc = _cli(
        "run",
        "vbench",
        "--videos",
        str(videos),
        "--mode",
        "custom_input",
        "--server",
        server.address,
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "not by default: temporal_flickering, object_class, multiple_objects, human_action, color"
        in proc.stderr
    )
    ev = json.loads((tmp_path / "o" / "evaluation_results" / "results_eval_results.json").read_text())
    assert sorted(ev) == sorted(
        [
            "subject_consistency",
            "background_consistency",
            "motion_smoothness",
            "dynamic_degree",
            "aesthetic_quality",
            "imaging_quality",
            "temporal_style",
            "overall_consistency",
        ]
    )
    assert all(len(v[1]) == 55 for v in ev.values())
