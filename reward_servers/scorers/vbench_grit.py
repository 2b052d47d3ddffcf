"""VBench's GRiT dimensions: object_class, multiple_objects, spatial_relationship, color (specs/vbench.md §1.8-1.12).

Each video: 16 frames by the reference's middle rule (a shorter video repeats its last index), the short-side
>768 -> 720 resize of its reference path (models.grit.vbench), then GRiT-B one frame per call, score threshold
0.5, greedy text: ObjectDet names for object_class / multiple_objects / spatial_relationship, DenseCap captions
plus the ObjectDet names (`det_obj`) for color. The per-frame rules are functional.vbench_grit_dims.

What each scorer is told (`Sample.prompt`, the runner's condition, omninft.bench.suites.vbench):
- vbench_object_class: the object name ("person"); outputs object_class_success_frame_count (frames whose names
  include it exactly) and object_class_frame_count (16);
- vbench_multiple_objects: "A and B" (split on ' and ', both stripped; any other shape is a per-video error);
  outputs multiple_objects_success_frame_count (frames naming both) and multiple_objects_frame_count;
- vbench_spatial_relationship: JSON {"object_a", "object_b", "relationship"}; embedding frame_results (float64
  [16]: per frame the best pair score, unsigned direction, int boxes); two boxes with zero union area, where the
  reference divides by zero and stops, fail that video alone;
- vbench_color: JSON {"color", "object"} (the object derived from the prompt by the runner, as the reference
  does); outputs color_object_frame_count and color_color_frame_count (the first-detection-name quirk); the
  runner drops a video with no object frame, as the reference does.

One GRiT copy per server serves all four (shared load), and its detector remembers recent frames by pixel
content, so dimensions asking about the same video share one pass per frame (a DenseCap pass serves ObjectDet
too: boxes and names do not depend on the task). A video's numbers never depend on its batch neighbours.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from omninft.reward_servers.functional import vbench_grit_dims as rules
from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._vbench import (
    PROTOCOL,
    require_torch_backend,
    video_frames,
    warmup_video,
    warn_tiny,
    weights_info,
)
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, scorer_options

VERSION = "1.0.0"
NUM_FRAMES = 16


@dataclass(frozen=True)
class GRiTOptions:
    """Options of the VBench GRiT scorers."""

    # The decoder's WordPiece vocabulary: a vocab.txt, a folder holding one, or an HF id; empty = bert-base-uncased
    # (the tiny vocabulary with tiny weights).
    tokenizer: str = ""
    # Frames whose detections the server's GRiT remembers (by pixel content), so the GRiT dimensions of one video
    # share a pass; 0 = no cache.
    detection_cache_frames: int = 256

    def __post_init__(self) -> None:
        if self.detection_cache_frames < 0:
            raise ValueError(f"detection_cache_frames must be >= 0, got {self.detection_cache_frames}")


@dataclass(frozen=True)
class DetectionOptions(GRiTOptions):
    """Options of object_class, multiple_objects and spatial_relationship."""

    # torchvision Resize's antialias for frames with a short side > 768 (True: torchvision >= 0.17's default;
    # False: older torchvision).
    resize_antialias: bool = True


def _decoder(weights: str, tokenizer: str, vocab_size: int, cache_dir: str | None) -> Any:
    from omninft.reward_servers.models import grit

    if weights == "random" and not tokenizer:
        # random weights name nothing real: any vocabulary of the model's size with BERT's special tokens will do
        return grit.WordPieceDecoder(grit.build_tiny_vocab(vocab_size))
    return grit.load_decoder(weights, tokenizer or None, cache_dir=cache_dir)


def shared_detector(cfg: ScorerConfig, opts: GRiTOptions) -> tuple[Any, WeightsInfo]:
    """GRiT (+ decoder) on cfg.device, loaded once per server, behind a detector with its frame cache."""
    cache_dir = cfg.weights_dir or None
    model_key = ("vbench-grit", cfg.weights, cfg.seed, cfg.device, cache_dir, opts.tokenizer)

    def load_model() -> tuple[Any, Any, WeightsInfo]:
        from omninft.reward_servers.models import grit

        model, ident = grit.load(cfg.weights, cfg.seed, cache_dir=cache_dir)
        decoder = _decoder(cfg.weights, opts.tokenizer, model.cfg.vocab_size, cache_dir)
        return model.to(cfg.device).eval(), decoder, weights_info(ident)

    def load_detector() -> tuple[Any, WeightsInfo]:
        from omninft.reward_servers.models.grit.vbench import SharedDetector

        model, decoder, winfo = shared_load(model_key, load_model)
        return SharedDetector(model, decoder, cfg.device, opts.detection_cache_frames), winfo

    return shared_load((*model_key, opts.detection_cache_frames), load_detector)


@dataclass(frozen=True)
class GRiTItem:
    """One video: its sampled uint8 frames (resized in forward) and its parsed condition."""

    frames: np.ndarray
    condition: Any


class GRiTScorer:
    """One GRiT dimension: parse the condition, sample frames (CPU); detect per frame and decide (device thread)."""

    def __init__(
        self,
        info: ScorerInfo,
        *,
        detector: Any,
        parse: Callable[[str], Any],
        frames: Callable[[np.ndarray], np.ndarray],
        decide: Callable[[Sequence[Any], Any], dict[str, Any]],
        captions: bool,
        warmup_prompt: str,
    ) -> None:
        self.info = info
        self.detector = detector
        self.parse = parse
        self.frames = frames
        self.decide = decide
        self.captions = captions
        self.embed = bool(info.embeddings)
        self.warmup_prompt = warmup_prompt

    def preprocess(self, sample: DecodedSample) -> GRiTItem:
        """Check the video and the condition; keep the 16 sampled frames."""
        from omninft.reward_servers.models.grit.vbench import sample_frames

        frames, _ = video_frames(sample, self.info.name, 1)
        if not sample.prompt.strip():
            raise InvalidSample(
                f"{self.info.name} needs its auxiliary_info condition as the prompt; the sample has none"
            )
        try:
            condition = self.parse(sample.prompt)
        except ValueError as err:
            raise InvalidSample(f"{self.info.name}: {err}") from None
        return GRiTItem(sample_frames(frames, NUM_FRAMES), condition)

    def forward(self, items: Sequence[GRiTItem]) -> list[Any]:
        """Each video on its own, frame by frame (a video the rules cannot score fails alone)."""
        out: list[Any] = []
        for item in items:
            dets = self.detector.detect_frames(self.frames(item.frames), captions=self.captions)
            try:
                out.append(self.decide(dets, item.condition))
            except ValueError as err:
                out.append(InvalidSample(f"{self.info.name}: {err}"))
        return out

    def postprocess(self, output: dict[str, Any]) -> ScorerOutput:
        """Counts as scores, or the float64 per-frame list as an embedding."""
        if self.embed:
            return ScorerOutput(embeddings={k: np.asarray(v, dtype=np.float64) for k, v in output.items()})
        return ScorerOutput(scores={k: float(v) for k, v in output.items()})

    def warmup_sample(self) -> DecodedSample:
        """Two 64x64 frames of the VBench warm-up clip with a condition this dimension accepts (GRiT describes
        every detection, so larger frames only lengthen the warm-up)."""
        return replace(warmup_video(num_frames=2, height=64, width=64), prompt=self.warmup_prompt)


# ------------------------------------------------------------------------------------------- conditions


def parse_object(text: str) -> str:
    """object_class: the auxiliary_info object name, as given."""
    return text


def parse_object_pair(text: str) -> tuple[str, str]:
    """multiple_objects: 'A and B' -> (A, B)."""
    return rules.split_object_pair(text)


def _json_fields(text: str, fields: tuple[str, ...], what: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(
            f"expected the JSON condition {{{', '.join(repr(f) for f in fields)}}}, got {text!r}"
        )
    bad = [f for f in fields if not isinstance(value.get(f), str) or not value[f].strip()]
    if bad:
        raise ValueError(f"{what} condition lacks {', '.join(bad)}: {text!r}")
    return {f: value[f] for f in fields}


def parse_spatial(text: str) -> tuple[str, str, str]:
    """spatial_relationship: JSON {object_a, object_b, relationship} -> the three strings."""
    f = _json_fields(text, ("object_a", "object_b", "relationship"), "spatial_relationship")
    return f["object_a"], f["object_b"], f["relationship"]


def parse_color(text: str) -> tuple[str, str]:
    """color: JSON {color, object} -> (color, target object)."""
    f = _json_fields(text, ("color", "object"), "color")
    return f["color"], f["object"]


# ---------------------------------------------------------------------------------------------- decisions


def decide_object_class(dets: Sequence[Any], target: str) -> dict[str, Any]:
    """Frames whose ObjectDet names include `target`, of all frames."""
    names = [rules.frame_names(d.object_names) for d in dets]
    return {
        "object_class_success_frame_count": rules.object_class_successes(names, target),
        "object_class_frame_count": len(names),
    }


def decide_multiple_objects(dets: Sequence[Any], pair: tuple[str, str]) -> dict[str, Any]:
    """Frames whose ObjectDet names include both objects, of all frames."""
    names = [rules.frame_names(d.object_names) for d in dets]
    a, b = pair
    return {
        "multiple_objects_success_frame_count": sum(1 for n in names if a in n and b in n),
        "multiple_objects_frame_count": len(names),
    }


def decide_spatial(dets: Sequence[Any], cond: tuple[str, str, str]) -> dict[str, Any]:
    """Per frame the best pair score of the boxes named object_a or object_b (float64)."""
    a, b, relation = cond
    scores = [rules.spatial_frame_score(d.object_names, d.boxes.tolist(), a, b, relation) for d in dets]
    return {"frame_results": np.asarray(scores, dtype=np.float64)}


def decide_color(dets: Sequence[Any], cond: tuple[str, str]) -> dict[str, Any]:
    """Object frames (target named first and a colour word captioned) and colour frames (target colour captioned)."""
    color, target = cond
    objects = colors = 0
    for d in dets:
        if d.captions is None:
            raise ValueError("color needs DenseCap captions")
        object_flag, color_flag = rules.color_frame_flags(
            rules.color_frame_pairs(d.captions, d.object_names), target, color
        )
        objects += object_flag
        colors += color_flag
    return {"color_object_frame_count": objects, "color_color_frame_count": colors}


# ------------------------------------------------------------------------------------------------ builders


def _build(
    name: str, cfg: ScorerConfig, spec: ScorerSpec, options: type[GRiTOptions], **kw: Any
) -> GRiTScorer:
    from omninft.reward_servers.models.grit import vbench as gv

    opts = scorer_options(options, name, cfg)
    require_torch_backend(name, cfg)
    detector, winfo = shared_detector(cfg, opts)
    warn_tiny(name, "GRiT-B", winfo)
    if kw.pop("color_path", False):

        def frames(x: np.ndarray) -> np.ndarray:
            return gv.color_frames(x, NUM_FRAMES)
    else:
        assert isinstance(opts, DetectionOptions)  # the ObjectDet dimensions take the resize option
        antialias = opts.resize_antialias

        def frames(x: np.ndarray) -> np.ndarray:
            return gv.detection_frames(x, NUM_FRAMES, antialias=antialias)

    info = spec.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=spec.modalities, video_frames=NUM_FRAMES),
    )
    return GRiTScorer(info, detector=detector, frames=frames, **kw)


def build_object_class(name: str, cfg: ScorerConfig) -> GRiTScorer:
    """Registry target: GRiT ObjectDet names per frame, exact match with the object."""
    return _build(
        name,
        cfg,
        OBJECT_CLASS,
        DetectionOptions,
        parse=parse_object,
        decide=decide_object_class,
        captions=False,
        warmup_prompt="person",
    )


def build_multiple_objects(name: str, cfg: ScorerConfig) -> GRiTScorer:
    """Registry target: GRiT ObjectDet names per frame, both objects of 'A and B'."""
    return _build(
        name,
        cfg,
        MULTIPLE_OBJECTS,
        DetectionOptions,
        parse=parse_object_pair,
        decide=decide_multiple_objects,
        captions=False,
        warmup_prompt="bird and cat",
    )


def build_spatial_relationship(name: str, cfg: ScorerConfig) -> GRiTScorer:
    """Registry target: GRiT ObjectDet boxes per frame, the pairwise position score."""
    return _build(
        name,
        cfg,
        SPATIAL,
        DetectionOptions,
        parse=parse_spatial,
        decide=decide_spatial,
        captions=False,
        warmup_prompt=json.dumps({"object_a": "cat", "object_b": "dog", "relationship": "on the left of"}),
    )


def build_color(name: str, cfg: ScorerConfig) -> GRiTScorer:
    """Registry target: GRiT DenseCap captions with the first detection's ObjectDet name per frame."""
    return _build(
        name,
        cfg,
        COLOR,
        GRiTOptions,
        parse=parse_color,
        decide=decide_color,
        captions=True,
        color_path=True,
        warmup_prompt=json.dumps({"color": "red", "object": "car"}),
    )


