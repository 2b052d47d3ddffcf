"""An embedded server dies with a SIGKILLed benchmark (issue 13): PR_SET_PDEATHSIG on Linux, a pipe watchdog always."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Starts one server from the main thread and one from a worker thread that has exited by the time the parent
# is killed (so the death signal, which follows the launching thread, must not be what keeps it tied).
_PARENT = """
import sys, threading, time
from omninft.bench.embedded import EmbeddedServer, EmbeddedServerSpec

def server():
    raw = {"plugins": {"brightness": "tests.helpers.scorers:build"},
           "scorers": {"brightness": {"options": {"kind": "brightness"}}}}
    return EmbeddedServer(EmbeddedServerSpec(scorers=("brightness",), startup_timeout_s=120), raw_config=raw)

main = server()
main.start()
worker = server()
t = threading.Thread(target=worker.start)
t.start()
t.join()
time.sleep(1.0)
print(main.pid, worker.pid, worker.returncode, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie nobody reaped (no init in a container) is dead too


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_embedded_servers_die_with_a_sigkilled_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().split()
        assert len(line) == 3, f"parent did not start its servers: {line}"
        main_pid, worker_pid = int(line[0]), int(line[1])
        assert line[2] == "None", "the server launched from a worker thread died with that thread"
        assert _alive(main_pid) and _alive(worker_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (_alive(main_pid) or _alive(worker_pid)):
            time.sleep(0.1)
        left = [pid for pid in (main_pid, worker_pid) if _alive(pid)]
    finally:
        if parent.poll() is None:
            parent.kill()
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # do not leak servers from a failing test
    assert left == [], f"server(s) {left} outlived their SIGKILLed parent"
