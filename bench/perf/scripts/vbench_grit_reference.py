"""GRiT-B: ours (`models.grit`) vs VBench's GRiT (`vbench/third_party/grit_src`, detectron2) on the same weights.

    python -m omninft.bench.perf.scripts.vbench_grit_reference --ref-python /path/to/refvenv/bin/python \\
        --work /tmp/gritref [--ref-pythonpath D2SRC] [--frames 3] [--size 240x320] [--dimensions]

The reference is never a dependency: it runs in its own throwaway interpreter (`--ref-python`: a venv with
torch 2.5.1 + torchvision 0.20.1, `vbench==0.1.5`, transformers 4.33 and detectron2). detectron2 has no wheel
for this torch; either build it (`pip install --no-deps --no-build-isolation <detectron2 checkout>`, CPU-only is
enough, ~40 min on 2 cores) or put its Python sources on the reference's path with a stub `detectron2/_C.py`
(`--ref-pythonpath`): GRiT's inference reaches detectron2's NMS and ROIAlign, which call torchvision's, and
never the compiled ops (rotated boxes, deformable conv, COCO eval); a stubbed op would fail loudly, not differ.
Nothing is downloaded.

Steps: (1) build our GRiT-B at full size with random weights (seed 0), calibrate them so that a few boxes per
frame pass the 0.5 score threshold (every stage's `cls_score` weight scaled x30 and its foreground bias
lowered by 5: random weights otherwise keep ~all 256 proposals at scores ~0.6), and save them in the official
layout (`{"model": state dict}` as `grit_b_densecap_objectdet.pth`); write a synthetic 30522-entry WordPiece
vocabulary with BERT's special-token ids, words, "##" pieces and punctuation (random weights name nothing real;
the reference's `BertTokenizer.from_pretrained('bert-base-uncased')` is pointed at this file, as nothing can be
downloaded); (2) run our `GRiT.detect` on generated frames, ObjectDet and DenseCap; (3) in the reference
interpreter run VBench's `DenseCaptioning` (initialize_model_det: ObjectDet as object_class /
multiple_objects / spatial_relationship use it; initialize_model: DenseCap as color uses it) on the same uint8
RGB frames; (4) compare boxes, scores, object names (`det_obj`) and captions frame by frame, and the seconds per
frame. Prints a JSON summary and keeps it in WORK/comparison.json and bench/perf/results/vbench_grit_reference.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from omninft.bench.perf.scripts._common import report
from omninft.reward_servers.functional.vbench_grit_dims import COLOR_WORDS

CHECKPOINT = "grit_b_densecap_objectdet.pth"
CLS_WEIGHT_SCALE = 30.0
FG_BIAS_SHIFT = 5.0
VOCAB_SIZE = 30522
COLOURS = COLOR_WORDS  # the colour words VBench's color dimension looks for

# Runs in the reference interpreter: VBench's GRiT wrapper on the frames, both tasks, one frame per call.
_REF_RUN = r"""
import json, sys, time
import numpy as np, torch
work, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
import transformers
_orig = transformers.BertTokenizer.from_pretrained.__func__
def _local(cls, name, *a, **k):
    # the reference asks for 'bert-base-uncased' from the hub; the synthetic vocabulary stands in for it
    return _orig(cls, work + "/vocab", *a, **k)
transformers.BertTokenizer.from_pretrained = classmethod(_local)
from vbench.third_party.grit_model import DenseCaptioning
frames = np.load(work + "/frames.npy")
out = {}
for task, init in (("ObjectDet", "initialize_model_det"), ("DenseCap", "initialize_model")):
    t = time.perf_counter()
    model = DenseCaptioning(torch.device("cpu"))
    getattr(model, init)(model_weight=work + "/grit_b_densecap_objectdet.pth")
    load_s = time.perf_counter() - t
    rows, secs = [], []
    for f in frames:
        t = time.perf_counter()
        pred, _ = model.run_det_tensor(f)
        secs.append(time.perf_counter() - t)
        inst = pred["instances"].to("cpu")
        rows.append({
            "boxes": inst.pred_boxes.tensor.tolist(),
            "scores": inst.scores.tolist(),
            "texts": list(inst.pred_object_descriptions.data),
            "det_obj": list(inst.det_obj.data),
        })
    out[task] = {"frames": rows, "seconds_per_frame": secs, "load_s": load_s}
    del model
