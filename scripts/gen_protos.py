"""Regenerate omninft_client/v1 from protos/ with the pinned grpcio-tools (run: python scripts/gen_protos.py)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

PINNED_GRPCIO_TOOLS = "1.85.1"
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    """Run protoc for every .proto under protos/ and fix up the generated imports."""
    from importlib.metadata import version

    import google.rpc
    from grpc_tools import protoc

    have = version("grpcio-tools")
    if have != PINNED_GRPCIO_TOOLS:
        print(
            f"grpcio-tools {have} installed, {PINNED_GRPCIO_TOOLS} pinned: pip install grpcio-tools=={PINNED_GRPCIO_TOOLS}"
        )
        return 2
    import grpc_tools

    googleapis = Path(google.rpc.__path__[0]).parent.parent
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(p.relative_to(ROOT / "protos") for p in (ROOT / "protos").rglob("*.proto"))
    args = [
        "protoc",
        f"-I{ROOT / 'protos'}",
        f"-I{googleapis}",
        f"-I{well_known}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *[str(p) for p in protos],
    ]
    cwd = os.getcwd()
    os.chdir(ROOT / "protos")
    try:
        rc = protoc.main(args)
    finally:
        os.chdir(cwd)
    if rc != 0:
        return rc
    # grpc_tools emits absolute imports rooted at protos/ ("from omninft_client.v1 import ..."), which is
    # already the installed package path; only normalise trailing whitespace for stable diffs.
    for out in (ROOT / "omninft_client" / "v1").glob("*_pb2*.py*"):
        text = out.read_text()
        text = re.sub(r"[ \t]+\n", "\n", text)
        out.write_text(text)
    print("generated:", ", ".join(sorted(p.name for p in (ROOT / "omninft_client" / "v1").glob("*_pb2*"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
