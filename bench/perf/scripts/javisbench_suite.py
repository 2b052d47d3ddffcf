"""The full JavisBench suite on the demo set, served by ONE server hosting every suite scorer.

    python -m omninft.bench.perf.scripts.javisbench_suite --config tiny --n 16
    python -m omninft.bench.perf.scripts.javisbench_suite --config mid --n 4

Protocol: per chunk of `--per-request` samples the client sends one Score RPC naming every per-sample Score
scorer (8 of them, 17 scores), then one Embed RPC naming the two embed-only scorers (i3d, audioclip); chunks
run `--concurrency` at a time. Score and Embed are separate RPCs, so a sample is decoded once per RPC, i.e.
twice per modality for the whole suite; the decode ratio divides by that. Media go as file:// URIs under the
demo directory (allowedUriRoots), so the figures hold decode + model cost, not transport. One warm-up chunk
(samples outside the measured set) runs first; every metric is the difference of two /metrics scrapes around
the measured phase. Stage seconds are wall time per stage summed over the server's threads: preprocess runs in
the CPU pool, forward on the one device thread that every scorer on the device shares (timed inside it, so
waiting for that thread is not counted), so stages of different scorers overlap and their sum can exceed the
wall time. The server's connection age is raised so that long RPCs are not cancelled and retried.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omninft.bench.demo_data import sample_stem, write_demo_set
from omninft.bench.perf.scripts._common import (
    RESULTS_DIR,
    cpu_seconds,
    free_port,
    report,
    rss_mib,
    scrape,
    served,
)
from omninft_client import RewardClient, Sample, media

SCORE_SCORERS = (
    "clip",
    "clap",
    "imagebind",
    "imagebind_avh",
    "desync",
    "videoalign",
    "audiobox_aesthetics",
    "av_align",
)
EMBED_SCORERS = ("i3d", "audioclip")
SUITE = SCORE_SCORERS + EMBED_SCORERS
# mid: the official architecture at full size with random weights where a 2-core CPU run of a few samples
# finishes in minutes. Measured in-process per scorer (4 s 240p clip, 2-core box under load ~6): CLIP-L 15 s,
# CLAP 4 s, I3D 11 s, AudioCLIP 4 s, Audiobox 8-11 s, Synchformer 60-75 s, ImageBind-H (ib_*) 31 s per sample
# (AV-Align has no weights). Kept tiny: VideoReward (Qwen2-VL 2B: 8 GB fp32, minutes per clip) and
# imagebind_avh (ImageBind-H on every one of the 96 frames, ~6x the ib_* vision work, and a second 4.7 GB copy).
MID_TINY = frozenset({"videoalign", "imagebind_avh"})
CONFIGS: dict[str, dict[str, str]] = {
    "tiny": dict.fromkeys(SUITE, "tiny"),
    "mid": {name: "tiny" if name in MID_TINY else "random" for name in SUITE},
}

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def demo_samples(demo_dir: Path) -> list[Sample]:
    """The demo set as client samples: sample_NNNN.mp4 (video) + .wav (audio) as file:// URIs, CSV prompts."""
    with (demo_dir / "prompts.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for i, row in enumerate(rows):
        stem = demo_dir / sample_stem(i)
        out.append(
            Sample(
                id=sample_stem(i),
                prompt=row["text"],
                audio_prompt=row["audio_text"],
                video=media.video_file(stem.with_suffix(".mp4"), as_uri=True),
                audio=media.audio_file(stem.with_suffix(".wav"), as_uri=True),
            )
        )
    return out


def delta(after: Scrape, before: Scrape, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Per-label-set increase of one counter between two scrapes."""
    return {labels: v - before.get((n, labels), 0.0) for (n, labels), v in after.items() if n == name}


def stage_breakdown(d: dict[tuple[tuple[str, str], ...], float]) -> dict[str, Any]:
    """omninft_stage_seconds_total deltas as {scorer: {stage: {s, pct}}} plus per-stage totals (pct of all)."""
    total = sum(d.values()) or 1.0
    per: dict[str, dict[str, dict[str, float]]] = {}
    by_stage: dict[str, float] = {}
    for labels, secs in d.items():
        lab = dict(labels)
        scorer = lab.get("scorer") or "(decode)"
        per.setdefault(scorer, {})[lab["stage"]] = {"s": round(secs, 3), "pct": round(100 * secs / total, 1)}
        by_stage[lab["stage"]] = by_stage.get(lab["stage"], 0.0) + secs
    per_scorer_total = {k: round(sum(x["s"] for x in v.values()), 3) for k, v in per.items()}
    return {
        "sum_s": round(total, 3),
        "by_stage": {
            k: {"s": round(v, 3), "pct": round(100 * v / total, 1)} for k, v in sorted(by_stage.items())
        },
        "by_scorer": dict(sorted(per.items(), key=lambda kv: -per_scorer_total[kv[0]])),
        "scorer_total_s": dict(sorted(per_scorer_total.items(), key=lambda kv: -kv[1])),
    }


def histogram_means(after: Scrape, before: Scrape, name: str, label: str) -> dict[str, float]:
    """Mean of a histogram per `label` value over the measured phase (from _sum/_count deltas)."""
    sums = delta(after, before, f"{name}_sum")
    counts = delta(after, before, f"{name}_count")
    out = {}
    for labels, c in counts.items():
        if c > 0:
            out[dict(labels)[label]] = round(sums.get(labels, 0.0) / c, 4)
    return out


def reads(desc: Any, names: tuple[str, ...]) -> set[str]:
    """Media modalities that any of `names` reads (from ListScorers)."""
    by_name = {s.name: s for s in desc.scorers}
    return {m for n in names for m in by_name[n].input_spec.modalities if m in ("video", "audio")}


def run_suite(client: RewardClient, samples: list[Sample], per_request: int, concurrency: int) -> list[str]:
    """Score + Embed every sample once; returns the problems seen (sample or scorer errors)."""
    chunks = [samples[i : i + per_request] for i in range(0, len(samples), per_request)]

    def one(chunk: list[Sample]) -> list[str]:
        bad = []
        for r in client.score(chunk, SCORE_SCORERS):
            if not r.ok:
                bad.append(f"score {r.id}: {r.error} {r.scorer_errors}")
        for e in client.embed(chunk, EMBED_SCORERS):
            if not e.ok:
                bad.append(f"embed {e.id}: {e.error} {e.scorer_errors}")
        return bad

    with ThreadPoolExecutor(concurrency) as pool:
        return [b for bad in pool.map(one, chunks) for b in bad]


def main() -> None:
    """Serve the suite, run it over the demo set, and report throughput, stage times, decodes and RSS."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--n", type=int, default=16, help="measured samples")
    ap.add_argument("--per-request", type=int, default=4, help="samples per Score / Embed RPC")
    ap.add_argument("--concurrency", type=int, default=2, help="chunks in flight")
    ap.add_argument("--clip-seconds", type=float, default=4.0)
    ap.add_argument("--size", default="240x426", help="HxW of the demo clips")
    ap.add_argument(
        "--tag", default="", help="result file suffix, e.g. before (results/javisbench_suite-CONFIG-TAG.json)"
    )
    ap.add_argument("--demo-dir", default="", help="reuse/write the demo set here (default: a temp dir)")
    ap.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="SCORER=MODE",
        help="override one scorer's weights (tiny|random|official|PATH)",
    )
    args = ap.parse_args()
    h, w = (int(x) for x in args.size.split("x"))
    weights = dict(CONFIGS[args.config])
    for item in args.weights:
        k, v = item.split("=", 1)
        weights[k] = v

    with tempfile.TemporaryDirectory(prefix="javisbench-suite-") as tmp:
        demo = Path(args.demo_dir or tmp).resolve()
        warm_n = 1  # first-call costs (lazy init, allocator growth) happen on any sample
        write_demo_set(demo, n=args.n + warm_n, seconds=args.clip_seconds, height=h, width=w)
        everything = demo_samples(demo)
        measured, warm = everything[: args.n], everything[args.n :]
        scorer_cfg = {
            n: {
                "weights": weights[n],
                "maxBatchSize": args.per_request * args.concurrency,
                "maxQueueDelayMs": 5,
            }
            for n in SUITE
        }
        metrics_port = free_port()
        load_avg_before = os.getloadavg()
        t0 = time.perf_counter()
        # A full-size suite RPC can outlive the default 300 s connection age (+30 s grace); the server would
        # then cancel it and the client retry it, scoring the chunk twice.
        with served(
            scorer_cfg,
            metricsPort=metrics_port,
            allowedUriRoots=[str(demo)],
            maxSamplesPerRequest=max(64, args.per_request),
            maxConnectionAgeS=86400.0,
        ) as srv:
            startup_s = time.perf_counter() - t0
            rss_loaded = rss_mib(srv.pid)
            with RewardClient(
                srv.address, timeout_s=3600, max_samples_per_request=args.per_request
            ) as client:
                desc = client.list_scorers()
                t1 = time.perf_counter()
                warm_bad = run_suite(client, warm, args.per_request, 1)
                warmup_s = time.perf_counter() - t1
                rss_warm = rss_mib(srv.pid)
                before = scrape(metrics_port)
                polled: list[float] = []
                stop = threading.Event()

                def poll() -> None:
                    while not stop.is_set():
                        polled.append(rss_mib(srv.pid))
                        stop.wait(0.2)

                poller = threading.Thread(target=poll, daemon=True)
                poller.start()
                cpu0, client_cpu0 = cpu_seconds(srv.pid), time.process_time()
                t2 = time.perf_counter()
                bad = run_suite(client, measured, args.per_request, args.concurrency)
                wall = time.perf_counter() - t2
                server_cpu = cpu_seconds(srv.pid) - cpu0
                client_cpu = time.process_time() - client_cpu0
                stop.set()
                poller.join()
                after = scrape(metrics_port)
            hwm = rss_mib(srv.pid, "VmHWM")
            rss_end = rss_mib(srv.pid)
        load_avg_after = os.getloadavg()

    decodes = {dict(k)["modality"]: v for k, v in delta(after, before, "omninft_decodes_total").items()}
    rpcs_reading = {
        m: sum(m in reads(desc, names) for names in (SCORE_SCORERS, EMBED_SCORERS))
        for m in ("video", "audio")
    }
    decode_doc = {
        m: {
            "decodes": decodes.get(m, 0.0),
            "rpcs_per_sample_reading_it": rpcs_reading[m],
            "per_sample": round(decodes.get(m, 0.0) / args.n, 3),
            "ratio_per_rpc": round(decodes.get(m, 0.0) / (args.n * rpcs_reading[m]), 3),
        }
        for m in ("video", "audio")
    }
    infos = {
        s.name: {
            "weights": weights[s.name],
            "tiny": s.tiny_weights,
            "weights_id": s.weights_id,
            "modalities": list(s.input_spec.modalities),
        }
        for s in desc.scorers
    }
    doc = {
        "config": args.config,
        "scorers": infos,
        "tiny_in_config": sorted(k for k, v in weights.items() if v == "tiny"),
        "protocol": {
            "score_rpc": list(SCORE_SCORERS),
            "embed_rpc": list(EMBED_SCORERS),
            "samples_per_rpc": args.per_request,
            "chunks_in_flight": args.concurrency,
            "media": "file:// URIs under the demo dir (allowedUriRoots): no media bytes on the wire",
            "clip": f"{args.clip_seconds}s {h}x{w} 24fps H.264 mp4 + 16 kHz wav",
        },
        "n": args.n,
        "rpcs": dict(
            sorted(
                {
                    dict(k)["method"].rsplit("/", 1)[-1] + ":" + dict(k)["code"]: v
                    for k, v in delta(after, before, "omninft_requests_total").items()
                    if v
                }.items()
            )
        ),
        "errors": bad[:10],
        "error_count": len(bad),
        "warmup_errors": warm_bad[:3],
        "wall_s": round(wall, 3),
        "samples_per_s": round(args.n / wall, 4),
        "s_per_sample": round(wall / args.n, 3),
        "cpu_s": {
            "server": round(server_cpu, 2),
            "server_per_sample": round(server_cpu / args.n, 3),
            "client": round(client_cpu, 2),
            "note": "user+system CPU of the server process (and its pool's processes) over the measured phase",
        },
        "startup_s": round(startup_s, 1),
        "warmup_s": round(warmup_s, 1),
        "stages": stage_breakdown(delta(after, before, "omninft_stage_seconds_total")),
        "mean_batch_size": histogram_means(after, before, "omninft_batch_size", "scorer"),
        "mean_queue_s": histogram_means(after, before, "omninft_queue_time_seconds", "scorer"),
        "mean_rpc_latency_s": histogram_means(after, before, "omninft_request_latency_seconds", "method"),
        "decodes": decode_doc,
        "rss_mib": {
            "after_load": round(rss_loaded),
            "after_warmup": round(rss_warm),
            "polled_peak_measured": round(max(polled, default=rss_end)),
            "end": round(rss_end),
            "vm_hwm_peak": round(hwm),
        },
        "load_average": {
            "before": [round(x, 2) for x in load_avg_before],
            "after": [round(x, 2) for x in load_avg_after],
            "note": "shared 2-core machine; other agents' jobs run concurrently",
        },
    }
    doc["tag"] = args.tag
    report("javisbench_suite", doc, variant=f"{args.config}-{args.tag}" if args.tag else args.config)
    write_markdown()


