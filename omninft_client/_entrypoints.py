"""Console scripts, resolved lazily so a client-only install says which extra a command needs.

The base install (`omninft_client`) puts every console script on PATH; the servers, benchmark and trainer
need optional dependencies. Each script loads its real command by name here and, when a dependency is
missing, prints the pip command of the extra instead of a ModuleNotFoundError traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def install_hint(extra: str) -> str:
    """The pip command that installs `extra` (omninft is installed from a clone of its repository)."""
    return f'pip install -e ".[{extra}]" in your clone of the omninft repository'


def _missing(prog: str, extra: str, err: ModuleNotFoundError) -> None:
    sys.stderr.write(
        f"{prog} needs the '{extra}' extra ({err.name or 'a dependency'} is not installed): "
        f"{install_hint(extra)}\n"
    )
    raise SystemExit(1)


def _run(target: str, prog: str, extra: str) -> Any:
    """Import `module:attr` and call it; a missing third-party module becomes a one-line install hint."""
    module, attr = target.split(":")
    try:
        fn: Callable[[], Any] = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as err:
        if (err.name or "").startswith("omninft"):
            raise
        _missing(prog, extra, err)
    try:
        return fn()
    except ModuleNotFoundError as err:  # a command importing its heavy dependencies lazily
        if (err.name or "").startswith("omninft"):
            raise
        _missing(prog, extra, err)


def serve() -> Any:
    """omninft-serve."""
    return _run("omninft.reward_servers.cli:serve_main", "omninft-serve", "serve")


def export() -> Any:
    """omninft-export."""
    return _run("omninft.reward_servers.cli:export_main", "omninft-export", "serve")


def bench() -> Any:
    """omninft-bench."""
    return _run("omninft.bench.cli:main", "omninft-bench", "bench")


def train() -> Any:
    """omninft-train."""
    return _run("omninft.trainer.cli:main", "omninft-train", "train")
