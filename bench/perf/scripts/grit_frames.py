"""GRiT frames/s on this machine, with the time split by stage (backbone, proposals, cascade, text decoder).

    python -m omninft.bench.perf.scripts.grit_frames --weights random --size 512x512 --frames 3

One frame per call, as VBench runs GRiT. `--captions` adds the DenseCap decoder (the color dimension).
Random weights give an arbitrary number of detections above the 0.5 threshold, which drives the text
decoder's share: the count is printed with the timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from omninft.bench.perf.scripts._common import machine


def main() -> None:
    """Time `GRiT.detect` on generated frames and print a JSON line."""
    from omninft.reward_servers.functional.detection_ops import multilevel_roi_align
    from omninft.reward_servers.models import grit
    from omninft.reward_servers.models.grit.roi_heads import BOX_SCALES
    from omninft.reward_servers.models.grit.tokenizer import SPECIAL_TOKENS

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default="random")
    ap.add_argument("--size", default="512x512", help="HxW")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--captions", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument(
        "--tokenizer",
        default=None,
        help="vocab.txt (or a folder holding one) for a checkpoint path in --weights, e.g. the synthetic "
        "vocabulary vbench_grit_reference writes next to its calibrated checkpoint",
    )
    ap.add_argument(
        "--describe-limit",
        type=int,
        default=0,
        help="describe only the first N detections and report the text time per detection "
        "(the full-size decoder costs ~14 GFLOP per detection in memory tokens alone)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    model, ident = grit.load(args.weights)
    if args.weights == "random":  # random weights name nothing real: any vocabulary of the right size will do
        vocab = [
            *SPECIAL_TOKENS,
            *(f"[unused{i}]" for i in range(model.cfg.vocab_size - len(SPECIAL_TOKENS))),
        ]
        decoder = grit.WordPieceDecoder(vocab)
    else:
        decoder = grit.load_decoder(args.weights, args.tokenizer)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(args.frames + 1)]
    stages = {"backbone": 0.0, "proposals": 0.0, "cascade": 0.0, "text": 0.0}
    cpu_stages = dict.fromkeys(stages, 0.0)  # process CPU per stage: the honest split on a shared machine
    dets: list[int] = []
    described = 0

    def staged(f: np.ndarray) -> tuple[int, int]:
        """One frame through GRiT stage by stage (as GRiT.detect), timing each: (detections, described)."""
        t, c = time.perf_counter(), time.process_time()
        x, size = model.preprocess(f)
        feats = model.backbone(x)
        stages["backbone"] += time.perf_counter() - t
        cpu_stages["backbone"] += time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        props, ps = model.proposal_generator(feats)
        stages["proposals"] += time.perf_counter() - t
        cpu_stages["proposals"] += time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        d = model.roi_heads.detect(feats[:3], props, ps, size)
        stages["cascade"] += time.perf_counter() - t
        cpu_stages["cascade"] += time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        n = 0
        if d.boxes.shape[0]:
            pooled = multilevel_roi_align(
                feats[:3],
                d.boxes,
                model.cfg.object_pooler_resolution,
                BOX_SCALES,
                model.cfg.pooler_sampling_ratio,
            )
            obj = pooled.flatten(2).transpose(1, 2).contiguous()
            if args.describe_limit:
                obj = obj[: args.describe_limit]
            n = obj.shape[0]
            for part in obj.split(model.text_chunk):
                model.describe(part, decoder, args.captions)
        stages["text"] += time.perf_counter() - t
        cpu_stages["text"] += time.process_time() - c
        return int(d.boxes.shape[0]), n

    with torch.no_grad():
        if not args.no_warmup:  # same path as the timed frames, so --describe-limit bounds it too
            staged(frames[0])
            stages.update(dict.fromkeys(stages, 0.0))
            cpu_stages.update(dict.fromkeys(stages, 0.0))
        t0 = time.perf_counter()
        c0 = time.process_time()
        for f in frames[1:]:
            n_det, n_described = staged(f)
            dets.append(n_det)
            described += n_described
            print(json.dumps({"frame_done": len(dets), "seconds": stages}), file=sys.stderr, flush=True)
    cpu = time.process_time() - c0
    total = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "weights": ident.weights_id,
                "size": [h, w],
                "frames": args.frames,
                "captions": args.captions,
                "frames_per_s": args.frames / total,
                "process_cpu_s_per_frame": cpu / args.frames,
                "seconds_per_frame": {k: v / args.frames for k, v in stages.items()},
                "process_cpu_s_per_frame_by_stage": {k: v / args.frames for k, v in cpu_stages.items()},
                "detections_per_frame": dets,
                "described": described,
                "text_seconds_per_detection": stages["text"] / described if described else None,
                "text_process_cpu_s_per_detection": cpu_stages["text"] / described if described else None,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
