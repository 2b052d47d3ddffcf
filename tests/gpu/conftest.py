"""GPU tests are opt-in: they run only with a CUDA device and OMNINFT_RUN_GPU=1, and are marked `gpu`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def _gpu_enabled() -> tuple[bool, str]:
    """Whether GPU tests may run here, and why not."""
    if os.environ.get("OMNINFT_RUN_GPU", "") != "1":
        return False, "GPU tests are opt-in: set OMNINFT_RUN_GPU=1"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA device visible to torch"
    return True, ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/gpu as `gpu` and skip it unless the GPU is enabled."""
    enabled, reason = _gpu_enabled()
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.gpu)
            if not enabled:
                item.add_marker(pytest.mark.skip(reason=reason))
