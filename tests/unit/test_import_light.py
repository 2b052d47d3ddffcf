"""The client package stays light: importing it never pulls torch, the server package or optional grpc add-ons."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = (
    "torch",
    "omninft",
    "grpc_health",
    "grpc_status",
    "grpc_reflection",
    "onnxruntime",
    "transformers",
    "av",
    "soundfile",
    "tritonclient",
)

_PROBE = """
import importlib.abc, json, sys
FORBIDDEN = set(json.loads(sys.argv[1]))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"omninft_client must not import {name}")
        return None

sys.meta_path.insert(0, Block())
import omninft_client, omninft_client.testing, omninft_client.aio, omninft_client.client
import omninft_client._base, omninft_client.errors, omninft_client.media
loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
print(json.dumps({"loaded": loaded, "version": omninft_client.__version__}))
"""


def test_import_does_not_pull_heavy_packages() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert report["version"]
