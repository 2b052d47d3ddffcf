"""HPSv3 image preference score on video frames: `hpsv3` (one frame) and `hpsv3_video` (OmniNFT's reward).

Per frame, as upstream ``HPSv3RewardInferencer.reward`` (specs/models.md §5.2): the frame is resized with
Pillow-exact BICUBIC to multiples of 28 at about 256x28x28 pixels (qwen-vl-utils smart_resize with
min_pixels = max_pixels = 200704), /255, CLIP mean/std, Qwen2-VL patches (the image fills both temporal
slots); the text is HPSv3's instruction around ``prompt`` plus ``<|Reward|>`` in the Qwen2-VL chat template;
the score is mu, the first of the head's two outputs at ``<|Reward|>``.
- ``hpsv3`` (output ``hpsv3``): mu of the middle frame, index round((T - 1) / 2) (Python round; the third of
  hpsv3_video's five frames). A one-frame video is an image.
- ``hpsv3_video`` (output ``hpsv3_video``, OmniNFT ``hpsv3_score_video``, specs/trainer.md §3.2): frames at
  round(i (T - 1) / 4), i = 0..4; each score min(mu, 15); the mean of the best max(1, ceil(0.3 n)) scores
  (2 of 5). Options ``num_frames`` (5), ``clip_max`` (15.0), ``top_fraction`` (0.3).
Other options: ``dtype`` (as videoalign), ``pillow_pass_order`` (functional.image.PASS_ORDERS).
Backends: torch, or onnxruntime over the float32 "vision" and "text" graphs (as videoalign).
Differences from OmniNFT's pipeline: it sends each frame to its HPSv3 server as a JPEG (PIL quality 75) and
decodes it there; here the decoded frame is scored directly (no JPEG round trip). Frames come from PyAV
(OmniNFT: OpenCV seeks). A clip it cannot read scores 0.0 there; here it fails as an invalid sample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.image import resize_bicubic, to_normalized_chw
from omninft.reward_servers.functional.qwen2vl_frames import num_visual_tokens, patchify, smart_resize
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import _qwen2vl_export as qx
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models import hpsv3 as hp
from omninft.reward_servers.scorers._common import backend_for
from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import ModelOptions, ScorerSpec, scorer_options
from omninft.reward_servers.scorers.videoalign import (
    check_backend,
    model_dtype,
    reward_graphs,
    run_rewards,
    video_frames,
)

logger = logging.getLogger(__name__)

VERSION = "1.0.0"
PROTOCOLS = ("omninft-v1",)
DEFAULT_PROTOCOL = "omninft-v1"
VIDEO_FRAMES = 5
CLIP_MAX = 15.0
TOP_FRACTION = 0.3


def middle_frame_index(num_frames: int) -> int:
    """round((T - 1) / 2), Python's half-to-even round."""
    if num_frames <= 0:
        raise ValueError("cannot pick a frame from an empty clip")
    return int(round((num_frames - 1) / 2))


def uniform_frame_indices(num_frames: int, n: int = VIDEO_FRAMES) -> list[int]:
    """OmniNFT's frame indices round(i (T - 1) / (n - 1)), i = 0..n-1 (Python round)."""
    if num_frames <= 0:
        raise ValueError("cannot pick frames from an empty clip")
    if n == 1:
        return [middle_frame_index(num_frames)]
    return [int(round(i * (num_frames - 1) / (n - 1))) for i in range(n)]


def top_fraction_mean(scores: Sequence[float], fraction: float = TOP_FRACTION) -> float:
    """Mean of the best max(1, ceil(len * fraction)) scores (float product as in the reference: 5 -> 2)."""
    if not scores:
        raise ValueError("no scores")
    ranked = sorted(scores, reverse=True)
    k = max(1, math.ceil(len(ranked) * fraction))
    return sum(ranked[:k]) / k


def hpsv3_video_score(
    frame_mus: Sequence[float], *, clip_max: float = CLIP_MAX, fraction: float = TOP_FRACTION
) -> float:
    """OmniNFT's video score from per-frame mu: clip each at clip_max, then the top-fraction mean."""
    return top_fraction_mean([min(float(m), clip_max) for m in frame_mus], fraction)


