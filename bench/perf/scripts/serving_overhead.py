"""Serving overhead: samples/s through gRPC at concurrency C vs the same scorer called in-process.

    python -m omninft.bench.perf.scripts.serving_overhead --scorer clap --weights tiny

Both sides use the same batch size; the served side sends one sample per request and relies on the
server's micro-batcher to form batches. Target: served / in-process >= 0.9.
"""

from __future__ import annotations

import argparse

from omninft.bench.perf.loadgen import LoadConfig, run_load
from omninft.bench.perf.scripts._common import report, served, throughput
from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.scorers.registry import build

# A client sends only what the scorer reads (serving spec D5): CLAP never needs the 29 MB of raw frames.
READS: dict[str, tuple[str, ...]] = {"clap": ("audio",), "clip": ("video",)}


def synthetic_samples(n: int, seconds: float, height: int, width: int) -> list[DecodedSample]:
    """The decoded form of the clips the load generator sends."""
    out = []
    for i in range(n):
        c = bouncing_disc_clip(i, seconds=seconds, height=height, width=width)
        out.append(
            DecodedSample(
                f"s{i}",
                c.prompt,
                c.audio_prompt,
                DecodedVideo(c.frames, c.fps),
                DecodedAudio(c.pcm, c.sample_rate),
            )
        )
    return out


def main() -> None:
    """Measure in-process and served throughput and print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scorer", default="clap")
    ap.add_argument("--weights", default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clip-seconds", type=float, default=4.0)
    ap.add_argument("--size", default="240x426")
    ap.add_argument("--modalities", default="", help="what the client sends; default: what the scorer reads")
    args = ap.parse_args()
    h, w = (int(x) for x in args.size.split("x"))

    scorer = build(args.scorer, ScorerConfig(weights=args.weights, max_batch_size=args.batch))
    batch = synthetic_samples(args.batch, args.clip_seconds, h, w)

    def one_batch() -> int:
        outs = scorer.forward([scorer.preprocess(s) for s in batch])
        for o in outs:
            scorer.postprocess(o)
        return len(batch)

    inproc = throughput(one_batch, seconds=args.seconds)
    cfg = {
        args.scorer: {
            "weights": args.weights,
            "maxBatchSize": args.batch,
            "maxQueueDelayMs": 5,
            "maxQueueSize": 4 * args.concurrency,
        }
    }
    with served(cfg) as srv:
        mods = (
            tuple(args.modalities.split(","))
            if args.modalities
            else READS.get(args.scorer, ("video", "audio"))
        )
        load = LoadConfig(
            target=srv.address,
            scorers=(args.scorer,),
            concurrency=(args.concurrency,),
            duration_s=args.seconds,
            warmup_s=2.0,
            seconds=args.clip_seconds,
            height=h,
            width=w,
            modalities=mods,
        )
        level = run_load(load)[0]
    report(
        "serving_overhead",
        {
            "scorer": args.scorer,
            "weights": args.weights,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "clip": f"{args.clip_seconds}s {h}x{w}",
            "sent": list(mods),
            "in_process_samples_per_s": inproc,
            "served_samples_per_s": level.throughput_sps,
            "served_p99_ms": level.latency_ms["p99"],
            "errors": level.errors,
            "ratio_served_over_in_process": level.throughput_sps / inproc,
            "target": ">= 0.9",
        },
        variant=f"{args.scorer}-{args.weights}",
    )


if __name__ == "__main__":
    main()