json.dump(out, open(work + "/reference.json", "w"))
"""

# Runs in the reference interpreter: VBench's four GRiT dimension functions on the 16-frame clip WORK/clip.npy.
# `load_video` of each module is pointed at the clip (what it returns for a lossless 16-frame file: float32
# (T, C, H, W) tensors, or uint8 (T, H, W, C) for color's return_tensor=False), and `run_caption_tensor` is
# memoised by frame bytes (GRiT is deterministic per frame; the clip repeats 3 frames, and this keeps the
# reference's cost to 3 frames per task). Everything else is the reference's code.
_REF_DIMS = r"""
import json, sys
import numpy as np, torch
work, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
import transformers
_orig = transformers.BertTokenizer.from_pretrained.__func__
transformers.BertTokenizer.from_pretrained = classmethod(lambda cls, name, *a, **k: _orig(cls, work + "/vocab", *a, **k))
from vbench import object_class, multiple_objects, spatial_relationship, color
from vbench.third_party.grit_model import DenseCaptioning
clip = np.load(work + "/clip.npy")
aux = json.load(open(work + "/aux.json"))
def fake_load_video(path, data_transform=None, num_frames=None, return_tensor=True, width=None, height=None):
    assert num_frames == len(clip)
    return torch.Tensor(clip).permute(0, 3, 1, 2) if return_tensor else clip.copy()
def memoised(model):
    run, memo = model.run_caption_tensor, {}
    def cached(img):
        key = np.ascontiguousarray(img, dtype=np.float32).tobytes()
        if key not in memo:
            memo[key] = run(img)
        return memo[key]
    model.run_caption_tensor = cached
    return model
weights = work + "/grit_b_densecap_objectdet.pth"
det = DenseCaptioning(torch.device("cpu")); det.initialize_model_det(model_weight=weights); memoised(det)
cap = DenseCaptioning(torch.device("cpu")); cap.initialize_model(model_weight=weights); memoised(cap)
out = {}
for mod, model, info in (
    (object_class, det, {"prompt": "x", "auxiliary_info": {"object": aux["object"]}}),
    (multiple_objects, det, {"prompt": "x", "auxiliary_info": {"object": aux["pair"]}}),
    (spatial_relationship, det, {"prompt": "x", "auxiliary_info": {"spatial_relationship": aux["spatial"]}}),
    (color, cap, {"prompt": aux["color_prompt"], "auxiliary_info": {"color": aux["color"]}}),
):
    mod.load_video = fake_load_video
    name = mod.__name__.split(".")[-1]
    agg, per_video = getattr(mod, name)(model, [{**info, "video_list": ["clip.mp4"]}], torch.device("cpu"))
    out[name] = {"value": float(agg), "video_results": per_video}
json.dump(out, open(work + "/reference_dims.json", "w"), default=float)
"""


def synthetic_vocab(size: int = VOCAB_SIZE) -> list[str]:
    """BERT's id layout for the special tokens ([PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103, [unusedN]
    elsewhere below 999), then words, '##' continuations and punctuation so decoding's glue rules are exercised."""
    vocab = [f"[unused{i}]" for i in range(999)]
    for i, tok in ((0, "[PAD]"), (100, "[UNK]"), (101, "[CLS]"), (102, "[SEP]"), (103, "[MASK]")):
        vocab[i] = tok
    # Every entry is unique: BertTokenizer keeps a repeated token's last id only, so the reference would decode
    # the earlier ids of a repeated word as [UNK] while ours decodes them as the word (a vocabulary artefact).
    punct = [".", ",", "!", "?", "'", "n't", "'s", "-"]
    for i in range(999, size):
        if i % 13 == 0 and punct:
            vocab.append(punct.pop(0))
        elif i % 19 == 0:  # colour words (the color dimension matches them as substrings of a caption)
            vocab.append(f"{COLOURS[(i // 19) % len(COLOURS)]}{i}")
        elif i % 3 == 0:
            vocab.append(f"##p{i}")
        else:
            vocab.append(f"w{i}")
    return vocab


def make_weights(work: Path) -> dict[str, Any]:
    """Full-size random GRiT-B (seed 0), calibrated, saved in the official layout; and the vocabulary."""
    import torch

    from omninft.reward_servers.models import grit

    path = work / CHECKPOINT
    (work / "vocab").mkdir(parents=True, exist_ok=True)
    (work / "vocab" / "vocab.txt").write_text("\n".join(synthetic_vocab()) + "\n", encoding="utf-8")
    if not path.exists():
        model, _ = grit.load("random", 0)
        with torch.no_grad():
            for pred in model.roi_heads.box_predictor:
                cls = pred.cls_score
                assert isinstance(cls, torch.nn.Linear)
                cls.weight.mul_(CLS_WEIGHT_SCALE)
                cls.bias[0] -= FG_BIAS_SHIFT
        torch.save({"model": model.state_dict()}, path)
    return {"checkpoint": str(path), "bytes": path.stat().st_size}


