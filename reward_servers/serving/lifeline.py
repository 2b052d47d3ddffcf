"""Tie a child server's life to the process that launched it (the benchmark's embedded server).

A parent that is SIGKILLed cannot stop its children, and an orphaned server with real weights holds a GPU and
gigabytes of memory. The launcher (bench/embedded.py) opts in through the environment:

- OMNINFT_PARENT_PID: the launcher's pid; a server whose parent is already gone at start-up exits at once.
- OMNINFT_PARENT_DEATHSIG=1 (Linux): the kernel SIGKILLs the server when the launching thread dies
  (prctl PR_SET_PDEATHSIG); the launcher sets it only when launching from its main thread.
- OMNINFT_PARENT_PIPE_FD: the read end of a pipe whose write end only the launcher holds; end of file means
  the launcher is gone (any OS). The server then drains as on SIGTERM and is killed if that takes too long.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

PARENT_PID_ENV = "OMNINFT_PARENT_PID"
PARENT_DEATHSIG_ENV = "OMNINFT_PARENT_DEATHSIG"
PARENT_PIPE_ENV = "OMNINFT_PARENT_PIPE_FD"
_PR_SET_PDEATHSIG = 1
# Seconds a server whose launcher vanished gets to drain before it is killed.
ORPHAN_GRACE_S = 10.0


def tie_to_parent(env: Mapping[str, str] | None = None) -> bool:
    """Apply whatever the launcher asked for in `env` (default os.environ); True if any lifeline is active."""
    env = os.environ if env is None else env
    ppid = _int(env.get(PARENT_PID_ENV, ""))
    if ppid <= 0:
        return False
    if env.get(PARENT_DEATHSIG_ENV) == "1" and sys.platform.startswith("linux"):
        _set_pdeathsig(signal.SIGKILL)
    # The parent may have died before the death signal was armed: then nobody will ever send it.
    if os.getppid() != ppid:
        log.error("launcher (pid %d) is gone; exiting", ppid)
        os._exit(1)
    fd = _int(env.get(PARENT_PIPE_ENV, ""))
    if fd >= 0:
        threading.Thread(target=_watch_pipe, args=(fd, ppid), name="omninft-lifeline", daemon=True).start()
    return True


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


def _set_pdeathsig(sig: int) -> None:
    """prctl(PR_SET_PDEATHSIG, sig) through libc; a failure is logged (the pipe watchdog still applies)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)


def _watch_pipe(fd: int, ppid: int) -> None:
    """Block on the lifeline pipe; at end of file, SIGTERM ourselves, then exit hard after the grace."""
    with contextlib.suppress(OSError):
        while os.read(fd, 4096):
            pass  # the launcher never writes; data would only mean a confused caller
    log.error("launcher (pid %d) exited without stopping this server; shutting down", ppid)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_S)
    os._exit(1)
