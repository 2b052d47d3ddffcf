"""The --demo media are byte-identical across writes and across machines with different CPU counts (issue 13)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omninft.bench.demo_data import write_demo_set

_WRITE = """
import hashlib, os, sys
from pathlib import Path
from omninft.bench.demo_data import write_mp4
from omninft.bench.synth import bouncing_disc_clip
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: int(sys.argv[1])])
out = Path(sys.argv[2])
for i in range(3):
    write_mp4(out / f"{i}.mp4", bouncing_disc_clip(i, seconds=1.0, height=144, width=256))
    print(hashlib.sha256((out / f"{i}.mp4").read_bytes()).hexdigest())
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_two_writes_are_byte_identical(tmp_path: Path) -> None:
    a = write_demo_set(tmp_path / "a", n=3, seconds=1.0, height=96, width=128).parent
    b = write_demo_set(tmp_path / "b", n=3, seconds=1.0, height=96, width=128).parent
    assert _digests(a) == _digests(b)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs CPU affinity control and at least 2 CPUs",
)
def test_bytes_do_not_depend_on_the_cpu_count(tmp_path: Path) -> None:
    """x264 sizes its thread pool from the CPUs it may use; the demo encoder must not."""
    outs = []
    for cpus in (1, len(os.sched_getaffinity(0))):
        folder = tmp_path / f"cpus{cpus}"
        folder.mkdir()
        proc = subprocess.run(
            [sys.executable, "-c", _WRITE, str(cpus), str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        outs.append(proc.stdout.split())
    assert len(outs[0]) == 3 and outs[0] == outs[1]
