"""omninft-serve stopped with Ctrl-C (SIGINT), as a person at a terminal would: a clear message, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.cli.test_serve_cli import REPO, _serve_command


def test_ctrl_c_says_what_happens_and_exits_zero(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("OMNINFT_AUTH_TOKEN", None)
    proc = subprocess.Popen(
        [
            *_serve_command(),
            "--scorer",
            "toy_audio",
            "--weights",
            "tiny",
            "--port",
            "0",
            "--metrics-port",
            "-1",
            "--port-file",
            str(port_file),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "server never wrote its port file"
            time.sleep(0.05)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        # A clean stop ends the process promptly (no final GC walk over every object: gc.freeze before exit).
        assert time.monotonic() - stopped_at < 10
        _, stderr = proc.communicate()
        assert "Ctrl-C (SIGINT): draining: new calls are refused, 0 call(s) in flight get up to" in stderr
        assert "(Ctrl-C again stops at once)" in stderr
        assert stderr.rstrip().endswith("stopped")
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_while_a_scorer_loads_exits_without_waiting_for_it(tmp_path: Path) -> None:
    """A stop during a long checkpoint load ends the process promptly (the load runs in a daemon thread)."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "metricsPort: -1\n"
        "plugins:\n"
        "  brightness: tests.helpers.scorers:build\n"
        "scorers:\n"
        "  brightness: {options: {load_delay_s: 300}}\n"
    )
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("OMNINFT_AUTH_TOKEN", None)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*_serve_command(), "--config", str(cfg), "--port", "0"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 120
        while "building scorer brightness" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the server never started building its scorer"
            time.sleep(0.1)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert time.monotonic() - stopped_at < 30  # the 300 s load was abandoned, not awaited
        assert "Traceback" not in log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
