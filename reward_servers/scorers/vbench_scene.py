"""VBench scene (specs/vbench.md §1.13): Tag2Text captions of 16 frames, every word of the scene label a substring.

The condition (`Sample.prompt`) is the scene label of `auxiliary_info` (e.g. "indoor swimming pool"). Per video,
as `vbench/scene.py`:
- frames: the 16 "middle" frames, brought to 384 x 384 ignoring the aspect ratio (the reference has decord decode
  at that size; models.tag2text.tag2text_frames: Pillow bicubic, see its note on decord's kernel), /255,
  ImageNet mean/std;
- captions: ONE `generate` call on the video's 16 frames together (tag threshold 0.7, banned tags, beam search 3,
  max 30, min 10, "a picture of " cut off; models.tag2text.generate). The batch is the video, exactly as the
  reference forms it, because the reference's generate has a batch-dependent quirk: the beams of frame i read
  the tag encoding of frame i // 3 of the same batch (frames 6-15 are never looked at). Protocol "vbench-v1"
  keeps that; "vbench-v1-tag2text-corrected" gives every frame its own tag encoding;
- a frame succeeds iff every ' '-separated word of the label occurs in its caption as a substring.
`scene_success_frame_count` and `scene_frame_count` (16) go to the runner, which forms Σ successes / Σ frames.

Videos never share a generate call, so a video's captions never depend on its batch neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
NUM_FRAMES = 16  # load_video(num_frames=16, width=384, height=384)
CORRECTED = "vbench-v1-tag2text-corrected"
# Our protocol -> models.tag2text.generate's.
_GENERATE_PROTOCOL = {PROTOCOL: "reference", CORRECTED: "corrected"}


@dataclass(frozen=True)
class SceneOptions:
    """Options of vbench_scene."""

    # The BERT vocabulary (vocab.txt path, its folder, or an HF id); None = bert-base-uncased's, offline.
    tokenizer: str | None = None
    # Key/value cache in the beam search: ~10x less decoder work, equal to float rounding (not bit for bit;
    # the reference recomputes every prefix).
    use_cache: bool = False


def build_scene(name: str, cfg: ScorerConfig) -> ConditionedVideoScorer:
    """Registry target: Tag2Text Swin-B 384 (or tiny) captions, the reference's substring rule."""
    from omninft.reward_servers.functional.vbench_semantic import scene_frame_success
    from omninft.reward_servers.models.tag2text import GenerationConfig, generate, tag2text_frames

    opts = scorer_options(SceneOptions, name, cfg)
    require_torch_backend(name, cfg)
    protocol = _GENERATE_PROTOCOL[SCENE.protocol(cfg)]
    gen = GenerationConfig(use_cache=opts.use_cache)

    def load() -> tuple[Any, Any, Any]:
        from omninft.reward_servers.models import tag2text

        model, tok, ident, _report = tag2text.load(
            cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None, tokenizer_source=opts.tokenizer
        )
        return model.to(cfg.device).eval(), tok, weights_info(ident)

    key = ("vbench-tag2text", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None, opts.tokenizer)
    model, tok, winfo = shared_load(key, load)
    warn_tiny(name, "Tag2Text Swin-B", winfo)
    size = int(model.config.swin.image_size)

    def prepare(frames: np.ndarray, fps: float, scene: str) -> Any:
        del fps, scene
        import torch

        return torch.from_numpy(tag2text_frames(sampled(frames, NUM_FRAMES), size))

    def compute(item: VideoItem) -> dict[str, Any]:
        result = generate(model, tok, item.extra.data.to(cfg.device), protocol=protocol, cfg=gen)
        hits = sum(scene_frame_success(c, item.extra.text) for c in result.captions)
        return {"scene_success_frame_count": float(hits), "scene_frame_count": float(len(result.captions))}

    info = SCENE.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video", "prompt"), image_size=size),
    )
    return ConditionedVideoScorer(info, min_frames=1, compute=compute, prepare=prepare, warmup_prompt="alley")


SCENE = ScorerSpec(
    name="vbench_scene",
    build=build_scene,
    version=VERSION,
    protocols=(PROTOCOL, CORRECTED),
    outputs=("scene_success_frame_count", "scene_frame_count"),
    modalities=("video", "prompt"),
    options=SceneOptions,
    families=("tag2text",),
    bench=(BenchMetric("vbench", "scene", output="scene_success_frame_count"),),
    summary="VBench scene: frames whose Tag2Text caption holds every word of the scene label (16 per video)",
)

SCORERS = (SCENE,)
