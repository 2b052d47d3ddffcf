"""NVIDIA perf_analyzer against omninft-serve's KServe front and against Triton serving the exported scorer.

    python -m omninft.bench.perf.scripts.triton_vs_omninft --scorer audiobox_aesthetics --weights tiny

Same scorer, weights, max batch size and queue delay on both engines; one sample (4 s of 16 kHz WAV
container bytes) per request; perf_analyzer at each concurrency (default 1, 4, 16). Then `omninft-bench perf`'s
load generator (RewardService.Score, the same clips) at the same concurrencies against the same omninft-serve.
Targets: omninft-serve >= 1.0x Triton's throughput at concurrency 16; KServe front within 5 % of RewardService;
the load generator within 10 % of perf_analyzer. tritonserver, perf_analyzer's libraries (libcudart, libb64)
go to --work (a throwaway folder).
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from omninft.bench.demo_data import write_wav
from omninft.bench.perf.loadgen import LoadConfig, run_load
from omninft.bench.perf.scripts._common import report, served
from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.serving.config import ServerConfig
from omninft.reward_servers.serving.oip_schema import serialize_bytes
from omninft.reward_servers.serving.triton_repo import export_repository
from omninft.reward_servers.serving.triton_runtime import (
    install_perf_analyzer_libs,
    install_triton,
    perf_analyzer_binary,
    run_triton,
)


def input_data(path: Path, folder: Path, n: int, seconds: float, modalities: tuple[str, ...]) -> Path:
    """perf_analyzer --input-data JSON: n distinct samples, BYTES elements pre-framed and base64-encoded."""
    rows = []
    for i in range(n):
        clip = bouncing_disc_clip(i, seconds=seconds, height=64, width=64)
        wav = folder / f"clip_{i:03d}.wav"
        write_wav(wav, clip)
        values = {
            "audio": wav.read_bytes(),
            "prompt": clip.prompt.encode(),
            "audio_prompt": clip.audio_prompt.encode(),
        }
        rows.append(
            {
                m: {"b64": base64.b64encode(serialize_bytes([values[m]])).decode(), "shape": [1]}
                for m in modalities
            }
        )
    path.write_text(json.dumps({"data": rows}))
    return path


def perf_analyzer(
    binary: Path,
    libs: Path,
    address: str,
    model: str,
    data: Path,
    concurrency: int,
    min_requests: int,
    stability: float,
) -> dict[str, float]:
    """One perf_analyzer level; samples/s and p50/p99 latency (ms) from its CSV."""
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "out.csv"
        cmd = [
            str(binary),
            "-m",
            model,
            "-u",
            address,
            "-i",
            "grpc",
            "--input-data",
            str(data),
            "-b",
            "1",
            "--concurrency-range",
            str(concurrency),
            "--measurement-mode",
            "count_windows",
            "--measurement-request-count",
            str(max(min_requests, 4 * concurrency)),
            "--stability-percentage",
            str(stability),
            "--max-trials",
            "10",
            "--percentile",
            "99",
            "-f",
            str(csv_path),
        ]
        proc = subprocess.run(
            cmd,
            env={"LD_LIBRARY_PATH": str(libs), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0 or not csv_path.exists():
            raise RuntimeError(
                f"perf_analyzer failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
            )
        (row,) = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    return {
        "samples_per_s": float(row["Inferences/Second"]),
        "p50_ms": float(row["p50 latency"]) / 1000,
        "p99_ms": float(row["p99 latency"]) / 1000,
    }


def main() -> None:
    """Measure both engines with perf_analyzer and omninft-serve with the load generator; print and save."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scorer", default="audiobox_aesthetics")
    ap.add_argument("--modalities", default="audio", help="inputs the scorer reads, comma-separated")
    ap.add_argument("--weights", default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--delay-ms", type=float, default=5.0)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--requests", type=int, default=32, help="least requests per perf_analyzer window")
    ap.add_argument("--stability", type=float, default=20.0, help="perf_analyzer --stability-percentage")
    ap.add_argument("--loadgen-seconds", type=float, default=15.0)
    ap.add_argument("--clip-seconds", type=float, default=4.0)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "omninft-triton")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    modalities = tuple(args.modalities.split(","))
    binary = perf_analyzer_binary()
    if binary is None:
        raise SystemExit("perf_analyzer not found: pip install tritonclient==2.45.0")
    libs = install_perf_analyzer_libs(args.work)
    inst = install_triton(args.work)
    scorer_cfg = {
        "weights": args.weights,
        "maxBatchSize": args.batch,
        "maxQueueDelayMs": args.delay_ms,
        "maxQueueSize": max(64, 8 * max(levels)),
    }
    results: dict[str, Any] = {"omninft_kserve": {}, "triton": {}, "omninft_reward_service": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = input_data(folder / "input.json", folder, 16, args.clip_seconds, modalities)
        with served({args.scorer: scorer_cfg}) as srv:
            for c in levels:
                results["omninft_kserve"][c] = perf_analyzer(
                    binary, libs, srv.address, args.scorer, data, c, args.requests, args.stability
                )
                print("omninft-serve KServe", c, results["omninft_kserve"][c], flush=True)
            load = LoadConfig(
                target=srv.address,
                scorers=(args.scorer,),
                concurrency=tuple(levels),
                duration_s=args.loadgen_seconds,
                warmup_s=2.0,
                payload="container",
                modalities=tuple(m for m in modalities if m in ("video", "audio")),
                seconds=args.clip_seconds,
                height=64,
                width=64,
            )
            for level in run_load(load):
                results["omninft_reward_service"][level.concurrency] = {
                    "samples_per_s": level.throughput_sps,
                    "p50_ms": level.latency_ms["p50"],
                    "p99_ms": level.latency_ms["p99"],
                    "errors": level.errors,
                }
                print(
                    "omninft-serve RewardService",
                    level.concurrency,
                    results["omninft_reward_service"][level.concurrency],
                    flush=True,
                )
        repo = folder / "repo"
        export_repository(repo, ServerConfig.from_dict({"scorers": {args.scorer: scorer_cfg}}))
        with run_triton(inst, repo, folder / "triton.log") as triton:
            for c in levels:
                results["triton"][c] = perf_analyzer(
                    binary, libs, triton.address, args.scorer, data, c, args.requests, args.stability
                )
                print("Triton", c, results["triton"][c], flush=True)
    top = max(levels)
    ours, theirs = results["omninft_kserve"][top], results["triton"][top]
    reward = results["omninft_reward_service"][top]
    report(
        "triton_vs_omninft",
        {
            "scorer": args.scorer,
            "weights": args.weights,
            "max_batch_size": args.batch,
            "delay_ms": args.delay_ms,
            "clip": f"{args.clip_seconds}s 16 kHz WAV",
            "levels": results,
            f"omninft_over_triton_at_{top}": ours["samples_per_s"] / theirs["samples_per_s"],
            f"kserve_over_reward_service_at_{top}": ours["samples_per_s"] / reward["samples_per_s"],
            "targets": {
                "omninft_over_triton": ">= 1.0",
                "kserve_vs_reward_service": "within 5 %",
                "loadgen_vs_perf_analyzer": "within 10 %",
            },
        },
        variant=f"{args.scorer}-{args.weights}",
    )


if __name__ == "__main__":
    main()