def write_markdown() -> None:
    """Render every javisbench_suite-*.json result into bench/perf/results/javisbench_suite.md."""
    lines = [
        "# JavisBench suite on the demo set (one embedded server, all scorers)",
        "",
        "Generated by `bench/perf/scripts/javisbench_suite.py`; media as file:// URIs (no transport cost).",
        "Score RPC: " + ", ".join(SCORE_SCORERS) + "; Embed RPC: " + ", ".join(EMBED_SCORERS) + ".",
        "Stage seconds are wall time per stage summed over the server's threads (omninft_stage_seconds_total);",
        "forward is timed inside the one device thread all scorers share (waiting for it is excluded);",
        "preprocess runs in the CPU pool, so stages overlap and on a busy 2-core box include waiting",
        "for a core. Decode = the server's decode of the file:// media.",
        "",
    ]
    for path in sorted(RESULTS_DIR.glob("javisbench_suite-*.json")):
        d = json.loads(path.read_text())
        la = d["load_average"]
        random = sorted(k for k, v in d["scorers"].items() if v["weights"] != "tiny")
        cpu = d.get("cpu_s")
        lines += [
            f"## `{d['config']}`{' (' + d['tag'] + ')' if d.get('tag') else ''} ({d['when']})",
            "",
            f"- weights: random (official architecture, full size) = {', '.join(random) or 'none'}; "
            f"tiny = {', '.join(d['tiny_in_config']) or 'none'}",
            f"- n = {d['n']} samples ({d['protocol']['clip']}), {d['protocol']['samples_per_rpc']} per RPC, "
            f"{d['protocol']['chunks_in_flight']} chunks in flight; errors: {d['error_count']}",
            f"- **{d['samples_per_s']:.3f} samples/s** ({d['s_per_sample']:.2f} s/sample, wall "
            f"{d['wall_s']:.1f} s); server start {d['startup_s']:.0f} s, warm-up {d['warmup_s']:.0f} s",
            f"- process CPU over the measured phase: server {cpu['server']:.1f} s "
            f"({cpu['server_per_sample']:.2f} s/sample), client {cpu['client']:.1f} s"
            if cpu
            else "- process CPU: not recorded",
            f"- peak RSS (VmHWM) {d['rss_mib']['vm_hwm_peak']} MiB; polled VmRSS peak while measuring "
            f"{d['rss_mib']['polled_peak_measured']} MiB; after load {d['rss_mib']['after_load']} MiB",
            "- decodes per sample: "
            + ", ".join(
                f"{m} {v['per_sample']:.2f} (ratio per RPC reading it: {v['ratio_per_rpc']:.2f})"
                for m, v in d["decodes"].items()
            ),
            "- mean RPC latency: "
            + ", ".join(f"{k.rsplit('/', 1)[-1]} {v:.1f} s" for k, v in d["mean_rpc_latency_s"].items()),
            f"- load average before/after: {la['before']} / {la['after']} (2 cores, shared)",
            "",
            "| scorer | decode s | preprocess s | forward s | postprocess s | total s | % of stage sum |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        st = d["stages"]
        for scorer, stages in st["by_scorer"].items():
            cells = [
                f"{stages[k]['s']:.2f}" if k in stages else ""
                for k in ("decode", "preprocess", "forward", "postprocess")
            ]
            tot = st["scorer_total_s"][scorer]
            lines.append(f"| {scorer} | {' | '.join(cells)} | {tot:.2f} | {100 * tot / st['sum_s']:.1f} |")
        bs = st["by_stage"]
        lines += [
            "| **all** | "
            + " | ".join(
                f"{bs[k]['s']:.2f} ({bs[k]['pct']:.0f}%)" if k in bs else ""
                for k in ("decode", "preprocess", "forward", "postprocess")
            )
            + f" | {st['sum_s']:.2f} | 100 |",
            "",
        ]
    (RESULTS_DIR / "javisbench_suite.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
