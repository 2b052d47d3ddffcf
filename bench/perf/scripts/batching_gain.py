"""Dynamic batching gain: throughput at concurrency C with max_batch_size B vs 1 (same server, same load).

    python -m omninft.bench.perf.scripts.batching_gain --scorer clap --weights tiny

Default: the CLAP text tower (`clap_text`, Embed RPC, prompts only). Prompts are made unique per request so no
cache can hide the work. Target (CLAP text tower, small config): >= 3x. `--scorer clap --rpc score
--modalities audio` measures the whole CLAP scorer instead; `--in-process N` times the scorer's forward() on N
items at batch B vs 1 without a server (the gain the model itself allows).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from omninft.bench.perf.loadgen import LoadConfig, run_load
from omninft.bench.perf.scripts._common import report, served


def measure(
    scorer: str,
    weights: str,
    max_batch: int,
    concurrency: int,
    seconds: float,
    modalities: tuple[str, ...],
    clip_seconds: float,
    rpc: str,
) -> dict:
    """Served samples/s and latency for one max_batch_size."""
    cfg = {
        scorer: {
            "weights": weights,
            "maxBatchSize": max_batch,
            "maxQueueDelayMs": 5,
            "maxQueueSize": 4 * concurrency,
        }
    }
    with served(cfg) as srv:
        load = LoadConfig(
            target=srv.address,
            scorers=(scorer,),
            concurrency=(concurrency,),
            duration_s=seconds,
            warmup_s=2.0,
            unique_prompts=True,
            modalities=modalities,
            seconds=clip_seconds,
            height=64,
            width=96,
            rpc=rpc,
        )
        lv = run_load(load)[0]
    return {
        "samples_per_s": lv.throughput_sps,
        "p50_ms": lv.latency_ms["p50"],
        "p99_ms": lv.latency_ms["p99"],
        "errors": lv.errors,
    }


def in_process(scorer: str, weights: str, max_batch: int, n: int, clip_seconds: float) -> dict[str, Any]:
    """forward() of n preprocessed items in batches of max_batch vs one at a time, in this process (no gRPC).

    The gain a batcher can get from the model alone; CPU seconds per sample are reported too, since a shared
    machine distorts them less than wall time.
    """
    from omninft.bench.perf.scripts.serving_overhead import synthetic_samples
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    s = registry.build(scorer, ScorerConfig(weights=weights, max_batch_size=max_batch))
    items = [s.preprocess(x) for x in synthetic_samples(n, clip_seconds, 64, 96)]
    s.forward(items[:max_batch])  # first-call costs
    out: dict[str, Any] = {}
    for b in (max_batch, 1):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, b):
            s.forward(items[i : i + b])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[f"batch_{b}"] = {"samples_per_s": n / wall, "cpu_s_per_sample": cpu / n}
    out["gain_wall"] = out[f"batch_{max_batch}"]["samples_per_s"] / out["batch_1"]["samples_per_s"]
    out["gain_cpu"] = out["batch_1"]["cpu_s_per_sample"] / out[f"batch_{max_batch}"]["cpu_s_per_sample"]
    return out


def main() -> None:
    """Run the two configurations and print the gain."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scorer", default="clap_text")
    ap.add_argument("--rpc", default="embed", choices=["score", "embed"])
    ap.add_argument("--weights", default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--modalities", default="", help='media sent with each prompt; "" = text only')
    ap.add_argument("--clip-seconds", type=float, default=1.0)
    ap.add_argument(
        "--in-process", type=int, default=0, metavar="N", help="time forward() on N items in-process instead"
    )
    args = ap.parse_args()
    if args.in_process:
        doc = in_process(args.scorer, args.weights, args.batch, args.in_process, args.clip_seconds)
        report(
            "batching_gain",
            {
                "scorer": args.scorer,
                "weights": args.weights,
                "mode": "in-process forward",
                "n": args.in_process,
                **doc,
            },
            variant=f"{args.scorer}-{args.weights}-inprocess",
        )
        return
    mods = tuple(m for m in args.modalities.split(",") if m)
    batched = measure(
        args.scorer,
        args.weights,
        args.batch,
        args.concurrency,
        args.seconds,
        mods,
        args.clip_seconds,
        args.rpc,
    )
    single = measure(
        args.scorer, args.weights, 1, args.concurrency, args.seconds, mods, args.clip_seconds, args.rpc
    )
    report(
        "batching_gain",
        {
            "scorer": args.scorer,
            "rpc": args.rpc,
            "sent": list(mods) or ["prompt"],
            "weights": args.weights,
            "concurrency": args.concurrency,
            f"max_batch_{args.batch}": batched,
            "max_batch_1": single,
            "gain": batched["samples_per_s"] / single["samples_per_s"],
            "target": ">= 3x",
        },
        variant=f"{args.scorer}-{args.weights}",
    )


if __name__ == "__main__":
    main()