@dataclass(frozen=True)
class HPSv3Item:
    """One preprocessed sample: model inputs of its distinct frames and, per sampled frame, which one it is."""

    inputs: tuple[q.RewardInput, ...]
    inverse: np.ndarray  # per sampled frame: index into inputs
    frame_indices: np.ndarray


class HPSv3Scorer:
    """HPSv3 on one frame (`hpsv3`) or OmniNFT's 5-frame aggregate (`hpsv3_video`)."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        backend: Backend,
        loaded: hp.LoadedHPSv3,
        weights: WeightsInfo,
        video: bool,
    ) -> None:
        protocol = cfg.protocol or DEFAULT_PROTOCOL
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"unknown protocol {protocol!r} for {name}; choose one of {', '.join(PROTOCOLS)}"
            )
        self.cfg = cfg
        self.backend = backend
        self.tokenizer = loaded.tokenizer
        self.model_cfg = loaded.config
        self.ids = loaded.ids
        self.video = video
        opts = scorer_options(HPSv3Options, name, cfg)
        self.num_frames = opts.num_frames if video else 1
        self.clip_max = opts.clip_max
        self.top_fraction = opts.top_fraction
        self.pass_order = opts.pillow_pass_order
        self.output = "hpsv3_video" if video else "hpsv3"
        self.info = ScorerInfo(
            name=name,
            model_family="hpsv3",
            version=VERSION,
            outputs=(self.output,),
            embeddings=(),
            input_spec=InputSpec(modalities=("video", "prompt"), video_frames=self.num_frames),
            protocol=protocol,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            max_batch_size=cfg.max_batch_size,
        )

    def frame_indices(self, num_frames: int) -> np.ndarray:
        """The frames this scorer reads from a clip of num_frames frames."""
        if self.video:
            return np.asarray(uniform_frame_indices(num_frames, self.num_frames), dtype=np.int64)
        return np.asarray([middle_frame_index(num_frames)], dtype=np.int64)

    def preprocess(self, sample: DecodedSample) -> HPSv3Item:
        """Pick the frames, resize each distinct one (Pillow bicubic), normalise, patchify; tokenise the prompt."""
        frames = video_frames(sample, self.info.name)
        mc = self.model_cfg
        try:
            h, w = smart_resize(frames.shape[1], frames.shape[2], mc.factor, mc.image_pixels, mc.image_pixels)
        except ValueError as e:
            raise InvalidSample(f"{self.info.name}: {e}") from e
        idx = self.frame_indices(frames.shape[0])
        uniq, inverse = np.unique(idx, return_inverse=True)
        resized = resize_bicubic(np.ascontiguousarray(frames[uniq]), h, w, pass_order=self.pass_order)
        pixels = to_normalized_chw(resized)
        inputs = []
        input_ids = None
        for k in range(len(uniq)):
            rows, grid = patchify(pixels[k : k + 1], patch_size=mc.patch_size, merge_size=mc.merge_size)
            if input_ids is None:  # same size and prompt for every frame: one tokenisation
                text = q.chat_text(
                    hp.build_prompt(sample.prompt),
                    "image",
                    visual_tokens=num_visual_tokens(grid, mc.merge_size),
                )
                try:
                    input_ids = q.encode(
                        self.tokenizer, text, self.ids, grid_thw=grid, merge_size=mc.merge_size
                    )
                except ValueError as e:
                    raise InvalidSample(f"{self.info.name}: {e}") from e
            inputs.append(q.RewardInput(input_ids, rows, grid))
        return HPSv3Item(tuple(inputs), np.asarray(inverse, dtype=np.int64).reshape(-1), idx)

    def forward(self, items: Sequence[HPSv3Item]) -> list[np.ndarray]:
        """All distinct frames of all items through the model, max_batch_size frames per call; mu per sampled frame."""
        flat = [inp for it in items for inp in it.inputs]
        rewards = run_rewards(self.backend, flat, self.ids, self.cfg)
        mus = rewards[:, 0, 0].astype(np.float64)
        out, start = [], 0
        for it in items:
            out.append(mus[start : start + len(it.inputs)][it.inverse])
            start += len(it.inputs)
        return out

    def postprocess(self, output: np.ndarray) -> ScorerOutput:
        """hpsv3: mu of the frame; hpsv3_video: clipped top-30 % mean over the sampled frames."""
        if not self.video:
            return ScorerOutput(scores={self.output: float(output[0])})
        score = hpsv3_video_score(output.tolist(), clip_max=self.clip_max, fraction=self.top_fraction)
        return ScorerOutput(scores={self.output: score})

    def warmup_sample(self) -> DecodedSample:
        """Eight 64x96 frames of a moving gradient."""
        y, x = np.mgrid[0:64, 0:96]
        frames = np.stack(
            [
                np.stack([(x * 2 + 9 * k) % 256, (y * 3) % 256, (x + y + 20 * k) % 256], axis=-1)
                for k in range(8)
            ]
        ).astype(np.uint8)
        return DecodedSample(
            id="warmup", prompt="a colourful moving gradient", video=DecodedVideo(frames, fps=8.0)
        )


def load(cfg: ScorerConfig) -> tuple[hp.LoadedHPSv3, WeightsInfo]:
    """Load HPSv3 for cfg.weights in the scorer's dtype (the head stays float32)."""
    dtype = model_dtype(cfg, bf16_on_cpu=False)

    def fresh() -> hp.LoadedHPSv3:
        loaded = hp.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None, dtype=dtype)
        if cfg.weights in ("tiny", "random"):
            loaded.model.to(dtype)
            loaded.model.rm_head.to(torch.float32)
        return loaded

    # hpsv3 and hpsv3_video on one server share the 7B model.
    loaded = shared_load(
        ("hpsv3", cfg.weights, cfg.seed, cfg.device, str(dtype), cfg.weights_dir or None), fresh
    )
    ident = loaded.identity
    return loaded, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def _build(name: str, cfg: ScorerConfig, video: bool) -> HPSv3Scorer:
    check_backend(name, cfg, model_dtype(cfg, bf16_on_cpu=False))
    loaded, winfo = load(cfg)
    backend = backend_for("hpsv3", cfg, reward_graphs(loaded.model, loaded.ids, cfg), winfo.sha256)
    if winfo.tiny:
        logger.warning("scorer %s runs TINY RANDOM HPSv3 weights (%s)", name, winfo.weights_id)
    return HPSv3Scorer(name, cfg, backend=backend, loaded=loaded, weights=winfo, video=video)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the float32 "vision" and "text" graphs for cfg.weights and those weights' identity."""
    del name
    loaded, winfo = load(replace(cfg, options={**cfg.options, "dtype": "float32"}))
    return qx.split_graphs(loaded.model, loaded.ids), winfo


