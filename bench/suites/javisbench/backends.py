"""Which inference backend the embedded JavisBench server gives each scorer (`--backend auto`, the default).

Chosen per scorer from `bench/perf/scripts/ort_vs_torch.py` runs at the size the suite runs (full-size
architectures; figures in bench/perf/RESULTS.md, "ONNX Runtime per scorer"): onnxruntime only where it was
clearly faster than torch eager on the CPU. Tiny weights (tests, `--demo`) always run torch: at tiny size ORT's
per-call overhead is a larger share and the one-off export would cost more than it saves.
"""

from __future__ import annotations

# scorer -> backend for official / random / PATH weights on CPU; scorers not listed run torch.
EMBEDDED_BACKENDS: dict[str, str] = {}


def embedded_backend(scorer: str, weights: str, device: str = "cpu") -> str:
    """The backend `--backend auto` gives `scorer` with these weights on this device."""
    if weights == "tiny" or not device.startswith("cpu"):
        return "torch"
    return EMBEDDED_BACKENDS.get(scorer, "torch")
