"""Which scorers this installation can host, asked of a child Python (bench never imports reward_servers)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

log = logging.getLogger(__name__)

_PROBE = """
import importlib.util, json, sys
from omninft.reward_servers.scorers import registry
out = {}
for name in json.loads(sys.argv[1]):
    try:
        module = registry.target(name).split(":")[0]
        out[name] = importlib.util.find_spec(module) is not None
    except Exception:
        out[name] = False
print(json.dumps(out))
"""


def installed_scorers(names: list[str], *, timeout_s: float = 180.0) -> dict[str, bool]:
    """For each scorer name, whether its module exists in this installation (no model is loaded)."""
    if not names:
        return {}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, json.dumps(names)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        # A slow machine (scorer discovery imports every scorer module) must not stop the run: assume they are
        # all present and let the server that loads them say otherwise.
        log.warning("listing the installed scorers took over %.0f s; assuming all are installed", timeout_s)
        return dict.fromkeys(names, True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"could not list the installed scorers (is omninft[serve] installed?): {proc.stderr[-2000:]}"
        )
    found: dict[str, bool] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found