def make_frames(work: Path, n: int, h: int, w: int) -> np.ndarray:
    """Generated uint8 RGB frames: uniform noise and a bouncing-disc clip, alternating."""
    from omninft.bench.synth import bouncing_disc_clip

    rng = np.random.default_rng(0)
    clip = bouncing_disc_clip(0, seconds=1.0, height=h, width=w, fps=8.0).frames
    frames = np.stack(
        [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if i % 2 == 0 else clip[i] for i in range(n)]
    )
    np.save(work / "frames.npy", frames)
    return frames


def run_ours(work: Path, frames: np.ndarray) -> dict[str, Any]:
    """Our GRiT on the frames, ObjectDet (names) and DenseCap (captions + names), timed per frame."""
    from omninft.reward_servers.models import grit

    t = time.perf_counter()
    model = grit.build()
    grit.load_official(model, work / CHECKPOINT)
    decoder = grit.WordPieceDecoder.from_file(work / "vocab" / "vocab.txt")
    out: dict[str, Any] = {"load_s": time.perf_counter() - t}
    for task, captions in (("ObjectDet", False), ("DenseCap", True)):
        rows, secs = [], []
        for f in frames:
            t = time.perf_counter()
            d = model.detect(f, decoder, captions=captions)
            secs.append(time.perf_counter() - t)
            rows.append(
                {
                    "boxes": d.boxes.tolist(),
                    "scores": d.scores.tolist(),
                    "texts": list(d.captions if d.captions is not None else d.object_names),
                    "det_obj": list(d.object_names),
                }
            )
        out[task] = {"frames": rows, "seconds_per_frame": secs}
    return out


def make_clip(work: Path, frames: np.ndarray, ours: dict[str, Any]) -> dict[str, Any]:
    """The 16-frame clip (the frames repeated) and auxiliary_info naming what our ObjectDet/DenseCap found on frame 0."""
    clip = frames[[i % len(frames) for i in range(16)]]
    np.save(work / "clip.npy", clip)
    names = [n for f in ours["ObjectDet"]["frames"] for n in f["det_obj"]]
    if len(names) < 2:
        raise SystemExit("need two detections in the frames to build auxiliary_info; use more --frames")
    last = ours["ObjectDet"]["frames"][-1]["det_obj"]
    pair_b = last[0] if last and last[0] != names[0] else names[1]
    first_caps = ours["DenseCap"]["frames"][0]
    colours = [c for c in COLOURS if any(c in t for t in first_caps["texts"])] or ["red"]
    aux = {
        "object": names[0],
        "pair": f"{names[0]} and {pair_b}",
        "spatial": {"object_a": names[0], "object_b": names[1], "relationship": "on the left of"},
        "color": colours[0],
        "color_prompt": f"a {colours[0]} {first_caps['det_obj'][0]}",
    }
    (work / "aux.json").write_text(json.dumps(aux))
    return aux


def run_ours_dims(work: Path, aux: dict[str, Any]) -> dict[str, Any]:
    """Our four GRiT scorers on the clip; aggregates as the reference's single-process formulas."""
    from omninft.reward_servers.media import DecodedSample, DecodedVideo
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    clip = np.load(work / "clip.npy")
    # what VBench's color derives from the prompt (the runner does the same)
    obj = aux["color_prompt"].replace("a ", "").replace("an ", "").replace(aux["color"], "").strip()
    conditions = {
        "vbench_object_class": aux["object"],
        "vbench_multiple_objects": aux["pair"],
        "vbench_spatial_relationship": json.dumps(aux["spatial"]),
        "vbench_color": json.dumps({"color": aux["color"], "object": obj}),
    }
    cfg = ScorerConfig(weights=str(work / CHECKPOINT), options={"tokenizer": str(work / "vocab")})
    out: dict[str, Any] = {}
    for name, cond in conditions.items():
        with registry.sharing():
            scorer = registry.build(name, cfg)
        sample = DecodedSample(id="clip", prompt=cond, video=DecodedVideo(clip, 8.0))
        res = scorer.postprocess(scorer.forward([scorer.preprocess(sample)])[0])
        out[name] = {"scores": res.scores, "embeddings": {k: v.tolist() for k, v in res.embeddings.items()}}
    return out


