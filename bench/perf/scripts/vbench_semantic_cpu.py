"""CPU throughput (videos/s) of the nine VBench Semantic scorers, in process (no gRPC), model by model.

    python -m omninft.bench.perf.scripts.vbench_semantic_cpu [--weights tiny,random] [--videos 3] [--frames 16]
        [--height 240] [--width 320] [--threads 1] [--models grit,umt,tag2text,clip,viclip]

Each scorer is built as a server builds it (registry inside `sharing()`, so the four GRiT dimensions share one
GRiT and its detection cache, the two ViCLIP dimensions one ViCLIP), warmed up on its own warm-up sample (as the
server does before SERVING), then runs its two server stages on every video, one video per forward:
`scorer.preprocess` and `scorer.forward`. The videos are generated bouncing-disc clips written as H.264 and
decoded once with PyAV (`reward_servers.media.decode_video`); per dimension the throughput counts that one decode
per video. Only one model family is resident at a time (each is dropped before the next loads), so the peak RSS
printed per family is that family's own (VmHWM reset through /proc/self/clear_refs where the kernel allows it).

GRiT is reported twice: per dimension `alone` (the detection cache emptied before each dimension, i.e. what a
server pays when only that dimension asks about a video) and `shared` (the four dimensions one after another on
the same videos with the cache kept, as in a standard run where one video serves several GRiT dimensions).
"random" builds the official architectures (GRiT-B, UMT ViT-L/16, Tag2Text Swin-B 384, CLIP ViT-B/32, ViCLIP
ViT-L/14) with random weights: the cost depends only on the architecture, the frame size and, for GRiT, on how
many boxes pass the 0.5 threshold (each is described by the text decoder; the count is printed). Process CPU
seconds (all threads) are the honest figure on a shared machine; wall seconds include waiting for a core.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report

SPATIAL = json.dumps(
    {"object_a": "bicycle", "object_b": "car", "relationship": "on the left of"}, sort_keys=True
)
# What the runner sends each scorer (bench/suites/vbench/conditions.py); a fixed condition per dimension.
CONDITIONS = {
    "vbench_object_class": "person",
    "vbench_multiple_objects": "bird and cat",
    "vbench_spatial_relationship": SPATIAL,
    "vbench_color": json.dumps({"color": "red", "object": "car"}, sort_keys=True),
    "vbench_human_action": "juggling balls",
    "vbench_scene": "alley",
    "vbench_appearance_style": "pixel art",
    "vbench_temporal_style": "a bouncing ball, zoom in",
    "vbench_overall_consistency": "a ball rolling on a table",
}
# One model family per entry; the dimensions of a family share one loaded model (shared_load).
MODELS = {
    "grit": (
        "vbench_object_class",
        "vbench_multiple_objects",
        "vbench_spatial_relationship",
        "vbench_color",
    ),
    "umt": ("vbench_human_action",),
    "tag2text": ("vbench_scene",),
    "clip": ("vbench_appearance_style",),
    "viclip": ("vbench_temporal_style", "vbench_overall_consistency"),
}


def _reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux `clear_refs` 5); False where the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _vm(field: str) -> float:
    """A /proc/self/status memory field in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(scorer: Any, decoded: list[Any]) -> dict[str, float]:
    """preprocess + forward on each video (one video per forward): wall seconds per stage and process CPU."""
    pre = fwd = 0.0
    c0 = time.process_time()
    for sample in decoded:
        t0 = time.perf_counter()
        item = scorer.preprocess(sample)
        t1 = time.perf_counter()
        out = scorer.forward([item])
        fwd += time.perf_counter() - t1
        pre += t1 - t0
        if isinstance(out[0], Exception):
            raise RuntimeError(f"{scorer.info.name}: {out[0]}")
    return {"preprocess_s": pre, "forward_s": fwd, "cpu_s": time.process_time() - c0}


def _dimension(stages: dict[str, float], load_s: float, decode_s: float, n: int) -> dict[str, Any]:
    """Per-video figures of one dimension (its share of the decode counted once per video)."""
    wall = decode_s + stages["preprocess_s"] + stages["forward_s"]
    return {
        "load_s": round(load_s, 3),
        "preprocess_s_per_video": round(stages["preprocess_s"] / n, 4),
        "forward_s_per_video": round(stages["forward_s"] / n, 4),
        "process_cpu_s_per_video": round(stages["cpu_s"] / n, 4),
        "videos_per_s": round(n / wall, 4),
    }


def _grit_detections(scorer: Any, decoded: list[Any]) -> list[int]:
    """Boxes above the score threshold per frame of the first video (each costs a text-decoder pass)."""
    item = scorer.preprocess(decoded[0])
    return [int(d.boxes.shape[0]) for d in scorer.detector.detect_frames(scorer.frames(item.frames))]


