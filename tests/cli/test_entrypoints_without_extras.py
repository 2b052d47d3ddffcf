"""Console scripts on a client-only install: one line naming the extra to install (issue 17 item 7)."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "yaml", "av", "transformers"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
sys.argv = [%(prog)r, *%(args)r]
from omninft_client import _entrypoints
_entrypoints.%(fn)s()
"""


@pytest.mark.parametrize(
    ("fn", "prog", "args", "extra"),
    [
        ("serve", "omninft-serve", ["--scorer", "clap"], "serve"),
        ("export", "omninft-export", ["--scorer", "clap"], "serve"),
        ("train", "omninft-train", ["--config", "trainer/configs/toy.yaml"], "train"),
        ("bench", "omninft-bench", ["demo-data", "--out", "/tmp/never-written-omninft"], "bench"),
    ],
)
def test_missing_extra_is_named(fn: str, prog: str, args: list[str], extra: str) -> None:
    code = BLOCK % {"prog": prog, "args": args, "fn": fn}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"{prog} needs the '{extra}' extra" in proc.stderr and f".[{extra}]" in proc.stderr
    assert "Traceback" not in proc.stderr
