"""CLIP score (JavisBench `calc_clip_score`): mean over 48 frames of the frame-text cosine.

Protocols (specs/javisbench.md §6.5, specs/models.md §7):
- "javisbench-v1" (default, matches published numbers): frames at round(linspace(0, T-1, 48)) over the
  whole clip, with the channel order swapped to BGR (the reference converts BGR->RGB twice), then OpenAI
  CLIP preprocessing: Pillow bicubic resize of the shorter edge to 224, torchvision-style center crop
  (corner at round-half-even of the margin / 2), /255, CLIP mean/std.
- "javisbench-v1-rgb": the same with the channels in RGB order (the bug fixed).
Text is `prompt`, truncated at 77 tokens (clip.tokenize(truncate=True) keeps SOT + 75 tokens + EOT, as the
HF tokenizer with max_length=77 does). Score: mean over frames of cos(L2-normalised frame embedding,
L2-normalised text embedding), raw (no x100, no clamp). Known residual differences from the reference:
it ran OpenAI `clip` in fp16 on GPU, and decoded with OpenCV, whose YUV->RGB conversion may differ in the
last bit from PyAV's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.image import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    resize_shortest_edge_center_crop,
    to_normalized_chw,
)
from omninft.reward_servers.functional.sampling import javisbench_frame_indices
from omninft.reward_servers.functional.similarity import l2_normalize
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import clip as clip_model
from omninft.reward_servers.scorers._common import (
    backend_for,
    encode_texts,
    rows_per_call,
    run_chunked,
    text_graph,
    text_max_length,
)
from omninft.reward_servers.scorers._text_cache import TextEmbeddingCache
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, scorer_options

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # 1.1: 48-frame image calls on a CPU (last bits)
PROTOCOLS = ("javisbench-v1", "javisbench-v1-rgb")
DEFAULT_PROTOCOL = "javisbench-v1"
NUM_FRAMES = 48
DEFAULT_IMAGE_BATCH = 192  # on a GPU
# On a CPU ViT-B/32 costs 0.90x per frame in calls of 48 frames vs 192 and 1.58x in calls of 1 (cpu_rows,
# full size): 48 is one JavisBench sample, so a call never carries padded rows.
CPU_IMAGE_BATCH = 48


@dataclass(frozen=True)
class ClipItem:
    """One preprocessed sample: cropped uint8 frames (N, S, S, 3) in the protocol's channel order, caption."""

    frames: np.ndarray
    text: str
    frame_indices: np.ndarray


@dataclass(frozen=True)
class ClipRaw:
    """Backend outputs for one item: projected frame embeddings (N, D) and text embedding (D,)."""

    frames: np.ndarray
    text: np.ndarray


def make_graphs(model: Any, tokenizer: Any) -> dict[str, GraphSpec]:
    """The exportable cores of a loaded CLIPModel: "image" and "text"."""
    size = int(model.config.vision_config.image_size)
    max_len = text_max_length(tokenizer, model.config.text_config.max_position_embeddings)
    rng = np.random.default_rng(0)
    return {
        "image": GraphSpec(
            module=clip_model.ClipImageCore(model).eval(),
            input_names=("pixel_values",),
            output_names=("image_embeds",),
            example_inputs={"pixel_values": rng.standard_normal((2, 3, size, size)).astype(np.float32)},
        ),
        "text": text_graph(model, tokenizer, max_len),
    }


