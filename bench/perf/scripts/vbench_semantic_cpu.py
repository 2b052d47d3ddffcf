"""CPU throughput (videos/s) of the five non-GRiT VBench Semantic scorers, in process (no gRPC).

    python -m omninft.bench.perf.scripts.vbench_semantic_cpu [--weights tiny,random] [--videos 3] [--threads 1]

Each scorer scores `--videos` generated clips (2 s, 8 fps, 240x320) one at a time, as it does when served; the
first clip is a warm-up. "random" builds the official architectures (ViCLIP ViT-L/14, UMT ViT-L/16, Tag2Text
Swin-B 384, CLIP ViT-B/32) with random weights: the cost depends only on the architecture and the frame size.
Prints one JSON line per scorer with wall and process-CPU seconds per video (process CPU is the honest figure on
a shared machine).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig

CONDITIONS = {
    "vbench_temporal_style": "a bouncing ball, zoom in",
    "vbench_overall_consistency": "a ball rolling on a table",
    "vbench_human_action": "juggling balls",
    "vbench_scene": "alley",
    "vbench_appearance_style": "pixel art",
}


def main() -> None:
    """Measure and print one JSON line per (weights, scorer)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default="tiny,random")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scorers", default=",".join(CONDITIONS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clips = [
        bouncing_disc_clip(i, seconds=2.0, height=240, width=320, fps=8.0).frames for i in range(args.videos)
    ]
    for weights in args.weights.split(","):
        for name in args.scorers.split(","):
            with registry.sharing():
                scorer = registry.build(name, ScorerConfig(weights=weights))
            samples = [
                DecodedSample(id=str(i), prompt=CONDITIONS[name], video=DecodedVideo(f, 8.0))
                for i, f in enumerate(clips)
            ]
            wall, cpu = [], []
            for s in samples:
                w0, c0 = time.perf_counter(), time.process_time()
                out = scorer.forward([scorer.preprocess(s)])[0]
                if isinstance(out, Exception):
                    raise out
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
            timed_wall, timed_cpu = wall[1:] or wall, cpu[1:] or cpu
            per_video = sum(timed_wall) / len(timed_wall)
            print(
                json.dumps(
                    {
                        "scorer": name,
                        "weights": weights,
                        "threads": args.threads,
                        "frames": "16x240x320",
                        "videos_timed": len(timed_wall),
                        "wall_s_per_video": round(per_video, 3),
                        "process_cpu_s_per_video": round(sum(timed_cpu) / len(timed_cpu), 3),
                        "videos_per_s": round(1 / per_video, 3),
                        "torch": torch.__version__,
                    }
                ),
                flush=True,
            )
            del scorer


if __name__ == "__main__":
    main()
