"""CPU cost of one frame pair through full-size random RAFT-things (20 iterations) and AMT-S (scale 1).

    python -m omninft.bench.perf.scripts.motion_models_cpu [--size 256] [--threads 1] [--repeats 1]

Random weights: the cost depends only on the architecture and the frame size. Prints wall and process CPU
seconds per pair (the process figure is the honest one on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import torch

from omninft.reward_servers.models import amt, raft


def _time(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    fn()  # warm-up (allocator, oneDNN primitive caches)
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"wall_s": min(wall), "process_cpu_s": min(cpu)}


def main() -> None:
    """Measure and print one JSON line per model."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = args.size
    gen = torch.Generator().manual_seed(0)
    rmodel, _ = raft.load("random", seed=0)
    f1, f2 = torch.rand(1, 3, s, s, generator=gen) * 255, torch.rand(1, 3, s, s, generator=gen) * 255
    amodel, _ = amt.load("random", seed=0)
    with torch.no_grad():
        r = _time(lambda: raft.padded_flow(rmodel, f1, f2, iters=20), args.repeats)
        a = _time(lambda: amt.interpolate_midpoint(amodel, f1 / 255, f2 / 255, scale=1.0), args.repeats)
    common = {"size": f"{s}x{s}", "threads": args.threads, "torch": torch.__version__}
    print(json.dumps({"model": "raft-things (random, 20 iters)", **common, **r}))
    print(json.dumps({"model": "amt-s (random, scale 1)", **common, **a}))


if __name__ == "__main__":
    main()
