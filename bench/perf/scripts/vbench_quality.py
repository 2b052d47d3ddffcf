"""Throughput of the seven VBench Quality scorers on CPU: per dimension and for the whole group, stage by stage.

    python -m omninft.bench.perf.scripts.vbench_quality [--weights tiny|random] [--videos 4] [--frames 16]
        [--height 128] [--width 160] [--threads 1] [--served]

In-process, each scorer is built as a server builds it (registry, ScorerConfig) and every video goes through
the three stages a server runs: decode (PyAV, `reward_servers.media.decode_video`), `scorer.preprocess` (frame
checks, the reference's transforms) and `scorer.forward` (the model work). Per dimension the throughput counts
one decode per video; the group figure decodes each video once and fans it out to all seven (what a server
does with one request carrying every scorer). `--served` also runs `omninft-bench run vbench --mode custom_input`
on the same videos with an embedded server and reads its "decodes per video" line (must be 1.00).
Model load time is reported apart. Random weights: the cost depends only on the architecture and the frame size.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report
from omninft.bench.perf.scripts.vbench_reference import QUALITY, write_videos


def _stages(scorer: Any, decoded: list[Any]) -> dict[str, float]:
    """Seconds spent in preprocess and forward over the decoded videos (one video per forward, as served)."""
    pre = fwd = 0.0
    for sample in decoded:
        t0 = time.perf_counter()
        item = scorer.preprocess(sample)
        t1 = time.perf_counter()
        out = scorer.forward([item])
        fwd += time.perf_counter() - t1
        pre += t1 - t0
        if isinstance(out[0], Exception):
            raise RuntimeError(f"{scorer.info.name}: {out[0]}")
    return {"preprocess_s": pre, "forward_s": fwd}


def measure(videos: list[Path], weights: str) -> dict[str, Any]:
    """Build the seven scorers, decode every video once, run each scorer's stages; seconds and videos/s."""
    from omninft.reward_servers.media import DecodedSample, decode_video
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    t0 = time.perf_counter()
    decoded = []
    for p in videos:
        decoded.append(
            DecodedSample(
                id=p.name,
                prompt=p.stem.rsplit("-", 1)[0],
                video=decode_video(p, max_frames=10_000, max_pixels=1 << 26),
            )
        )
    decode_s = time.perf_counter() - t0
    n = len(videos)
    dims: dict[str, Any] = {}
    for dim in QUALITY:
        t0 = time.perf_counter()
        scorer = registry.build(f"vbench_{dim}", ScorerConfig(weights=weights))
        load_s = time.perf_counter() - t0
        _stages(scorer, decoded[:1])  # warm-up (allocator, oneDNN caches)
        st = _stages(scorer, decoded)
        total = decode_s + st["preprocess_s"] + st["forward_s"]
        dims[dim] = {"load_s": load_s, "decode_s": decode_s, **st, "videos_per_s": n / total}
    group = decode_s + sum(d["preprocess_s"] + d["forward_s"] for d in dims.values())
    return {
        "decode_s": decode_s,
        "dimensions": dims,
        "group_videos_per_s": n / group,
        "group_decodes_per_video": 1.0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def served_run(folder: Path, weights: str, out: Path) -> dict[str, Any]:
    """`omninft-bench run vbench` on the folder with an embedded server: wall time and its decodes-per-video line."""
    cmd = [
        shutil.which("omninft-bench") or "omninft-bench",
        "run",
        "vbench",
        "--videos",
        str(folder),
        "--mode",
        "custom_input",
        "--weights",
        weights,
        "--out",
        str(out),
        "--no-progress",
        "--fresh",
        *(a for d in QUALITY for a in ("--dimensions", d)),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"omninft-bench failed:\n{proc.stderr[-3000:]}")
    m = re.search(r"decodes per video = ([0-9.]+)", proc.stdout + proc.stderr)
    return {"wall_s": wall, "decodes_per_video": float(m.group(1)) if m else None}


def main() -> None:
    """Measure and print (and keep under bench/perf/results/) one JSON document."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="tiny", choices=("tiny", "random"))
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--fps", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--served", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="vbench-perf-") as tmp:
        folder = Path(tmp) / "videos"
        videos = write_videos(folder, args.videos, args.frames, args.height, args.width, args.fps)
        doc: dict[str, Any] = {
            "weights": args.weights,
            "videos": args.videos,
            "frames": args.frames,
            "size": f"{args.height}x{args.width}",
            "threads": args.threads,
            **measure(videos, args.weights),
        }
        if args.served:
            doc["served"] = served_run(folder, args.weights, Path(tmp) / "out")
    report("vbench_quality", doc, variant=args.weights)


if __name__ == "__main__":
    main()
