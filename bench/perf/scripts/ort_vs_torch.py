"""ONNX Runtime vs torch eager per scorer: the same preprocessed items through `forward`, batch B.

    python -m omninft.bench.perf.scripts.ort_vs_torch --scorers clap,clip --weights tiny
    # the suite's full-size scorers on the saved weights of `server_ready weights`, ORT settings swept:
    python -m omninft.bench.perf.scripts.ort_vs_torch --scorers i3d,audioclip --weights-dir /tmp/ready-weights \\
        --batch 4 --ort-variants all,basic,all/1,all/iob

Each (scorer, backend, setting) runs in its own process: torch's OpenMP pool and ORT's intra-op pool both spin
after work, so timing them in one process measures their contention, not the backends. Besides samples/s of
wall time, each child reports the CPU seconds its process spent per sample (user + system), which a machine
shared with other jobs distorts much less than wall time. ORT settings (`--ort-variants`, comma list of
LEVEL[/THREADS][/iob]): graph optimisation level (disabled | basic | extended | all), intra-op threads (default:
the backend's, = physical cores), and `iob` = inputs and outputs bound with IOBinding instead of `run`. The
first pass's scores of every setting are compared with torch's. Target on CPU: onnxruntime / torch >= 1.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report


def _iobinding_run(self: Any, graph: str, inputs: Any) -> dict[str, Any]:
    """OrtBackend.run through IOBinding: CPU inputs bound in place, outputs allocated by ORT."""
    import numpy as np

    g = self._get(graph)
    binding = g.session.io_binding()
    for name, arr in self._feed(g, inputs).items():
        binding.bind_cpu_input(name, arr)
    for name in g.output_names:
        binding.bind_output(name, "cpu")
    g.session.run_with_iobinding(binding)
    outs = binding.copy_outputs_to_cpu()
    return {n: np.asarray(o, dtype=np.float32) for n, o in zip(g.output_names, outs, strict=True)}


def _measure(
    name: str, backend: str, weights: str, batch: int, seconds: float, onnx_dir: str, variant: str
) -> dict[str, Any]:
    """Child-process body: samples/s and CPU s/sample of forward(), and the scores of the first pass."""
    from omninft.bench.perf.scripts.serving_overhead import synthetic_samples
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    parts = variant.split("/") if backend == "onnxruntime" else []
    if parts:
        os.environ["OMNINFT_ORT_OPT_LEVEL"] = parts[0]
        threads = [p for p in parts[1:] if p.isdigit()]
        if threads:
            os.environ["OMNINFT_ORT_THREADS"] = threads[0]
        if "iob" in parts[1:]:
            from omninft.reward_servers.backends.onnxruntime_backend import OrtBackend

            OrtBackend.run = _iobinding_run  # type: ignore[method-assign]
    options = {"text_cache_size": 0} if "text_cache_size" in _option_names(name) else {}
    weights_of = json.loads(weights) if weights.startswith("{") else {}
    scorer_weights = weights_of.get(name, {}).get("weights", weights) if weights_of else weights
    options.update(weights_of.get(name, {}).get("options", {}))
    t0 = time.perf_counter()
    scorer = registry.build(
        name,
        ScorerConfig(
            weights=scorer_weights, backend=backend, onnx_dir=onnx_dir, max_batch_size=batch, options=options
        ),
    )
    build_s = time.perf_counter() - t0
    items = [scorer.preprocess(s) for s in synthetic_samples(batch, 4.0, 240, 426)]
    first = [scorer.postprocess(o) for o in scorer.forward(items)]
    scores = [r.scores for r in first]
    embeds = [{k: [float(x) for x in v[:8]] for k, v in r.embeddings.items()} for r in first]
    n, cpu0, t1 = 0, time.process_time(), time.perf_counter()
    while n == 0 or time.perf_counter() - t1 < seconds:
        n += len(scorer.forward(items))
    wall, cpu = time.perf_counter() - t1, time.process_time() - cpu0
    return {
        "samples_per_s": n / wall,
        "cpu_s_per_sample": cpu / n,
        "samples": n,
        "build_s": build_s,
        "scores": scores,
        "embeddings_head": embeds,
    }


def _option_names(name: str) -> set[str]:
    """Option names a scorer accepts (text_cache_size only where the scorer has a text cache)."""
    import dataclasses

    from omninft.reward_servers.scorers import registry

    opts = registry.spec(name).options
    return {f.name for f in dataclasses.fields(opts)} if opts is not None else set()


def _max_diff(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    """Largest absolute difference between two runs' scores and embedding heads."""
    diffs = [0.0]
    for x, y in zip(a, b, strict=True):
        for k in x:
            if isinstance(x[k], list):
                diffs += [abs(p - q) for p, q in zip(x[k], y[k], strict=True)]
            else:
                diffs.append(abs(x[k] - y[k]))
    return max(diffs)


