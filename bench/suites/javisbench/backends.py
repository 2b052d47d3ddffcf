"""Which inference backend the embedded JavisBench server gives each scorer (`--backend auto`, the default).

Chosen per scorer from `bench/perf/scripts/ort_vs_torch.py` runs at the size the suite runs (full-size
architectures; figures in bench/perf/RESULTS.md, "ONNX Runtime per scorer"): onnxruntime only where it was
clearly faster than torch eager on the CPU. Tiny weights (tests, `--demo`) always run torch: at tiny size ORT's
per-call overhead is a larger share and the one-off export would cost more than it saves.
"""

from __future__ import annotations

# scorer -> backend for official / random / PATH weights on CPU; scorers not listed run torch.
# clip: ViT-B/32 full size, 48 frames per sample: ORT 1.18x torch's samples/s; clap: HTSAT-unfused + RoBERTa full
# size, batch 2: 1.13x (scores within 1.7e-7 of torch's; RESULTS.md). The graphs are exported once per weights
# sha256 into the ONNX cache on the first start (the embedded server's first run pays it).
EMBEDDED_BACKENDS: dict[str, str] = {"clip": "onnxruntime", "clap": "onnxruntime"}


def embedded_backend(scorer: str, weights: str, device: str = "cpu") -> str:
    """The backend `--backend auto` gives `scorer` with these weights on this device."""
    if weights == "tiny" or not device.startswith("cpu"):
        return "torch"
    return EMBEDDED_BACKENDS.get(scorer, "torch")
