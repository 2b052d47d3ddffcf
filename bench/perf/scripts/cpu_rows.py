"""Rows per backend call on a CPU: the per-row cost of each suite scorer's graphs at 1 row vs a full chunk.

    python -m omninft.bench.perf.scripts.cpu_rows --config W/ours-suite.yaml --scorers audiobox_aesthetics,i3d \\
        --samples 8 --rows 1,8

`--config`: an embedded-server JSON/YAML (`{"scorers": {name: {weights, options}}}`, as `vs_reference` writes),
so the full-size weights of the suite are used. Each (scorer, rows) runs in its own process (torch's thread pool
state and the allocator's high-water mark stay per run) on the same `--samples` synthetic 2 s clips: one warm
`forward` of one sample, then `forward` over all samples with the graphs called in chunks of `rows` rows
(`run_chunked` pads a partial chunk with copies of its last row, so a chunk of 8 rows fed 3 costs 8 rows).
Printed per run: wall and CPU seconds per sample, and the largest difference of the outputs from the first
`rows` value's. On a 2-core CPU a large GEMM gains little over a row's own (a 2 s clip is already hundreds of
tokens for most of these models), so 1 row per call costs about the same per row and never pays for padding.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report

# How each scorer's rows-per-call is set: ("max_batch_size", None) or ("option", NAME).
ROW_KNOB: dict[str, tuple[str, str | None]] = {
    "audiobox_aesthetics": ("max_batch_size", None),
    "audioclip": ("max_batch_size", None),
    "i3d": ("max_batch_size", None),
    "clap": ("max_batch_size", None),
    "clip": ("option", "image_batch_size"),
    "desync": ("option", "segment_batch"),
    "imagebind": ("option", "clip_batch_size"),
    "imagebind_avh": ("option", "clip_batch_size"),
}


def _child(
    name: str, rows: int, config: dict[str, Any], samples: int, seconds: float, backend: str
) -> dict[str, Any]:
    """Build `name` with `rows` rows per call; time forward over the samples; return outputs and timings."""
    import numpy as np

    from omninft.bench.perf.scripts.serving_overhead import synthetic_samples
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    entry = config["scorers"][name]
    options = dict(entry.get("options", {}))
    knob, option = ROW_KNOB[name]
    max_batch = max(rows, samples) if knob == "option" else rows
    if option:
        options[option] = rows
    scorer = registry.build(
        name,
        ScorerConfig(weights=entry["weights"], backend=backend, max_batch_size=max_batch, options=options),
    )
    items = [scorer.preprocess(s) for s in synthetic_samples(samples, seconds, 96, 128)]
    scorer.forward(items[:1])
    c0, t0 = time.process_time(), time.perf_counter()
    raw = scorer.forward(items)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    outs = [scorer.postprocess(r) for r in raw]
    flat = [
        [float(v) for v in o.scores.values()]
        + [float(x) for e in o.embeddings.values() for x in np.asarray(e, dtype=np.float64).ravel()]
        for o in outs
    ]
    return {"wall_s_per_sample": wall / samples, "cpu_s_per_sample": cpu / samples, "outputs": flat}


def main() -> None:
    """Run every (scorer, rows) in a child process and print per-row costs relative to the first rows value."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="embedded-server JSON/YAML with the weights")
    ap.add_argument("--scorers", default=",".join(ROW_KNOB))
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--rows", default="1,8", help="comma list of rows per graph call")
    ap.add_argument("--clip-seconds", type=float, default=2.0)
    ap.add_argument("--backend", default="torch", help="torch | onnxruntime (graphs from the ONNX cache)")
    ap.add_argument("--child", nargs=2, metavar=("SCORER", "ROWS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    import yaml

    config = yaml.safe_load(args.config.read_text())
    if args.child:
        out = _child(args.child[0], int(args.child[1]), config, args.samples, args.clip_seconds, args.backend)
        print(json.dumps(out))
        return
    table: dict[str, Any] = {}
    for name in args.scorers.split(","):
        runs: dict[int, dict[str, Any]] = {}
        for rows in [int(r) for r in args.rows.split(",")]:
            cmd = [sys.executable, "-m", __spec__.name, "--config", str(args.config)]
            cmd += ["--samples", str(args.samples), "--clip-seconds", str(args.clip_seconds)]
            cmd += ["--backend", args.backend]
            proc = subprocess.run([*cmd, "--child", name, str(rows)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(name, rows, "failed:", proc.stderr[-1500:], file=sys.stderr, flush=True)
                continue
            runs[rows] = json.loads(proc.stdout.strip().splitlines()[-1])
        if not runs:
            continue
        first = runs[next(iter(runs))]
        row: dict[str, Any] = {}
        for rows, r in runs.items():
            diff = max(
                (
                    abs(a - b)
                    for x, y in zip(first["outputs"], r["outputs"], strict=True)
                    for a, b in zip(x, y, strict=True)
                ),
                default=0.0,
            )
            row[str(rows)] = {
                "wall_s_per_sample": round(r["wall_s_per_sample"], 4),
                "cpu_s_per_sample": round(r["cpu_s_per_sample"], 4),
                "cpu_vs_first": round(r["cpu_s_per_sample"] / first["cpu_s_per_sample"], 3),
                "max_abs_diff_vs_first": diff,
            }
            print(
                f"{name} rows={rows}: {r['wall_s_per_sample']:.3f} s/sample wall, "
                f"{r['cpu_s_per_sample']:.3f} CPU s/sample ({row[str(rows)]['cpu_vs_first']:.3f}x the first), "
                f"max |diff| {diff:.2e}",
                flush=True,
            )
        table[name] = row
    doc = {"samples": args.samples, "backend": args.backend, "scorers": table}
    report("cpu_rows", doc, variant=f"{args.backend}-{args.scorers.replace(',', '-')}-n{args.samples}")


if __name__ == "__main__":
    main()