def weights_from_dir(weights_dir: Path) -> str:
    """A JSON map scorer -> {weights, options} for the files `server_ready weights` wrote."""
    from omninft.bench.perf.scripts.server_ready import BPE, LAYOUT

    out: dict[str, Any] = {n: {"weights": str(weights_dir / rel)} for n, rel in LAYOUT.items()}
    if (weights_dir / BPE).is_file():
        out["imagebind"]["options"] = {"tokenizer": str(weights_dir / BPE)}
    return json.dumps(out)


def main() -> None:
    """Time forward() of each scorer on both backends (separate processes) and print the speed-up."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scorers", default="clap,clip")
    ap.add_argument("--weights", default="tiny", help="tiny | random | PATH (every scorer)")
    ap.add_argument("--weights-dir", type=Path, help="per-scorer files written by `server_ready weights`")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--ort-variants", default="all", help="LEVEL[/THREADS][/iob], comma separated")
    ap.add_argument("--label", default="", help="result file suffix")
    ap.add_argument(
        "--child", nargs=4, metavar=("SCORER", "BACKEND", "ONNX_DIR", "VARIANT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    weights = weights_from_dir(args.weights_dir.resolve()) if args.weights_dir else args.weights
    if args.child:
        name, backend, onnx_dir, variant = args.child
        print(json.dumps(_measure(name, backend, weights, args.batch, args.seconds, onnx_dir, variant)))
        return
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="omninft-ort-") as onnx_dir:
        for name in args.scorers.split(","):
            runs = [("torch", "-")] + [("onnxruntime", v) for v in args.ort_variants.split(",")]
            res: dict[str, Any] = {}
            for backend, variant in runs:
                cmd = [sys.executable, "-m", __spec__.name, "--batch", str(args.batch)]
                cmd += ["--seconds", str(args.seconds), "--weights", args.weights]
                if args.weights_dir:
                    cmd += ["--weights-dir", str(args.weights_dir)]
                out = subprocess.run(
                    [*cmd, "--child", name, backend, onnx_dir, variant],
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    res[f"{backend}:{variant}"] = {"error": out.stderr.strip().splitlines()[-1:]}
                    print(name, backend, variant, "failed:", out.stderr[-2000:], file=sys.stderr, flush=True)
                    continue
                res[f"{backend}:{variant}"] = json.loads(out.stdout.strip().splitlines()[-1])
                r = res[f"{backend}:{variant}"]
                print(
                    f"{name} {backend} {variant}: {r['samples_per_s']:.4g} samples/s, "
                    f"{r['cpu_s_per_sample']:.3g} CPU s/sample (built in {r['build_s']:.0f} s)",
                    flush=True,
                )
            torch_run = res.get("torch:-", {})
            row: dict[str, Any] = {"torch": torch_run and _summary(torch_run)}
            for key, r in res.items():
                if key == "torch:-" or "error" in r or "error" in torch_run or not torch_run:
                    row.setdefault("failed", {})[key] = r.get("error", "torch failed")
                    continue
                row[key] = {
                    **_summary(r),
                    "speedup_wall": r["samples_per_s"] / torch_run["samples_per_s"],
                    "speedup_cpu": torch_run["cpu_s_per_sample"] / r["cpu_s_per_sample"],
                    "max_abs_diff_vs_torch": _max_diff(
                        torch_run["scores"] + torch_run["embeddings_head"], r["scores"] + r["embeddings_head"]
                    ),
                }
            rows[name] = row
    report(
        "ort_vs_torch",
        {
            "weights": "weights-dir" if args.weights_dir else args.weights,
            "batch": args.batch,
            "scorers": rows,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "target": ">= 1.2x",
        },
        variant=args.label or f"{args.weights}-{args.scorers.replace(',', '-')}",
    )


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("samples_per_s", "cpu_s_per_sample", "samples", "build_s")}


if __name__ == "__main__":
    main()
