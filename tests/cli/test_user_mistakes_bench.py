"""omninft-bench: user mistakes are one line with the right exit code, never a traceback (issue 17)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from omninft.bench.cli import main
from omninft.bench.demo_data import write_demo_set
from omninft_client.testing import FakeRewardServer, FakeSample


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("demo")
    csv_path = write_demo_set(folder, n=3, seconds=0.5, height=48, width=64)
    return folder, csv_path


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _base(demo_set: tuple[Path, Path], out: Path) -> list[str]:
    folder, csv_path = demo_set
    return [
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
    ]


def test_help_and_version() -> None:
    for flag in ("-h", "--help"):
        code, out = _invoke([flag])
        assert code == 0 and "run" in out and "--debug" in out
    code, out = _invoke(["--version"])
    assert code == 0 and "omninft-bench, version" in out


def test_dead_server_fails_fast_with_connection_refused(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    start = time.monotonic()
    code, out = _invoke([*_base(demo_set, tmp_path / "out"), "--server", _dead_address()])
    assert code == 1 and "connection refused" in out
    assert time.monotonic() - start < 20


def test_perf_against_a_dead_server_is_one_line() -> None:
    code, out = _invoke(["perf", "--target", _dead_address(), "--duration-s", "1"])
    assert code == 1 and "connection refused" in out


def test_out_naming_a_file_is_a_usage_error(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    file = tmp_path / "results.txt"
    file.write_text("x")
    code, out = _invoke([*_base(demo_set, file), "--server", _dead_address()])
    assert code == 2 and "is a file" in out


def test_missing_samples_folder_is_a_usage_error(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    _, csv_path = demo_set
    code, out = _invoke(
        [
            "run",
            "javisbench",
            "--samples",
            str(tmp_path / "nope"),
            "--prompts",
            str(csv_path),
            "--metrics",
            "clip_score",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "no such folder" in out


def test_damaged_store_is_named_and_fresh_keeps_it_aside(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "store.sqlite").write_text("this is not a database")
    code, text = _invoke([*_base(demo_set, out), "--server", _dead_address()])
    assert code == 1 and "not a usable result store" in text and "--fresh" in text
    code, text = _invoke([*_base(demo_set, out), "--server", _dead_address(), "--fresh"])
    assert "kept as" in text
    assert (out / "store.sqlite.damaged-1").read_text() == "this is not a database"
    assert not (out / "store.sqlite").exists() or (out / "store.sqlite").read_bytes()[:6] == b"SQLite"


def test_unknown_routes_key_is_named(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"clpa: {_dead_address()}\n")
    code, out = _invoke([*_base(demo_set, tmp_path / "out"), "--servers", str(routes)])
    assert code == 2 and "unknown scorer 'clpa'" in out and "clap" in out


def test_unexpected_error_is_one_line_unless_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import omninft.bench.demo_data as demo_data

    def broken(*_: object, **__: object) -> Path:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(demo_data, "write_demo_set", broken)
    code, out = _invoke(["demo-data", "--out", str(tmp_path / "d")])
    assert code == 1 and "RuntimeError: disk on fire" in out and "--debug" in out
    result = CliRunner().invoke(main, ["--debug", "demo-data", "--out", str(tmp_path / "d")])
    assert isinstance(result.exception, RuntimeError)


def _clip(sample: FakeSample) -> dict[str, float]:
    if "1" in sample.id.split(":")[0]:
        raise ValueError("cannot score this one")
    return {"clip_score": 0.25}


def test_failed_samples_exit_non_zero_unless_allowed(demo_set: tuple[Path, Path], tmp_path: Path) -> None:
    with FakeRewardServer({"clip": _clip}, outputs={"clip": ["clip_score"]}) as srv:
        base = [*_base(demo_set, tmp_path / "out"), "--server", srv.address, "--send-bytes"]
        code, out = _invoke(base)
        assert (
            code == 1
            and "1 sample(s) failed for 1 metric(s) (clip_score 1)" in out
            and "--allow-failures" in out
        )
        assert "report.md" in out
        code, out = _invoke([*base, "--allow-failures"])
        assert code == 0 and "clip_score = 0.25" in out


def test_embedded_server_start_timeout_is_a_named_option(
    demo_set: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that cannot be ready within the limit: the run fails with one line that says how to allow longer,
    # whether the limit came from the option or from the environment.
    args = [*_base(demo_set, tmp_path / "a"), "--weights", "tiny", "--server-start-timeout-s", "0.05"]
    code, out = _invoke(args)
    assert code == 1
    assert "not ready after 0.05 s" in out and "--server-start-timeout-s" in out
    monkeypatch.setenv("OMNINFT_SERVER_START_TIMEOUT_S", "0.06")
    code, out = _invoke([*_base(demo_set, tmp_path / "b"), "--weights", "tiny"])
    assert code == 1 and "not ready after 0.06 s" in out
