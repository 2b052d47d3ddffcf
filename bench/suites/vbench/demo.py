"""A small generated VBench set in the standard naming (`{prompt}-{i}.mp4`) plus its own suite JSON.

The suite covers all 16 dimensions with auxiliary_info of the reference's shapes; videos are bouncing-disc clips
(`bench/synth.py`), the temporal_flickering ones frozen (static). Deterministic for a given seed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from omninft.bench.demo_data import write_mp4
from omninft.bench.synth import bouncing_disc_clip

DEMO_SUITE: tuple[dict[str, Any], ...] = (
    {
        "prompt_en": "a red ball bouncing in a box",
        "dimension": ["subject_consistency", "dynamic_degree", "motion_smoothness"],
    },
    {"prompt_en": "In a still frame, a grey box", "dimension": ["temporal_flickering"]},
    {
        "prompt_en": "a ball in an alley",
        "dimension": ["scene", "background_consistency"],
        "auxiliary_info": {"scene": {"scene": {"scene": "alley"}}},
    },
    {
        "prompt_en": "a ball rolling on a table",
        "dimension": ["overall_consistency", "aesthetic_quality", "imaging_quality"],
    },
    {
        "prompt_en": "a person",
        "dimension": ["object_class"],
        "auxiliary_info": {"object_class": {"object": "person"}},
    },
    {
        "prompt_en": "a bird and a cat",
        "dimension": ["multiple_objects"],
        "auxiliary_info": {"multiple_objects": {"object": "bird and cat"}},
    },
    {"prompt_en": "A person is juggling balls", "dimension": ["human_action"]},
    {"prompt_en": "a red car", "dimension": ["color"], "auxiliary_info": {"color": {"color": "red"}}},
    {
        "prompt_en": "a bicycle on the left of a car, front view",
        "dimension": ["spatial_relationship"],
        "auxiliary_info": {
            "spatial_relationship": {
                "spatial_relationship": {
                    "object_a": "bicycle",
                    "object_b": "car",
                    "relationship": "on the left of",
                }
            }
        },
    },
    {
        "prompt_en": "a bouncing ball, pixel art",
        "dimension": ["appearance_style"],
        "auxiliary_info": {"appearance_style": {"appearance_style": "pixel art"}},
    },
    {"prompt_en": "a bouncing ball, zoom in", "dimension": ["temporal_style"]},
)
SUITE_NAME = "demo_full_info.json"


def write_demo_vbench(
    out_dir: Path,
    *,
    per_prompt: int = 5,
    seconds: float = 1.0,
    height: int = 96,
    width: int = 128,
    fps: float = 8.0,
    seed: int = 0,
) -> Path:
    """Write the demo videos and `demo_full_info.json` into `out_dir`; returns the suite path. Reuses files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, entry in enumerate(DEMO_SUITE):
        for i in range(per_prompt):
            path = out_dir / f"{entry['prompt_en']}-{i}.mp4"
            if path.exists():
                continue
            clip = bouncing_disc_clip(
                seed * 100_003 + 10 * k + i, seconds=seconds, height=height, width=width, fps=fps
            )
            if "temporal_flickering" in entry["dimension"]:  # static content, as the static filter would keep
                clip = replace(clip, frames=np.repeat(clip.frames[:1], clip.frames.shape[0], axis=0))
            write_mp4(path, clip, mux_audio=False)
    suite = out_dir.parent / SUITE_NAME if out_dir.parent != out_dir else out_dir / SUITE_NAME
    suite.write_text(json.dumps(list(DEMO_SUITE), indent=4))
    return suite
