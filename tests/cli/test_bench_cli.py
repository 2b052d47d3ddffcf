"""omninft-bench CLI: demo-data and the perf load generator against a real (fake-scorer) server."""

from __future__ import annotations

import json
from pathlib import Path

import av
import soundfile as sf
from click.testing import CliRunner

from omninft.bench.cli import main
from omninft_client.testing import FakeRewardServer


def test_demo_data_writes_official_layout(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo-data", "--out", str(tmp_path), "--n", "3", "--seconds", "1"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "prompts.csv").read_text().strip().splitlines()
    assert lines[0].startswith("text,audio_text,cat0_ind") and len(lines) == 4
    for i in range(3):
        with av.open(str(tmp_path / f"sample_{i:04d}.mp4")) as c:
            kinds = sorted(s.type for s in c.streams)
            frames = sum(1 for _ in c.decode(video=0))
        assert kinds == ["audio", "video"] and frames == 24
        info = sf.info(str(tmp_path / f"sample_{i:04d}.wav"))
        assert info.samplerate == 16000 and abs(info.duration - 1.0) < 1e-3


def test_perf_sweep_reports_levels_and_json(tmp_path: Path) -> None:
    out = tmp_path / "perf.json"
    with FakeRewardServer() as server:
        result = CliRunner().invoke(
            main,
            [
                "perf",
                "--target",
                server.address,
                "--scorer",
                "brightness",
                "--concurrency",
                "1,3",
                "--count",
                "6",
                "--warmup-s",
                "0.1",
                "--seconds",
                "0.25",
                "--size",
                "32x48",
                "--json",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [lv["concurrency"] for lv in doc["levels"]] == [1, 3]
    for lv in doc["levels"]:
        assert (
            lv["requests"] >= 6
            and lv["errors"] == {}
            and lv["latency_ms"]["p99"] >= lv["latency_ms"]["p50"] > 0
        )
    assert "samples/s" in result.output


def test_perf_counts_errors_by_code(tmp_path: Path) -> None:
    with FakeRewardServer() as server:
        result = CliRunner().invoke(
            main,
            [
                "perf",
                "--target",
                server.address,
                "--scorer",
                "no_such_scorer",
                "--concurrency",
                "1",
                "--count",
                "3",
                "--warmup-s",
                "0",
                "--seconds",
                "0.25",
                "--size",
                "16x16",
                "--json",
                str(tmp_path / "p.json"),
            ],
        )
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["levels"][0]["errors"].get("INVALID_ARGUMENT", 0) >= 3
    assert result.exit_code == 1  # nothing succeeded
