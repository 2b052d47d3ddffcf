"""Install and run NVIDIA's `tritonserver` (from the nvidia-pytriton wheel) and `perf_analyzer` (from tritonclient).

Used by the Triton integration tests and `bench/perf/scripts/triton_vs_omninft.py`; everything goes to a
throwaway folder (`pip install --target`), never into the environment.

Facts this relies on (nvidia-pytriton 0.7.0, tritonserver 2.51):
- the wheel bundles `pytriton/tritonserver/bin/tritonserver`, its libraries in `nvidia_pytriton.libs` (put on
  LD_LIBRARY_PATH), the Python backend in `pytriton/tritonserver/backends/python`, and one Python-backend stub
  per Python version under `pytriton/tritonserver/python_backend_stubs/3.X/`; the stub must sit next to the
  backend, so a backend folder is assembled from links;
- the stub links the system libpython3.X.so.1.0 (Debian: libpython3.11) and takes its prefix from `python3` on
  PATH, so /usr/bin goes first; it ignores PYTHONPATH (our generated model.py adds it with site.addsitedir);
  binary packages of another 3.11 patch release load into it (the 3.11 ABI is stable);
- the stub passes BYTES tensors through pybind11's numpy API built against numpy 1.x: with numpy 2 every byte
  of a BYTES tensor reads as its first byte. numpy 1.26 goes first on the stub's path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PYTRITON = "nvidia-pytriton==0.7.0"
STUB_NUMPY = "numpy==1.26.4"
CUDA_RUNTIME = "nvidia-cuda-runtime-cu12==12.9.79"
LIBB64_DEB = "libb64-0d"


@dataclass(frozen=True)
class TritonInstall:
    """A tritonserver unpacked under `root`."""

    root: Path

    @property
    def server_dir(self) -> Path:
        """pytriton/tritonserver inside the unpacked wheel."""
        return self.root / "pytriton" / "pytriton" / "tritonserver"

    @property
    def binary(self) -> Path:
        """The tritonserver executable."""
        return self.server_dir / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        """Backend folder with the Python backend and the stub for this interpreter."""
        return self.root / "backends"

    def env(self, site_paths: list[str]) -> dict[str, str]:
        """Environment for tritonserver and its Python-backend stubs."""
        env = dict(os.environ)
        libs = str(self.root / "pytriton" / "nvidia_pytriton.libs")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libs, env.get("LD_LIBRARY_PATH", "")) if p)
        env["PYTHONPATH"] = os.pathsep.join([str(self.root / "stub-numpy"), *site_paths])
        # The stub embeds the system libpython3.X and finds its standard library through `python3` on PATH:
        # that must be the system interpreter, not a venv's (another patch release's lib-dynload fails to load).
        env["PATH"] = os.pathsep.join(["/usr/bin", env.get("PATH", "")])
        env.setdefault("OMP_NUM_THREADS", "1")
        return env


def _pip_target(spec: str, target: Path) -> None:
    """pip install --no-deps --target (a throwaway folder, never the environment)."""
    if target.exists():
        return
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp), spec], check=True
    )
    tmp.rename(target)


def install_triton(root: Path) -> TritonInstall:
    """Unpack tritonserver and the stub's numpy under `root` (idempotent) and assemble the backend folder."""
    root.mkdir(parents=True, exist_ok=True)
    _pip_target(PYTRITON, root / "pytriton")
    _pip_target(STUB_NUMPY, root / "stub-numpy")
    inst = TritonInstall(root)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = inst.server_dir / "python_backend_stubs" / py / "triton_python_backend_stub"
    if not stub.exists():
        raise RuntimeError(f"nvidia-pytriton has no Python-backend stub for Python {py}")
    python = inst.backends / "python"
    python.mkdir(parents=True, exist_ok=True)
    for src in (*(inst.server_dir / "backends" / "python").iterdir(), stub):
        link = python / src.name
        if not link.exists() and src.name != "__pycache__":
            link.symlink_to(src)
    return inst


def site_paths() -> list[str]:
    """This interpreter's site-packages (the venv's first, then the base ones it sees)."""
    paths = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    paths += [p for p in sys.path if p.endswith("site-packages")]
    return list(dict.fromkeys(p for p in paths if p and os.path.isdir(p)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TritonProcess:
    """A running tritonserver."""

    process: subprocess.Popen[bytes]
    grpc_port: int
    log_path: Path

    @property
    def address(self) -> str:
        """host:port of its gRPC endpoint."""
        return f"127.0.0.1:{self.grpc_port}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server log (for error messages)."""
        return self.log_path.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def run_triton(
    inst: TritonInstall, repo: Path, log_path: Path, *, ready_timeout: float = 300.0
) -> Iterator[TritonProcess]:
    """tritonserver on 127.0.0.1 (free gRPC/HTTP ports, metrics off) serving `repo`; stopped on exit."""
    grpc_port, http_port = free_port(), free_port()
    cmd = [
        str(inst.binary),
        "--model-repository",
        str(repo),
        "--backend-directory",
        str(inst.backends),
        "--grpc-address",
        "127.0.0.1",
        "--grpc-port",
        str(grpc_port),
        "--http-address",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--allow-metrics",
        "false",
        "--exit-timeout-secs",
        "5",
        "--log-verbose",
        "0",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=inst.env(site_paths()))
    triton = TritonProcess(proc, grpc_port, log_path)
    try:
        _wait_ready(triton, ready_timeout)
        yield triton
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(triton: TritonProcess, timeout: float) -> None:
    """Poll ServerReady until true; RuntimeError with the log tail if the process dies or time runs out."""
    import tritonclient.grpc as tgrpc

    end = time.monotonic() + timeout
    with tgrpc.InferenceServerClient(triton.address) as client:
        while time.monotonic() < end:
            if triton.process.poll() is not None:
                raise RuntimeError(
                    f"tritonserver exited with {triton.process.returncode}:\n{triton.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if client.is_server_ready(client_timeout=2):
                    return
            time.sleep(0.5)
    raise RuntimeError(f"tritonserver not ready after {timeout:.0f} s:\n{triton.log_tail()}")


def perf_analyzer_binary() -> Path | None:
    """perf_analyzer from the installed tritonclient wheel (its data/bin goes to the scripts folder)."""
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        path = folder / "perf_analyzer"
        if path.exists():
            return path
    found = shutil.which("perf_analyzer")
    return Path(found) if found else None


def install_perf_analyzer_libs(root: Path) -> Path:
    """A folder with libcudart.so.12 and libb64.so.0d for perf_analyzer (pip and `apt-get download`, no root)."""
    libs = root / "perf-libs"
    libs.mkdir(parents=True, exist_ok=True)
    _pip_target(CUDA_RUNTIME, root / "cuda-runtime")
    for so in (root / "cuda-runtime").rglob("libcudart.so.12"):
        link = libs / so.name
        if not link.exists():
            link.symlink_to(so)
    if not _system_has("libb64.so.0d") and not (libs / "libb64.so.0d").exists():
        deb_dir = root / "deb"
        deb_dir.mkdir(exist_ok=True)
        subprocess.run(["apt-get", "download", LIBB64_DEB], cwd=deb_dir, check=True, capture_output=True)
        (deb,) = deb_dir.glob("libb64-0d_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(deb_dir / "x")], check=True)
        for so in (deb_dir / "x").rglob("libb64.so.0d*"):
            if not (libs / so.name).exists():
                shutil.copy2(so, libs / so.name, follow_symlinks=True)
    return libs


def _system_has(soname: str) -> bool:
    """Whether the dynamic linker already finds `soname`."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return soname in out
