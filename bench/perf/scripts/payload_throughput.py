"""Raw-frame payload: a 4 s, 240x426, 24 fps uint8 clip (+16 kHz audio) sent as tensors over loopback.

    python -m omninft.bench.perf.scripts.payload_throughput

Uses the `video_stats` and `audio_stats` scorers (no neural core), so the time is transport + validation + serving path.
Reports MB/s of request payload at each concurrency.
"""

from __future__ import annotations

import argparse

from omninft.bench.perf.loadgen import LoadConfig, build_samples, run_load
from omninft.bench.perf.scripts._common import report, served


def main() -> None:
    """Send the clip repeatedly and report payload MB/s."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", default="1,4")
    args = ap.parse_args()
    levels = tuple(int(x) for x in args.concurrency.split(","))
    load = LoadConfig(
        target="",
        scorers=("video_stats", "audio_stats"),
        concurrency=levels,
        duration_s=args.seconds,
        warmup_s=1.0,
        seconds=4.0,
        height=240,
        width=426,
        fps=24.0,
        sample_rate=16000,
    )
    sample = build_samples(load)[0]
    payload_bytes = sample.video.frames.nbytes + sample.audio.pcm.nbytes
    with served(
        {
            "video_stats": {"maxBatchSize": 8, "maxQueueSize": 64},
            "audio_stats": {"maxBatchSize": 8, "maxQueueSize": 64},
        }
    ) as srv:
        load.target = srv.address
        results = run_load(load)
    rows = []
    for lv in results:
        rows.append(
            {
                "concurrency": lv.concurrency,
                "requests_per_s": lv.throughput_rps,
                "payload_MB_per_s": lv.throughput_rps * payload_bytes / 1e6,
                "p50_ms": lv.latency_ms["p50"],
                "p99_ms": lv.latency_ms["p99"],
                "errors": lv.errors,
            }
        )
    report(
        "payload_throughput",
        {
            "payload_bytes_per_request": payload_bytes,
            "clip": "4 s 240x426 24 fps uint8 + 16 kHz float32 mono",
            "levels": rows,
        },
    )


if __name__ == "__main__":
    main()
