"""`omninft-bench run vbench` over the four GRiT dimensions through the real console script and an embedded
`omninft-serve` hosting the project's GRiT scorers (tiny random weights): the reference JSON's per-video records
equal GRiT run directly on the same decoded frames plus the reference's rules, the runner's aggregates follow the
per-frame formulas, and a color video without an object frame is dropped (listed, not scored) as the reference
drops it. One video serves three dimensions, as the standard suite's overlapping prompts do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.bench.demo_data import write_mp4
from omninft.bench.synth import bouncing_disc_clip
from omninft.reward_servers.functional import vbench_grit_dims as rules
from omninft.reward_servers.media import decode_video
from omninft.reward_servers.models import grit
from omninft.reward_servers.models.grit import vbench as gv

SPATIAL = {"object_a": "dog", "object_b": "cat", "relationship": "on the left of"}
TINY_FIRST_NAME = "lk [unused9] [unused13] red [unused16] [unused5] p [unused5] i [unused5] i [unused5]"
SUITE = [
    # one video, three GRiT dimensions (the reference would run GRiT on it three times; the server once)
    {
        "prompt_en": "a dog on the left of a cat",
        "dimension": ["object_class", "multiple_objects", "spatial_relationship"],
        "auxiliary_info": {
            "object_class": {"object": "dog"},
            "multiple_objects": {"object": "dog and cat"},
            "spatial_relationship": {"spatial_relationship": SPATIAL},
        },
    },
    {"prompt_en": "a red car", "dimension": ["color"], "auxiliary_info": {"color": {"color": "red"}}},
    # the same clip as "a red car", its object named as tiny GRiT names this clip's first detection, so the color
    # video is kept (random weights never say "car")
    {
        "prompt_en": f"a white {TINY_FIRST_NAME}",
        "dimension": ["color"],
        "auxiliary_info": {"color": {"color": "white"}},
    },
]
DIMS = ("object_class", "multiple_objects", "color", "spatial_relationship")


def _write(root: Path) -> tuple[Path, Path]:
    videos = root / "videos"
    videos.mkdir()
    for k, entry in enumerate(SUITE):
        clip = bouncing_disc_clip(7 + min(k, 1), seconds=0.5, height=48, width=64, fps=8.0)  # 4 frames -> 16
        write_mp4(videos / f"{entry['prompt_en']}-0.mp4", clip, mux_audio=False)
    suite = root / "suite.json"
    suite.write_text(json.dumps(SUITE))
    return videos, suite


def _direct(path: Path, captions: bool) -> list[grit.GRiTDetections]:
    """GRiT (tiny, seed 0) on the 16 frames the reference samples from the decoded video, one frame per call."""
    frames = decode_video(path, max_frames=10_000, max_pixels=10**8).frames
    model, _ = grit.load("tiny", seed=0)
    clip = gv.color_frames(frames) if captions else gv.detection_frames(frames)
    torch.set_num_threads(1)
    return [model.detect(f, grit.load_decoder("tiny"), captions=captions) for f in clip]


@pytest.mark.slow
def test_run_vbench_fills_the_grit_dimensions_as_the_reference_computes_them(tmp_path: Path) -> None:
    exe = shutil.which("omninft-bench")
    assert exe, "console script not installed"
    videos, suite = _write(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            exe,
            "run",
            "vbench",
            "--videos",
            str(videos),
            "--full-info",
            str(suite),
            "--dimensions",
            ",".join(DIMS),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0 and "TINY RANDOM WEIGHTS" in proc.stderr, proc.stderr[-3000:]
    ev = json.loads((out / "evaluation_results" / "results_eval_results.json").read_text())
    shared = videos / f"{SUITE[0]['prompt_en']}-0.mp4"
    dets = _direct(shared, captions=False)
    names = [rules.frame_names(d.object_names) for d in dets]

    value, (rec,) = ev["object_class"]
    ok = rules.object_class_successes(names, "dog")
    assert rec == {
        "video_path": str(shared),
        "video_results": ok / 16,
        "success_frame_count": ok,
        "frame_count": 16,
    }
    assert value == ok / 16

    value, (rec,) = ev["multiple_objects"]
    ok = rules.multiple_objects_successes(names, "dog and cat")
    assert (rec["success_frame_count"], rec["frame_count"], value) == (ok, 16, ok / 16)

    value, (rec,) = ev["spatial_relationship"]
    frames = [
        rules.spatial_frame_score(d.object_names, d.boxes.tolist(), "dog", "cat", SPATIAL["relationship"])
        for d in dets
    ]
    assert rec["frame_results"] == frames and rec["video_results"] == float(np.mean(frames))
    assert value == rules.spatial_aggregate([frames])

    dropped, kept = (videos / f"{e['prompt_en']}-0.mp4" for e in SUITE[1:])
    color_dets = [(d.captions, d.object_names) for d in _direct(dropped, captions=True)]
    assert rules.color_video_score(color_dets, "car", "red") is None  # no frame names a car first
    rate = rules.color_video_score(color_dets, TINY_FIRST_NAME, "white")  # the same frames
    assert rate is not None
    value, records = ev["color"]
    assert records == [{"video_path": str(kept), "video_results": rate, "cur_success_frame_rate": rate}]
    assert value == rate
    doc = json.loads((out / "results.json").read_text())
    assert str(dropped) in json.dumps(doc) and "dropped" in json.dumps(doc).lower()
    prov = doc["provenance"]
    assert prov["tiny_weights"] and {s["name"] for s in prov["scorers"]} == {f"vbench_{d}" for d in DIMS}
    assert prov["decodes"]["videos"] == 3 and prov["decodes"]["per_video"] == 1.0
