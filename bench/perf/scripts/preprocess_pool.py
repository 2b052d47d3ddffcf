"""Does the GIL bound the server's preprocessing? Threads vs processes over the same preprocess calls.

    OMP_NUM_THREADS=1 python -m omninft.bench.perf.scripts.preprocess_pool --samples 8 --workers 2

The reward server runs each sample's `preprocess` on a thread pool (`decodeWorkers`), overlapped with the
forward thread. Issue 15 asks whether a process pool with shared-memory arrays would do better. This script
answers it on the machine it runs on, with the JavisBench suite's scorers (tiny weights: preprocessing does
not depend on the weights) on `--samples` demo samples (4 s, 240x426, 24 fps + 16 kHz, decoded once up front):

- serial: every (scorer, sample) preprocess call in one thread (the work, in CPU seconds);
- threads: the same calls on a `ThreadPoolExecutor(--workers)` (what the server does);
- processes: the same calls on a fork `ProcessPoolExecutor(--workers)`, scorers built once per worker, the
  decoded samples inherited by fork; `returned`: the preprocessed arrays pickled back (a copy, as without
  shared memory), `dropped`: nothing sent back (the bound a zero-copy shared-memory transfer could reach).

If threads reach the processes' `dropped` speed-up, the GIL is not what bounds preprocessing and a process
pool cannot pay; the gap between the two is the most it could win. Torch intra-op threads are set to 1 in every
variant, and OpenCV's to 1 (`OMP_NUM_THREADS=1` is advised too), so that the pools, not the libraries, provide the
parallelism.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report

SCORERS = ("av_align", "imagebind_avh", "imagebind", "desync", "clip", "clap", "audiobox_aesthetics", "i3d")
_STATE: dict[str, Any] = {}  # per process: built scorers and decoded samples (fork inherits the parent's)


def _load(n: int) -> list[Any]:
    """`n` decoded demo samples."""
    from omninft.bench.demo_data import sample_stem, write_demo_set
    from omninft.reward_servers import media
    from omninft.reward_servers.media import DecodedSample

    out = []
    with tempfile.TemporaryDirectory(prefix="preprocess-pool-") as tmp:
        demo = Path(tmp)
        write_demo_set(demo, n=n, seconds=4.0, height=240, width=426)
        for i in range(n):
            stem = demo / sample_stem(i)
            video = media.decode_video(str(stem.with_suffix(".mp4")), max_frames=10_000, max_pixels=10**9)
            audio = media.decode_audio(str(stem.with_suffix(".wav")), max_seconds=100.0)
            out.append(
                DecodedSample(id=f"s{i}", prompt="a dog", audio_prompt="a bark", video=video, audio=audio)
            )
    return out


def _build(names: tuple[str, ...]) -> dict[str, Any]:
    """The scorers, tiny weights, each warmed by one preprocess call on the first sample."""
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    cfg = ScorerConfig(weights="tiny", seed=0, max_batch_size=8)
    built = {name: registry.build(name, cfg) for name in names}
    for scorer in built.values():
        scorer.preprocess(_STATE["samples"][0])
    return built


def _one_thread_each() -> None:
    """Torch and OpenCV on one thread each, so that the pools, not the libraries, provide the parallelism."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _worker_init(names: tuple[str, ...], barrier: Any) -> None:
    _one_thread_each()
    _STATE["scorers"] = _build(names)
    barrier.wait()  # no worker takes a timed call while another is still building its scorers


def _call_returned(job: tuple[str, int]) -> tuple[Any, float]:
    """One preprocess call: its result (pickled back by the pool) and its thread CPU seconds."""
    name, i = job
    cpu = time.thread_time()
    out = _STATE["scorers"][name].preprocess(_STATE["samples"][i])
    return out, time.thread_time() - cpu


def _call_dropped(job: tuple[str, int]) -> tuple[int, float]:
    """One preprocess call whose result is discarded: its thread CPU seconds."""
    _, spent = _call_returned(job)
    return 0, spent


def main() -> None:
    """Time the three variants and print/keep a JSON document."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--scorers", default=",".join(SCORERS))
    args = ap.parse_args()
    _one_thread_each()
    names = tuple(s for s in args.scorers.split(",") if s)
    _STATE["samples"] = _load(args.samples)
    _STATE["scorers"] = _build(names)
    jobs = [(name, i) for i in range(args.samples) for name in names]
    doc: dict[str, Any] = {
        "samples": args.samples,
        "workers": args.workers,
        "scorers": list(names),
        "calls": len(jobs),
    }

    t0, c0 = time.perf_counter(), time.process_time()
    per_scorer: dict[str, float] = dict.fromkeys(names, 0.0)
    for job in jobs:
        _, spent = _call_dropped(job)
        per_scorer[job[0]] += spent
    serial = time.perf_counter() - t0
    doc["serial"] = {"wall_s": round(serial, 3), "cpu_s": round(time.process_time() - c0, 3)}
    doc["serial_cpu_s_per_scorer"] = {k: round(v, 3) for k, v in per_scorer.items()}

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        t0, c0 = time.perf_counter(), time.process_time()
        list(pool.map(_call_dropped, jobs))
        wall = time.perf_counter() - t0
    doc["threads"] = {"wall_s": round(wall, 3), "cpu_s": round(time.process_time() - c0, 3)}

    for variant, fn in (("processes_returned", _call_returned), ("processes_dropped", _call_dropped)):
        ctx = multiprocessing.get_context("fork")
        barrier = ctx.Barrier(args.workers)
        with ProcessPoolExecutor(
            max_workers=args.workers, mp_context=ctx, initializer=_worker_init, initargs=(names, barrier)
        ) as pool:
            # workers are built (and warmed) before the clock starts, as a server's would be
            list(pool.map(_worker_ready, range(args.workers)))
            t0 = time.perf_counter()
            results = list(pool.map(fn, jobs, chunksize=1))
            wall = time.perf_counter() - t0
        doc[variant] = {"wall_s": round(wall, 3), "worker_cpu_s": round(sum(r[1] for r in results), 3)}
        if variant == "processes_returned":
            doc["returned_mib"] = round(
                sum(len(pickle.dumps(r[0], protocol=pickle.HIGHEST_PROTOCOL)) for r in results) / 2**20, 1
            )
        del results
    for variant in ("threads", "processes_returned", "processes_dropped"):
        doc[variant]["speedup_vs_serial"] = round(serial / doc[variant]["wall_s"], 3)
    doc["threads_vs_processes_dropped"] = round(
        doc["processes_dropped"]["wall_s"] / doc["threads"]["wall_s"], 3
    )
    report("preprocess_pool", doc)


def _worker_ready(_: int) -> int:
    """A no-op call: returns once the pool's workers have passed their start-up barrier."""
    return os.getpid()


if __name__ == "__main__":
    main()