def compare_dims(ref: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Dimension values: the reference's aggregate vs ours computed with the same formula."""
    o = ours
    oc = o["vbench_object_class"]["scores"]
    mo = o["vbench_multiple_objects"]["scores"]
    sr = o["vbench_spatial_relationship"]["embeddings"]["frame_results"]
    co = o["vbench_color"]["scores"]
    mine = {
        "object_class": oc["object_class_success_frame_count"] / oc["object_class_frame_count"],
        "multiple_objects": mo["multiple_objects_success_frame_count"] / mo["multiple_objects_frame_count"],
        "spatial_relationship": float(np.mean(sr)),
        # one video: the reference's color aggregate is its video's color frames / object frames
        "color": co["color_color_frame_count"] / co["color_object_frame_count"]
        if co["color_object_frame_count"]
        else None,
    }
    return {
        d: {"reference": ref[d]["value"], "ours": mine[d], "reference_video": ref[d]["video_results"]}
        for d in mine
    }


def compare(ref: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Per task: detections matched by rank; worst box / score differences and text agreement."""
    res: dict[str, Any] = {}
    for task in ("ObjectDet", "DenseCap"):
        n_ref, n_ours, box, score, texts, names, total = [], [], 0.0, 0.0, 0, 0, 0
        for r, o in zip(ref[task]["frames"], ours[task]["frames"], strict=True):
            n_ref.append(len(r["scores"]))
            n_ours.append(len(o["scores"]))
            if len(r["scores"]) != len(o["scores"]):
                continue
            if r["scores"]:
                box = max(box, float(np.abs(np.array(r["boxes"]) - np.array(o["boxes"])).max()))
                rs, os_ = np.array(r["scores"]), np.array(o["scores"])
                score = max(score, float((np.abs(rs - os_) / np.abs(rs)).max()))
            total += len(r["scores"])
            texts += sum(a == b for a, b in zip(r["texts"], o["texts"], strict=True))
            names += sum(a == b for a, b in zip(r["det_obj"], o["det_obj"], strict=True))
        res[task] = {
            "detections_ref": n_ref,
            "detections_ours": n_ours,
            "box_max_abs_px": box,
            "score_max_rel": score,
            "texts_equal": f"{texts}/{total}",
            "det_obj_equal": f"{names}/{total}",
            # the first frame of each side pays one-off costs (allocator, lazy init): timed from the second
            "s_per_frame_ref": float(
                np.mean(ref[task]["seconds_per_frame"][1:] or ref[task]["seconds_per_frame"])
            ),
            "s_per_frame_ours": float(
                np.mean(ours[task]["seconds_per_frame"][1:] or ours[task]["seconds_per_frame"])
            ),
        }
    return res


def ref_env(args: argparse.Namespace) -> dict[str, str]:
    """Environment of the reference interpreter: its threads, offline hub, the optional detectron2 path."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
    if args.ref_pythonpath:
        env["PYTHONPATH"] = args.ref_pythonpath
    return env


def main() -> None:
    """Make the weights and frames, run both sides, compare, print and keep the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-python", required=True, help="python of the throwaway reference venv")
    ap.add_argument(
        "--ref-pythonpath", default="", help="PYTHONPATH for the reference (detectron2 sources + stub _C)"
    )
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=3, help="noise / disc / noise ...; timed from the second")
    ap.add_argument("--size", default="240x320", help="HxW of the generated frames")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-reference", action="store_true", help="reuse WORK/reference.json")
    ap.add_argument(
        "--skip-reference-frames",
        action="store_true",
        help="reuse WORK/reference.json (per-frame) but run the reference's dimension functions",
    )
    ap.add_argument("--skip-ours", action="store_true", help="reuse WORK/ours.json")
    ap.add_argument(
        "--dimensions", action="store_true", help="also the four dimension functions on a 16-frame clip"
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    h, w = (int(v) for v in args.size.split("x"))
    weights = make_weights(args.work)
    frames = make_frames(args.work, args.frames, h, w)
    if args.skip_ours:
        ours = json.loads((args.work / "ours.json").read_text())
    else:
        ours = run_ours(args.work, frames)
        (args.work / "ours.json").write_text(json.dumps(ours))
    if not (args.skip_reference or args.skip_reference_frames):
        env = ref_env(args)
        subprocess.run(
            [args.ref_python, "-c", _REF_RUN, str(args.work), str(args.threads)],
            check=True,
            env=env,
        )
    ref = json.loads((args.work / "reference.json").read_text())
    dims = None
    if args.dimensions:
        aux = make_clip(args.work, frames, ours)
        ours_dims = run_ours_dims(args.work, aux)
        (args.work / "ours_dims.json").write_text(json.dumps(ours_dims))
        if not args.skip_reference:
            subprocess.run(
                [args.ref_python, "-c", _REF_DIMS, str(args.work), str(args.threads)],
                check=True,
                env=ref_env(args),
            )
        dims = compare_dims(json.loads((args.work / "reference_dims.json").read_text()), ours_dims)
    summary = {
        "weights": weights,
        "frames": [args.frames, h, w],
        "calibration": {"cls_weight_scale": CLS_WEIGHT_SCALE, "fg_bias_shift": FG_BIAS_SHIFT},
        "tasks": compare(ref, ours),
        "dimensions": dims,
    }
    (args.work / "comparison.json").write_text(json.dumps(summary, indent=1))
    report("vbench_grit_reference", summary)


if __name__ == "__main__":
    main()