_MODALITIES = ("video", "prompt")

OBJECT_CLASS = ScorerSpec(
    name="vbench_object_class",
    build=build_object_class,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("object_class_success_frame_count", "object_class_frame_count"),
    modalities=_MODALITIES,
    options=DetectionOptions,
    families=("grit",),
    bench=(BenchMetric("vbench", "object_class", output="object_class_success_frame_count"),),
    summary="VBench object_class: frames (of 16) where GRiT names the prompt's object",
)
MULTIPLE_OBJECTS = ScorerSpec(
    name="vbench_multiple_objects",
    build=build_multiple_objects,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("multiple_objects_success_frame_count", "multiple_objects_frame_count"),
    modalities=_MODALITIES,
    options=DetectionOptions,
    families=("grit",),
    bench=(BenchMetric("vbench", "multiple_objects", output="multiple_objects_success_frame_count"),),
    summary="VBench multiple_objects: frames (of 16) where GRiT names both objects of 'A and B'",
)
SPATIAL = ScorerSpec(
    name="vbench_spatial_relationship",
    build=build_spatial_relationship,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=(),
    embeddings=("frame_results",),
    modalities=_MODALITIES,
    options=DetectionOptions,
    families=("grit",),
    # a per-video metric carried as a variable-length float64 list (the runner's contract), hence "output"
    bench=(BenchMetric("vbench", "spatial_relationship", output="frame_results"),),
    summary="VBench spatial_relationship: per frame, the GRiT box-pair position score of object_a and object_b",
)
COLOR = ScorerSpec(
    name="vbench_color",
    build=build_color,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("color_object_frame_count", "color_color_frame_count"),
    modalities=_MODALITIES,
    options=GRiTOptions,
    families=("grit",),
    bench=(BenchMetric("vbench", "color", output="color_object_frame_count"),),
    summary="VBench color: frames where GRiT's DenseCap captions give the object a colour, and the asked colour",
)

SCORERS = (OBJECT_CLASS, MULTIPLE_OBJECTS, SPATIAL, COLOR)
