"""Server memory under 10x overload: a bounded queue must turn excess load into rejections, not RSS growth.

    python -m omninft.bench.perf.scripts.overload_rss --scorer clap --weights tiny
    python -m omninft.bench.perf.scripts.overload_rss --scorer clap,clip --weights tiny --settle 10

The server's queue holds `queue` samples per scorer; the load generator keeps 10x that many requests in
flight (with retries off) while the server's RSS is sampled from /proc; `--settle` seconds after the load
stops, RSS is read again (what the server keeps after a burst).
"""

from __future__ import annotations

import argparse
import threading
import time

from omninft.bench.perf.loadgen import LoadConfig, run_load
from omninft.bench.perf.scripts._common import report, rss_mib, served


def main() -> None:
    """Run the overload and print RSS before, peak and after, with the rejection count."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scorer", default="clap", help="scorer or comma list (every request asks all of them)")
    ap.add_argument("--weights", default="tiny")
    ap.add_argument("--queue", type=int, default=16)
    ap.add_argument("--overload", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument(
        "--settle", type=float, default=10.0, help="seconds after the load before the last reading"
    )
    args = ap.parse_args()
    names = tuple(args.scorer.split(","))
    cfg = {n: {"weights": args.weights, "maxBatchSize": 8, "maxQueueSize": args.queue} for n in names}
    concurrency = args.queue * args.overload
    with served(cfg, maxSamplesPerRequest=min(args.queue, 64)) as srv:
        warm = LoadConfig(
            target=srv.address,
            scorers=names,
            concurrency=(4,),
            duration_s=3.0,
            warmup_s=0.5,
            seconds=1.0,
            height=64,
            width=96,
        )
        run_load(warm)
        baseline = rss_mib(srv.pid)
        samples: list[float] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                samples.append(rss_mib(srv.pid))
                time.sleep(0.25)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        load = LoadConfig(
            target=srv.address,
            scorers=names,
            concurrency=(concurrency,),
            duration_s=args.seconds,
            warmup_s=0.5,
            seconds=1.0,
            height=64,
            width=96,
        )
        lv = run_load(load)[0]
        stop.set()
        th.join()
        after = rss_mib(srv.pid)
        time.sleep(args.settle)
        settled = rss_mib(srv.pid)
    n = len(samples)
    first_half_peak = max(samples[: n // 2]) if n > 1 else float("nan")
    report(
        "overload_rss",
        {
            "scorer": args.scorer,
            "queue": args.queue,
            "in_flight": concurrency,
            "seconds": args.seconds,
            "rss_mib": {
                "baseline": baseline,
                "peak": max(samples),
                "first_half_peak": first_half_peak,
                "second_half_peak": max(samples[n // 2 :]),
                "after": after,
                f"after_{args.settle:g}s": settled,
            },
            "served_samples_per_s": lv.throughput_sps,
            "rejected": lv.errors,
            "p99_ms_accepted": lv.latency_ms["p99"],
            "bounded": max(samples[n // 2 :]) <= 1.1 * first_half_peak,
        },
        variant=f"{args.scorer.replace(',', '-')}-{args.weights}",
    )


if __name__ == "__main__":
    main()