def _load(cfg: ScorerConfig) -> tuple[Any, Any, WeightsInfo]:
    model, tokenizer, ident = clip_model.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
    return model, tokenizer, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the exportable cores for cfg.weights and the identity of those weights."""
    del name
    model, tokenizer, info = _load(cfg)
    return make_graphs(model, tokenizer), info


def image_batch_size(cfg: ScorerConfig, name: str = "clip") -> int:
    """Most frames per image-graph call (also the batch bound exported engines must accept)."""
    chosen = scorer_options(ClipOptions, name, cfg).image_batch_size
    return rows_per_call(cfg, chosen, cpu=CPU_IMAGE_BATCH, accelerator=DEFAULT_IMAGE_BATCH)


class ClipScorer:
    """JavisBench CLIP score behind a backend (torch, onnxruntime or tensorrt)."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        backend: Backend,
        tokenizer: Any,
        weights: WeightsInfo,
        image_size: int,
        text_max_len: int,
    ) -> None:
        protocol = SPEC.protocol(cfg)
        self.cfg = cfg
        self.backend = backend
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.text_max_len = text_max_len
        self.bgr = protocol == "javisbench-v1"
        opts = scorer_options(ClipOptions, name, cfg)
        self.num_frames = opts.num_frames
        self.pass_order = opts.pillow_pass_order
        self.crop_rounding = opts.center_crop_rounding
        self.image_batch = image_batch_size(cfg, name)
        self.text_cache = TextEmbeddingCache(opts.text_cache_size)
        self.info = SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="clip",
            input_spec=InputSpec(
                modalities=("video", "prompt"),
                video_fps=0.0,
                video_frames=self.num_frames,
                image_size=image_size,
            ),
        )

    def preprocess(self, sample: DecodedSample) -> ClipItem:
        """Sample 48 frames, swap to BGR under the default protocol, resize the short edge, center-crop."""
        if sample.video is None:
            raise InvalidSample("clip needs video; the sample has none")
        if not sample.prompt.strip():
            raise InvalidSample("clip needs a text prompt; it is empty")
        frames = np.asarray(sample.video.frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InvalidSample(f"expected uint8 frames T x H x W x 3, got {frames.dtype} {frames.shape}")
        if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
            raise InvalidSample(f"video has no pixels (shape {frames.shape})")
        idx = javisbench_frame_indices(frames.shape[0], self.num_frames)
        # short clips repeat frames: preprocess each distinct frame once
        uniq, inverse = np.unique(idx, return_inverse=True)
        picked = frames[uniq]
        if self.bgr:
            picked = picked[..., ::-1]
        cropped = resize_shortest_edge_center_crop(
            np.ascontiguousarray(picked),
            self.image_size,
            self.image_size,
            pass_order=self.pass_order,
            rounding=self.crop_rounding,
        )
        return ClipItem(np.ascontiguousarray(cropped[inverse]), sample.prompt, idx)

    def forward(self, items: Sequence[ClipItem]) -> list[ClipRaw]:
        """All frames of all items in image calls of at most image_batch_size; texts via the cache."""
        counts = [it.frames.shape[0] for it in items]
        pixels = np.concatenate([it.frames for it in items], axis=0)
        embeds = []
        for start in range(0, pixels.shape[0], self.image_batch):
            chunk = to_normalized_chw(
                pixels[start : start + self.image_batch], OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
            )
            embeds.append(
                run_chunked(self.backend, "image", {"pixel_values": chunk}, "image_embeds", self.image_batch)
            )
        frame_emb = np.concatenate(embeds, axis=0)
        texts = self.text_cache.get_many(
            [it.text for it in items],
            lambda prompts: encode_texts(
                self.backend,
                self.tokenizer,
                prompts,
                max_length=self.text_max_len,
                chunk=self.cfg.max_batch_size,
            ),
        )
        bounds = np.cumsum([0, *counts])
        return [ClipRaw(frame_emb[bounds[i] : bounds[i + 1]], texts[i]) for i in range(len(items))]

    def postprocess(self, output: ClipRaw) -> ScorerOutput:
        """clip_score = mean_f cos(frame_f, text); "video" = mean of the normalised frame embeddings."""
        f = l2_normalize(output.frames)
        t = l2_normalize(output.text)
        per_frame = f.astype(np.float64) @ t.astype(np.float64)
        video = f.mean(axis=0, dtype=np.float64).astype(np.float32)
        return ScorerOutput(
            scores={"clip_score": float(per_frame.mean())}, embeddings={"video": video, "text": t}
        )

    def warmup_sample(self) -> DecodedSample:
        """Twelve 72x128 frames of a moving colour gradient."""
        y, x = np.mgrid[0:72, 0:128]
        frames = np.stack(
            [
                np.stack([(x * 2 + 9 * k) % 256, (y * 3) % 256, (x + y + 20 * k) % 256], axis=-1)
                for k in range(12)
            ]
        ).astype(np.uint8)
        return DecodedSample(
            id="warmup", prompt="a colourful moving gradient", video=DecodedVideo(frames, fps=12.0)
        )


def build(name: str, cfg: ScorerConfig) -> ClipScorer:
    """Registry target: load weights (offline), create the backend over the CLIP graphs, return the scorer."""
    model, tokenizer, winfo = _load(cfg)
    graphs = make_graphs(model, tokenizer)
    backend = backend_for(
        "clip", cfg, graphs, winfo.sha256, max_batch_size=max(cfg.max_batch_size, image_batch_size(cfg, name))
    )
    if winfo.tiny:
        logger.warning("scorer %s runs TINY RANDOM CLIP weights (%s)", name, winfo.weights_id)
    return ClipScorer(
        name,
        cfg,
        backend=backend,
        tokenizer=tokenizer,
        weights=winfo,
        image_size=int(model.config.vision_config.image_size),
        text_max_len=text_max_length(tokenizer, model.config.text_config.max_position_embeddings),
    )


@dataclass(frozen=True)
class ClipOptions(ModelOptions):
    """Options of clip."""

    # Frames sampled per clip.
    num_frames: int = NUM_FRAMES
    # Most frames per image-graph call; 0 = 48 on a CPU (one JavisBench sample, no padded rows), 192 on a GPU.
    image_batch_size: int = 0
    # PIL's two-pass resize order: horizontal_first (Pillow) or vertical_first.
    pillow_pass_order: str = "horizontal_first"
    # Centre-crop offset rounding: round (torchvision) or floor.
    center_crop_rounding: str = "round"
    # Prompts whose text embeddings are kept (LRU); 0 = no cache.
    text_cache_size: int = 4096


SPEC = ScorerSpec(
    name="clip",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=("clip_score",),
    embeddings=("video", "text"),
    modalities=("video", "prompt"),
    options=ClipOptions,
    families=("clip",),
    weights=("clip",),
    bench=(BenchMetric("javisbench", "clip_score", output="clip_score"),),
    summary="CLIP text-frame similarity (JavisBench CLIP score)",
)
SCORERS = (SPEC,)
