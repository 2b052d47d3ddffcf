"""Start and stop an embedded local reward server (a subprocess on 127.0.0.1, port 0) for a benchmark run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


@dataclass
class EmbeddedServerSpec:
    """Which scorers the embedded server hosts, and with what weights/backend."""

    scorers: tuple[str, ...]
    weights: str = "tiny"
    backend: str = "torch"
    device: str = "cpu"
    max_batch_size: int = 8
    allowed_roots: tuple[str, ...] = ()
    startup_timeout_s: float = 600.0
    extra_scorer_options: dict[str, dict] = field(default_factory=dict)
    # Top-level server config merged in (e.g. plugins, maxSamplesPerRequest, decodeWorkers).
    extra_config: dict = field(default_factory=dict)


class EmbeddedServer:
    """Context manager: runs `omninft-serve` in a child process and yields its address once it is SERVING."""

    def __init__(
        self, spec: EmbeddedServerSpec, *, log_path: Path | None = None, raw_config: dict | None = None
    ) -> None:
        self.spec = spec
        self.raw_config = raw_config
        self._tmp = tempfile.TemporaryDirectory(prefix="omninft-embedded-")
        self.log_path = log_path or Path(self._tmp.name) / "server.log"
        self.address = ""
        self.pid = 0
        self.ready_s: float | None = None  # seconds from launch to SERVING (loading and warm-up included)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lifeline = (
            -1
        )  # write end of the pipe the child watches (omninft.reward_servers.serving.lifeline)

    def _config(self) -> dict:
        # One local client and no replicas to rebalance to: connection ageing would only cut long CPU requests
        # (a GOAWAY'd connection cancels RPCs still running after the grace period).
        local = {"host": "127.0.0.1", "port": 0, "metricsPort": -1, "maxConnectionAgeS": 0}
        if self.raw_config is not None:
            return {**local, **self.raw_config}
        scorers = {}
        for name in self.spec.scorers:
            scorers[name] = {
                "weights": self.spec.weights,
                "backend": self.spec.backend,
                "device": self.spec.device,
                "maxBatchSize": self.spec.max_batch_size,
                **self.spec.extra_scorer_options.get(name, {}),
            }
        return {
            **local,
            **self.spec.extra_config,
            "allowedUriRoots": [str(Path(r).resolve()) for r in self.spec.allowed_roots],
            "scorers": scorers,
        }

    @property
    def returncode(self) -> int | None:
        """The child's exit code, or None while it runs (or before it started)."""
        return None if self._proc is None else self._proc.poll()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> str:
        """Launch the server and block until it has written its port file (it is then SERVING)."""
        tmp = Path(self._tmp.name)
        cfg_path, port_file = tmp / "server.json", tmp / "port"
        # JSON is valid YAML, so the server's YAML loader reads it unchanged.
        cfg_path.write_text(json.dumps(self._config(), indent=2))
        cmd = [
            sys.executable,
            "-m",
            "omninft.reward_servers.cli",
            "--config",
            str(cfg_path),
            "--port-file",
            str(port_file),
        ]
        log = self.log_path.open("ab")
        t0 = time.perf_counter()
        env, child_fd = self._lifeline_env()
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, pass_fds=(child_fd,)
            )
        finally:
            os.close(child_fd)
            log.close()
        self.pid = self._proc.pid
        deadline = time.monotonic() + self.spec.startup_timeout_s
        while time.monotonic() < deadline:
            if port_file.exists():
                self.address = port_file.read_text().strip()
                self.ready_s = time.perf_counter() - t0
                return self.address
            if self._proc.poll() is not None:
                tail = self.log_tail(4000)
                raise RuntimeError(
                    f"embedded reward server exited with code {self._proc.returncode}:\n{tail}"
                )
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(
            f"embedded reward server not ready after {self.spec.startup_timeout_s:g} s (loading and warming up "
            f"its models; --server-start-timeout-s or OMNINFT_SERVER_START_TIMEOUT_S allows longer); "
            f"log: {self.log_path}"
        )

    def _lifeline_env(self) -> tuple[dict[str, str], int]:
        """The child's environment asking it to die with this process, and the pipe end it inherits.

        This process keeps the only write end (not inheritable, so no other child holds it): when it dies, even
        by SIGKILL, the child reads end of file. On Linux the kernel also SIGKILLs the child at once
        (PR_SET_PDEATHSIG), but only when launched from the main thread: the signal follows the launching
        thread, and a worker thread that exits would take the server with it.
        """
        read_fd, write_fd = os.pipe()
        self._close_lifeline()
        self._lifeline = write_fd
        env = os.environ.copy()
        env["OMNINFT_PARENT_PID"] = str(os.getpid())
        env["OMNINFT_PARENT_PIPE_FD"] = str(read_fd)
        env["OMNINFT_PARENT_DEATHSIG"] = "1" if threading.current_thread() is threading.main_thread() else "0"
        return env, read_fd

    def _close_lifeline(self) -> None:
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM (graceful drain), then SIGKILL if it does not exit in time."""
        if self._proc is None or self._proc.poll() is not None:
            self._close_lifeline()
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._close_lifeline()

    def __enter__(self) -> EmbeddedServer:
        if self._proc is None:  # already started (e.g. several launched in parallel) is fine
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()
