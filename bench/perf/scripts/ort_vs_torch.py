"""ONNX Runtime vs torch eager per scorer: the same preprocessed items through `forward`, batch B.

    python -m omninft.bench.perf.scripts.ort_vs_torch --scorers clap,clip --weights tiny

Target on CPU: onnxruntime / torch throughput >= 1.2x. Also checks the two backends agree.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from omninft.bench.perf.scripts._common import report, throughput
from omninft.bench.perf.scripts.serving_overhead import synthetic_samples
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build


def main() -> None:
    """Time forward() of each scorer on both backends and print the speed-up."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scorers", default="clap,clip")
    ap.add_argument("--weights", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    samples = synthetic_samples(args.batch, 4.0, 240, 426)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="omninft-ort-") as onnx_dir:
        for name in args.scorers.split(","):
            res = {}
            outputs = {}
            for backend in ("torch", "onnxruntime"):
                scorer = build(name, ScorerConfig(weights=args.weights, backend=backend, onnx_dir=onnx_dir,
                                                  max_batch_size=args.batch, options={"text_cache_size": 0}))
                items = [scorer.preprocess(s) for s in samples]
                outputs[backend] = [scorer.postprocess(o).scores for o in scorer.forward(items)]
                res[backend] = throughput(lambda s=scorer, it=items: len(s.forward(it)), seconds=args.seconds)
            diff = max(abs(a[k] - b[k]) for a, b in zip(outputs["torch"], outputs["onnxruntime"], strict=True)
                       for k in a)
            rows[name] = {"torch_samples_per_s": res["torch"], "onnxruntime_samples_per_s": res["onnxruntime"],
                          "speedup": res["onnxruntime"] / res["torch"], "max_abs_score_diff": float(np.float64(diff))}
    report("ort_vs_torch", {"weights": args.weights, "batch": args.batch, "scorers": rows, "target": ">= 1.2x"})


if __name__ == "__main__":
    main()
