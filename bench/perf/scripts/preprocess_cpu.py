"""Process CPU (and wall) seconds of scorers' `preprocess` on one demo sample, in process, tiny weights.

    python -m omninft.bench.perf.scripts.preprocess_cpu av_align imagebind_avh desync clip

The demo sample is sample_0000 of `write_demo_set` (4 s, 240x426, 24 fps H.264 + 16 kHz wav). Each scorer is
built with tiny weights, called once to warm up, then timed over `--reps` calls. CPU seconds are the figure to
compare on a shared machine (wall time there mostly measures the other jobs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from omninft.bench.demo_data import sample_stem, write_demo_set
from omninft.reward_servers import media
from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig


def main() -> None:
    """Time each named scorer's preprocess and print CPU and wall seconds per call."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scorers", nargs="*", default=["av_align", "imagebind_avh", "desync", "clip"])
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="preprocess-cpu-") as tmp:
        demo = Path(tmp)
        write_demo_set(demo, n=1, seconds=4.0, height=240, width=426)
        stem = demo / sample_stem(0)
        video = media.decode_video(str(stem.with_suffix(".mp4")), max_frames=10_000, max_pixels=10**9)
        audio = media.decode_audio(str(stem.with_suffix(".wav")), max_seconds=100.0)
    sample = DecodedSample(id="s0", prompt="a dog", audio_prompt="a bark", video=video, audio=audio)
    cfg = ScorerConfig(weights="tiny", seed=0, max_batch_size=8)
    for name in args.scorers:
        scorer = registry.build(name, cfg)
        scorer.preprocess(sample)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.reps):
            scorer.preprocess(sample)
        n = args.reps
        print(
            f"{name}: {(time.process_time() - cpu) / n:.3f} s CPU, {(time.perf_counter() - wall) / n:.3f} s wall per call",
            flush=True,
        )


if __name__ == "__main__":
    main()