def measure_family(
    family: str, weights: str, decoded: list[Any], decode_s: float, warmup: bool = True
) -> dict[str, Any]:
    """Load one model family's scorers, time every dimension on the decoded videos, then drop the model."""
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    gc.collect()
    reset = _reset_peak_rss()
    n = len(decoded)
    scorers: dict[str, Any] = {}
    loads: dict[str, float] = {}
    with registry.sharing():
        for name in MODELS[family]:
            t0 = time.perf_counter()
            scorers[name] = registry.build(name, ScorerConfig(weights=weights))
            loads[name] = time.perf_counter() - t0
    warm: dict[str, float] = {}
    for name, scorer in scorers.items():
        if warmup:
            t0 = time.perf_counter()
            _run(scorer, [scorer.warmup_sample()])
            warm[name] = time.perf_counter() - t0
    samples = {name: [replace(s, prompt=CONDITIONS[name]) for s in decoded] for name in scorers}
    doc: dict[str, Any] = {"load_s": {k: round(v, 3) for k, v in loads.items()}, "warmup_s": warm}
    dims: dict[str, Any] = {}
    if family == "grit":
        detector = next(iter(scorers.values())).detector
        for name, scorer in scorers.items():
            detector._cache.clear()  # alone: this dimension pays every frame itself
            calls0 = detector.model_calls
            st = _run(scorer, samples[name])
            dims[name] = {
                **_dimension(st, loads[name], decode_s, n),
                "grit_frames_run": detector.model_calls - calls0,
            }
        # shared: one video serving all four, as in a standard run; colour first (its DenseCap pass also
        # answers the ObjectDet dimensions), then the three ObjectDet ones from the cache
        detector._cache.clear()
        calls0 = detector.model_calls
        order = (
            "vbench_color",
            "vbench_object_class",
            "vbench_multiple_objects",
            "vbench_spatial_relationship",
        )
        shared = {name: _run(scorers[name], samples[name]) for name in order}
        total = {k: sum(s[k] for s in shared.values()) for k in ("preprocess_s", "forward_s", "cpu_s")}
        doc["shared"] = {
            "order": list(order),
            **_dimension(total, 0.0, decode_s, n),
            "per_dimension_forward_s_per_video": {k: round(v["forward_s"] / n, 4) for k, v in shared.items()},
            "grit_frames_run": detector.model_calls - calls0,
        }
        doc["detections_per_frame_first_video"] = _grit_detections(
            scorers["vbench_object_class"], samples["vbench_object_class"]
        )
    else:
        for name, scorer in scorers.items():
            dims[name] = _dimension(_run(scorer, samples[name]), loads[name], decode_s, n)
    doc["dimensions"] = dims
    doc["peak_rss_mib"] = round(
        _vm("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    doc["peak_rss_is_family_own"] = reset
    del scorers, samples
    gc.collect()
    return doc


def main() -> None:
    """Measure and print (and keep under bench/perf/results/) one JSON document per weights setting."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="tiny,random")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--fps", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default=",".join(MODELS), help=f"families among {', '.join(MODELS)}")
    ap.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the warm-up call (full size: UMT/Tag2Text/ViCLIP resample any clip to their fixed input, "
        "so the warm-up costs as much as a timed video)",
    )
    ap.add_argument("--variant", default="", help="results file suffix (default: the weights)")
    args = ap.parse_args()
    import torch

    from omninft.bench.perf.scripts.vbench_reference import write_videos
    from omninft.reward_servers.media import DecodedSample, decode_video

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="vbench-semantic-") as tmp:
        videos = write_videos(Path(tmp), args.videos, args.frames, args.height, args.width, args.fps)
        t0 = time.perf_counter()
        decoded = [
            DecodedSample(id=p.name, prompt="", video=decode_video(p, max_frames=10_000, max_pixels=1 << 26))
            for p in videos
        ]
        decode_s = time.perf_counter() - t0
    for weights in args.weights.split(","):
        families = {}
        for family in args.models.split(","):
            families[family] = measure_family(family, weights, decoded, decode_s, not args.no_warmup)
            print(json.dumps({"weights": weights, "family": family, **families[family]}), flush=True)
        report(
            "vbench_semantic_cpu",
            {
                "weights": weights,
                "videos": args.videos,
                "frames": args.frames,
                "size": f"{args.height}x{args.width}",
                "threads": args.threads,
                "warmup": not args.no_warmup,
                "decode_s": round(decode_s, 4),
                "families": families,
                "process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            variant=args.variant or weights,
        )


if __name__ == "__main__":
    main()
