"""ONNX Runtime vs torch eager per scorer: the same preprocessed items through `forward`, batch B.

    python -m omninft.bench.perf.scripts.ort_vs_torch --scorers clap,clip --weights tiny

Each (scorer, backend) runs in its own process: torch's OpenMP pool and ORT's intra-op pool both spin after
work, so timing them in one process measures their contention, not the backends. Target on CPU:
onnxruntime / torch throughput >= 1.2x. Also reports how far the two backends' scores are apart.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from omninft.bench.perf.scripts._common import report, throughput


def _measure(name: str, backend: str, weights: str, batch: int, seconds: float, onnx_dir: str) -> dict:
    """Child-process body: samples/s of forward() and the scores of the first pass."""
    from omninft.bench.perf.scripts.serving_overhead import synthetic_samples
    from omninft.reward_servers.scorers.base import ScorerConfig
    from omninft.reward_servers.scorers.registry import build

    scorer = build(
        name,
        ScorerConfig(
            weights=weights,
            backend=backend,
            onnx_dir=onnx_dir,
            max_batch_size=batch,
            options={"text_cache_size": 0},
        ),
    )
    items = [scorer.preprocess(s) for s in synthetic_samples(batch, 4.0, 240, 426)]
    scores = [scorer.postprocess(o).scores for o in scorer.forward(items)]
    sps = throughput(lambda: len(scorer.forward(items)), seconds=seconds)
    return {"samples_per_s": sps, "scores": scores}


def main() -> None:
    """Time forward() of each scorer on both backends (separate processes) and print the speed-up."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scorers", default="clap,clip")
    ap.add_argument("--weights", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--child", nargs=3, metavar=("SCORER", "BACKEND", "ONNX_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        name, backend, onnx_dir = args.child
        print(json.dumps(_measure(name, backend, args.weights, args.batch, args.seconds, onnx_dir)))
        return
    rows = {}
    with tempfile.TemporaryDirectory(prefix="omninft-ort-") as onnx_dir:
        for name in args.scorers.split(","):
            res = {}
            for backend in ("torch", "onnxruntime"):
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        __spec__.name,
                        "--weights",
                        args.weights,
                        "--batch",
                        str(args.batch),
                        "--seconds",
                        str(args.seconds),
                        "--child",
                        name,
                        backend,
                        onnx_dir,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                res[backend] = json.loads(out.stdout.strip().splitlines()[-1])
            diff = max(
                abs(a[k] - b[k])
                for a, b in zip(res["torch"]["scores"], res["onnxruntime"]["scores"], strict=True)
                for k in a
            )
            rows[name] = {
                "torch_samples_per_s": res["torch"]["samples_per_s"],
                "onnxruntime_samples_per_s": res["onnxruntime"]["samples_per_s"],
                "speedup": res["onnxruntime"]["samples_per_s"] / res["torch"]["samples_per_s"],
                "max_abs_score_diff": diff,
            }
    report(
        "ort_vs_torch",
        {"weights": args.weights, "batch": args.batch, "scorers": rows, "target": ">= 1.2x"},
        variant=f"{args.weights}-{args.scorers.replace(',', '-')}",
    )


if __name__ == "__main__":
    main()