def build(name: str, cfg: ScorerConfig) -> HPSv3Scorer:
    """Registry target of `hpsv3`: HPSv3 mu of the middle frame."""
    return _build(name, cfg, video=False)


def build_video(name: str, cfg: ScorerConfig) -> HPSv3Scorer:
    """Registry target of `hpsv3_video`: OmniNFT's 5-frame, clipped, top-30 % HPSv3 video reward."""
    return _build(name, cfg, video=True)


@dataclass(frozen=True)
class HPSv3Options(ModelOptions):
    """Options of hpsv3 and hpsv3_video."""

    # hpsv3_video: frames scored per clip.
    num_frames: int = VIDEO_FRAMES
    # Scores are clipped to [-clip_max, clip_max] before averaging.
    clip_max: float = CLIP_MAX
    # hpsv3_video: fraction of best frames averaged.
    top_fraction: float = TOP_FRACTION
    # PIL's two-pass resize order: horizontal_first (Pillow) or vertical_first.
    pillow_pass_order: str = "horizontal_first"
    # Model dtype: float32, bfloat16 or float16; None = bfloat16 on CUDA, float32 on CPU.
    dtype: str | None = None


SCORERS = (
    ScorerSpec(
        name="hpsv3",
        build=build,
        version=VERSION,
        protocols=PROTOCOLS,
        outputs=("hpsv3",),
        modalities=("video", "prompt"),
        options=HPSv3Options,
        families=("hpsv3",),
        summary="HPSv3 human preference score of the middle frame",
        batch_rtol=1e-5,
    ),
    ScorerSpec(
        name="hpsv3_video",
        build=build_video,
        version=VERSION,
        protocols=PROTOCOLS,
        outputs=("hpsv3_video",),
        modalities=("video", "prompt"),
        options=HPSv3Options,
        families=("hpsv3",),
        summary="HPSv3 over sampled frames (top-fraction mean)",
    ),
)
