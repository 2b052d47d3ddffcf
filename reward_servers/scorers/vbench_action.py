"""VBench human_action (specs/vbench.md §1.10): UMT ViT-L/16 Kinetics-400, sigmoid top-5 >= 0.85.

The condition (`Sample.prompt`) is the Kinetics-400 label the runner parsed from the file name with the
reference's rule (basename, lower-cased, before the first '-', after 'person is ', before the first '_').
A label that is no Kinetics-400 class name fails the video alone, naming the text (option `unknown_label:
"error"`, the default); the reference counts such a video as a wrong answer without saying why, which
`unknown_label: "incorrect"` reproduces (the video then counts in the accuracy's denominator).

Per video, as `vbench/human_action.py`: the 16 "middle" frames of `load_video` (the last index repeated when the
video is shorter); UMT's transforms (models.umt.umt_clip: cv2 bilinear short side 256, CenterCrop 224, /255,
ImageNet mean/std) giving (1, 3, 16, 224, 224); `sigmoid(logits)`, top 5, rounded to 4 decimals, classes with
probability >= 0.85 (functional.vbench_semantic.human_action_top_classes); correct iff the label is one of them.
`human_action_video_results` is 1.0 (correct) or 0.0; the runner writes the bool and `cor_num_per_video` and
forms the accuracy. A tiny model (32 px frames) resizes the short side to round(crop * 256 / 224) first, the
official ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._vbench import (
    PROTOCOL,
    VideoItem,
    require_torch_backend,
    warn_tiny,
    weights_info,
)
from omninft.reward_servers.scorers._vbench_conditioned import ConditionedVideoScorer, sampled
from omninft.reward_servers.scorers.base import InputSpec, ScorerConfig
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, scorer_options

VERSION = "1.0.0"
NUM_FRAMES = 16  # load_video(num_frames=16)
REFERENCE_RESIZE, REFERENCE_CROP = 256, 224


@dataclass(frozen=True)
class HumanActionOptions:
    """Options of vbench_human_action."""

    # A label that is no Kinetics-400 class: "error" = a named per-video error (left out of the accuracy);
    # "incorrect" = a wrong answer, as the reference counts it.
    unknown_label: Literal["error", "incorrect"] = "error"


def resize_for(crop: int) -> int:
    """The short side UMT's Resize brings frames to before a `crop` centre crop (256 for the official 224)."""
    return (
        REFERENCE_RESIZE if crop == REFERENCE_CROP else int(round(crop * REFERENCE_RESIZE / REFERENCE_CROP))
    )


def build_human_action(name: str, cfg: ScorerConfig) -> ConditionedVideoScorer:
    """Registry target: UMT ViT-L/16 K400 (or tiny), the reference's top-5 sigmoid rule."""
    from omninft.reward_servers.functional.vbench_semantic import human_action_top_classes
    from omninft.reward_servers.models.umt import kinetics400_classes, umt_clip

    opts = scorer_options(HumanActionOptions, name, cfg)
    require_torch_backend(name, cfg)

    def load() -> tuple[Any, Any]:
        from omninft.reward_servers.models import umt

        model, ident, _report = umt.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
        return model.to(cfg.device).eval(), weights_info(ident)

    model, winfo = shared_load(
        ("vbench-umt", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None), load
    )
    warn_tiny(name, "UMT ViT-L/16 K400", winfo)
    classes = kinetics400_classes()
    known = frozenset(classes)
    crop = int(model.config.image_size)
    resize = resize_for(crop)

    def prepare(frames: np.ndarray, fps: float, label: str) -> Any:
        del fps
        import torch

        if label not in known and opts.unknown_label == "error":
            raise ValueError(
                f"the label {label!r} (parsed from the file name) is not a Kinetics-400 class; "
                "human_action needs file names like 'A person is <class>-<index>.mp4'"
            )
        return torch.from_numpy(umt_clip(sampled(frames, NUM_FRAMES), resize, crop))

    def compute(item: VideoItem) -> dict[str, Any]:
        import torch

        with torch.no_grad():
            probs = torch.sigmoid(model(item.extra.data[None].to(cfg.device))).float().cpu().numpy()[0]
        correct = any(classes[i] == item.extra.text for i in human_action_top_classes(probs))
        return {"human_action_video_results": 1.0 if correct else 0.0}

    info = HUMAN_ACTION.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video", "prompt"), image_size=crop),
    )
    return ConditionedVideoScorer(
        info, min_frames=1, compute=compute, prepare=prepare, warmup_prompt="juggling balls"
    )


HUMAN_ACTION = ScorerSpec(
    name="vbench_human_action",
    build=build_human_action,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("human_action_video_results",),
    modalities=("video", "prompt"),
    options=HumanActionOptions,
    families=("umt",),
    bench=(BenchMetric("vbench", "human_action", output="human_action_video_results"),),
    summary="VBench human_action: 1.0 when UMT's sigmoid top-5 (>= 0.85) holds the file name's Kinetics label",
)

SCORERS = (HUMAN_ACTION,)
