"""`omninft-bench serve-local`: one warm local server answers several `run --server` calls (issue 15 item 2)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omninft.bench.demo_data import write_demo_set

pytestmark = pytest.mark.timeout(600)


def _bench() -> list[str]:
    exe = shutil.which("omninft-bench")
    if exe:
        return [exe]
    return [sys.executable, "-c", "from omninft_client._entrypoints import bench; bench()"]


def test_serve_local_keeps_one_server_for_several_runs(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    csv_path = write_demo_set(folder, n=2, seconds=0.5, height=32, width=48)
    address_file = tmp_path / "address"
    serve = subprocess.Popen(
        [
            *_bench(),
            "serve-local",
            "javisbench",
            "--weights",
            "tiny",
            "--metrics",
            "clap_score",
            "--allow-root",
            str(folder),
            "--address-file",
            str(address_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 400
        while not address_file.exists():
            assert serve.poll() is None, serve.communicate()[1]
            assert time.monotonic() < deadline, "serve-local did not become ready"
            time.sleep(0.2)
        address = address_file.read_text().strip()
        values = []
        for run in ("a", "b"):
            out = tmp_path / run
            done = subprocess.run(
                [
                    *_bench(),
                    "run",
                    "javisbench",
                    "--no-progress",
                    "--server",
                    address,
                    "--send-uris",
                    "--samples",
                    str(folder),
                    "--prompts",
                    str(csv_path),
                    "--metrics",
                    "clap_score",
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr
            doc = json.loads((out / "results.json").read_text())
            assert doc["counts"]["clap_score"]["scored"] == 2
            values.append(doc["results"]["clap_score"])
            # the run reached the warm server and started none of its own
            assert not (out / "server.log").exists()
        assert values[0] == values[1]
        assert serve.poll() is None  # still serving after both runs
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=90)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0, err
    assert "Traceback" not in err and "ready in" in err
    assert not address_file.exists()
    host, port = address.rsplit(":", 1)
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=5):
        pass  # the server went with the command
