"""The server Dockerfiles: non-root, no weights inside, a health check, ports agreeing with the server defaults.

The images cannot be built on the test machine (no container daemon); these checks keep the files honest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from omninft.reward_servers.serving.config import ServerConfig

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "helm" / "images").glob("Dockerfile.*"))
# The omninft-serve images; Dockerfile.triton is Triton's server with omninft installed (engine: triton pools).
SERVE_DOCKERFILES = [p for p in DOCKERFILES if p.suffix != ".triton"]
TRITON_DOCKERFILE = REPO / "helm" / "images" / "Dockerfile.triton"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            head, _, rest = line.partition(" ")
            out.append((head.upper(), rest.strip()))
    return out


def test_all_variants_exist() -> None:
    assert {p.suffix for p in DOCKERFILES} == {".cpu", ".cuda", ".triton"}


@pytest.mark.parametrize("path", SERVE_DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_the_server_as_non_root_with_a_healthcheck(path: Path) -> None:
    steps = instructions(path)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    final = steps[last_from:]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (health,) = [arg for op, arg in final if op == "HEALTHCHECK"]
    assert "omninft-serve health" in health and "omninft.v1.RewardService" in health
    entry = [arg for op, arg in final if op == "ENTRYPOINT"]
    assert entry == ['["omninft-serve"]']
    exposed = {int(p) for op, arg in final if op == "EXPOSE" for p in arg.split()}
    defaults = ServerConfig()
    chart = yaml.safe_load((REPO / "helm" / "omninft-rewards" / "values.yaml").read_text())["server"]
    assert {
        defaults.port,
        defaults.metrics_port,
        chart["port"],
        chart["metricsPort"],
        chart["healthPort"],
    } <= exposed


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_package_folder_is_copied_and_no_weights_are(path: Path) -> None:
    copies = [arg for op, arg in instructions(path) if op == "COPY" and "--from" not in arg]
    sources = {arg.split()[0] for arg in copies}
    setup = (REPO / "setup.py").read_text()
    folders = set(re.findall(r'"(\w+)"\s*[,}]', setup)) & {p.name for p in REPO.iterdir() if p.is_dir()}
    assert folders and folders <= sources
    assert not any(re.search(r"\.(pt|pth|safetensors|bin|onnx|plan)\b|weights", arg) for arg in copies)
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert not (folders & ignored)


def test_triton_image_is_tritons_server_with_omninft_serve_as_non_root() -> None:
    steps = instructions(TRITON_DOCKERFILE)
    (base,) = [arg for op, arg in steps if op == "FROM"]
    default = next(arg for op, arg in steps if op == "ARG" and arg.startswith("TRITON_IMAGE="))
    assert base == "${TRITON_IMAGE}" and default.startswith("TRITON_IMAGE=nvcr.io/nvidia/tritonserver:")
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    assert '".[serve]"' in runs and "triton_backend" in runs  # the Python-backend stub imports omninft
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert [arg for op, arg in steps if op == "ENTRYPOINT"] == ['["tritonserver"]']
    exposed = {int(p) for op, arg in steps if op == "EXPOSE" for p in arg.split()}
    triton = yaml.safe_load((REPO / "helm" / "omninft-rewards" / "values.yaml").read_text())["triton"]
    assert {triton["grpcPort"], triton["httpPort"], triton["metricsPort"]} <= exposed == {8000, 8001, 8002}
