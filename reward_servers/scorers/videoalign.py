"""VideoAlign VQ / MQ / TA (JavisBench `calc_video_quality_score`; OmniNFT `videoalign_score` backbone).

Protocol "javisbench-v1" (specs/javisbench.md §6.2, specs/models.md §5.1), as upstream
``VideoVLMRewardInference.reward``:
- frames: ``fps`` frames per second of the clip (the checkpoint's data_config; class default 2.0) or a fixed
  ``num_frames``; count rule and indices of qwen-vl-utils (functional.qwen2vl_frames.smart_nframes, rounded
  linspace); each frame resized to multiples of 28 with 128x28x28 <= pixels <= ``max_pixels`` (checkpoint's
  max_frame_pixels) by torchvision-style antialiased bicubic on uint8; /255, CLIP mean/std; Qwen2-VL patches.
- text: the ``detailed_special`` template around ``prompt``, in the Qwen2-VL chat template (default system
  prompt, one video, generation prompt), right-padded in a batch.
- output: the reward head at <|VQ_reward|>, <|MQ_reward|>, <|TA_reward|>: ``visual_quality``,
  ``motion_quality``, ``text_alignment``, raw (use_norm=False, what JavisBench reports).
Options: ``use_norm`` (bool, default False: (x - mean) / std per head with the checkpoint's inference_config,
what OmniNFT's reward server applies), ``fps`` / ``num_frames`` (one of them; default from the checkpoint),
``max_pixels``, ``dtype`` (float32 | bfloat16 | float16; default: the protocol's),
``checkpoint_step``. Backends: torch (one "reward" graph) or onnxruntime (the "vision" and "text" graphs of
models._qwen2vl_export, float32 only: protocol "javisbench-v1-fp32" or ``dtype: float32``).
Precision: the reference runs VideoAlign in bfloat16 on every device (CPU included), so "javisbench-v1" does
too; "javisbench-v1-fp32" is the same in float32 (an explicit ``dtype`` option overrides either).
Differences from the reference: frames come from PyAV (upstream: decord, else torchvision.io); clips whose
sampled frame count is odd (only clips of 3 frames) get their last frame repeated to fill the temporal patch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.image import to_normalized_chw
from omninft.reward_servers.functional.qwen2vl_frames import (
    num_visual_tokens,
    patchify,
    resize_bicubic_antialias,
    smart_nframes,
    smart_resize,
)
from omninft.reward_servers.functional.sampling import javisbench_frame_indices
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import _qwen2vl_export as qx
from omninft.reward_servers.models import _qwen2vl_reward as q
from omninft.reward_servers.models import videoalign as va
from omninft.reward_servers.scorers._common import backend_for
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import (
    BenchMetric,
    ModelOptions,
    ScorerSpec,
    known_options,
    scorer_options,
)

logger = logging.getLogger(__name__)

VERSION = "1.0.0"
PROTOCOLS = ("javisbench-v1", "javisbench-v1-fp32")
DEFAULT_PROTOCOL = "javisbench-v1"
OUTPUT_OF = {"VQ": "visual_quality", "MQ": "motion_quality", "TA": "text_alignment"}
OUTPUTS = tuple(OUTPUT_OF[d] for d in va.EVAL_DIMS)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class DtypeOption:
    """The `dtype` option VideoAlignOptions and HPSv3Options share (read by model_dtype for either scorer)."""

    dtype: str | None = None


def model_dtype(cfg: ScorerConfig, *, bf16_on_cpu: bool = True) -> torch.dtype:
    """options.dtype, else the protocol's: bfloat16 for javisbench-v1 (the reference's, on any device), float32
    for javisbench-v1-fp32. With bf16_on_cpu=False (HPSv3): bfloat16 on CUDA, float32 on CPU."""
    dtype = known_options(DtypeOption, cfg).dtype
    if dtype:
        name = dtype
    elif cfg.protocol == "javisbench-v1-fp32":
        name = "float32"
    else:
        name = "bfloat16" if bf16_on_cpu or str(cfg.device).startswith("cuda") else "float32"
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


EXPORTED_BACKENDS = ("onnxruntime",)


def check_backend(name: str, cfg: ScorerConfig, dtype: torch.dtype) -> None:
    """torch in any dtype, or ONNX Runtime over the float32 split graphs (no bfloat16 matmul on ORT's CPU)."""
    if cfg.backend == "torch":
        return
    if cfg.backend not in EXPORTED_BACKENDS:
        raise ValueError(f"{name} runs on the torch or onnxruntime backend, not {cfg.backend!r}")
    if dtype != torch.float32:
        raise ValueError(
            f"{name} on {cfg.backend} computes in float32 only, but this configuration asks for "
            f"{str(dtype).removeprefix('torch.')}: set protocol javisbench-v1-fp32 or options.dtype float32"
        )


def reward_graphs(model: q.Qwen2VLRewardModel, ids: q.TokenIds, cfg: ScorerConfig) -> dict[str, GraphSpec]:
    """The graphs cfg.backend runs: the single eager "reward" graph, or the exportable "vision" + "text" split."""
    return reward_graph(model, ids) if cfg.backend == "torch" else qx.split_graphs(model, ids)


def run_rewards(
    backend: Backend, items: Sequence[q.RewardInput], ids: q.TokenIds, cfg: ScorerConfig
) -> np.ndarray:
    """Rewards (len(items), n_special, out) through whichever graphs the backend holds (one sample per call)."""
    if cfg.backend == "torch":
        return q.run_reward(backend, items, ids.pad, cfg.max_batch_size)
    return qx.run_split(backend, items, ids)


def video_frames(sample: DecodedSample, name: str) -> np.ndarray:
    """The sample's uint8 T x H x W x 3 frames and a non-empty prompt, or InvalidSample."""
    if sample.video is None:
        raise InvalidSample(f"{name} needs video; the sample has none")
    if not sample.prompt.strip():
        raise InvalidSample(f"{name} needs a text prompt; it is empty")
    frames = np.asarray(sample.video.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InvalidSample(f"expected uint8 frames T x H x W x 3, got {frames.dtype} {frames.shape}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise InvalidSample(f"video has no pixels (shape {frames.shape})")
    return frames


def reward_graph(model: q.Qwen2VLRewardModel, ids: q.TokenIds) -> dict[str, GraphSpec]:
    """The single "reward" graph (eager torch only, so no example inputs are needed)."""
    return {
        "reward": GraphSpec(
            module=q.RewardCore(model, ids).eval(),
            input_names=("input_ids", "attention_mask", "pixel_values", "grid_thw"),
            output_names=("rewards",),
            example_inputs={},
        )
    }


@dataclass(frozen=True)
class VideoAlignItem:
    """One preprocessed clip: model inputs plus which frames were sampled at what size."""

    inputs: q.RewardInput
    frame_indices: np.ndarray
    frame_size: tuple[int, int]


class VideoAlignScorer:
    """VideoReward VQ/MQ/TA behind the torch or onnxruntime backend."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        backend: Backend,
        loaded: va.LoadedVideoAlign,
        weights: WeightsInfo,
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
        opts = scorer_options(VideoAlignOptions, name, cfg)
        self.use_norm = opts.use_norm
        fps, num_frames = opts.fps, opts.num_frames
        if fps is not None and num_frames is not None:
            raise ValueError(f"{name}: set options.fps or options.num_frames, not both")
        if fps is None and num_frames is None:
            fps, num_frames = self.model_cfg.fps, self.model_cfg.num_frames
        self.fps = None if fps is None else float(fps)
        self.num_frames = None if num_frames is None else int(num_frames)
        self.max_pixels = int(opts.max_pixels or self.model_cfg.max_pixels)
        self.info = ScorerInfo(
            name=name,
            model_family="videoalign",
            version=VERSION,
            outputs=OUTPUTS,
            embeddings=(),
            input_spec=InputSpec(
                modalities=("video", "prompt"), video_fps=self.fps or 0.0, video_frames=self.num_frames or 0
            ),
            protocol=protocol,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            max_batch_size=cfg.max_batch_size,
        )

    def preprocess(self, sample: DecodedSample) -> VideoAlignItem:
        """Sample frames at the checkpoint's fps, smart-resize, normalise, patchify; render and tokenise the prompt."""
        frames = video_frames(sample, self.info.name)
        video = sample.video
        assert video is not None
        mc = self.model_cfg
        try:
            n = smart_nframes(frames.shape[0], float(video.fps), fps=self.fps, nframes=self.num_frames)
            h, w = smart_resize(frames.shape[1], frames.shape[2], mc.factor, mc.min_pixels, self.max_pixels)
        except ValueError as e:
            raise InvalidSample(f"{self.info.name}: {e}") from e
        idx = javisbench_frame_indices(frames.shape[0], n)
        pixels = to_normalized_chw(resize_bicubic_antialias(frames[idx], h, w))
        rows, grid = patchify(pixels, patch_size=mc.patch_size, merge_size=mc.merge_size)
        text = q.chat_text(
            va.build_prompt(sample.prompt, mc.prompt_template_type),
            "video",
            visual_tokens=num_visual_tokens(grid, mc.merge_size),
        )
        try:
            input_ids = q.encode(self.tokenizer, text, self.ids, grid_thw=grid, merge_size=mc.merge_size)
        except ValueError as e:
            raise InvalidSample(f"{self.info.name}: {e}") from e
        return VideoAlignItem(q.RewardInput(input_ids, rows, grid), idx, (h, w))

    def forward(self, items: Sequence[VideoAlignItem]) -> list[np.ndarray]:
        """One reward call per max_batch_size clips; returns raw (VQ, MQ, TA) per clip."""
        rewards = run_rewards(self.backend, [it.inputs for it in items], self.ids, self.cfg)
        if rewards.shape[-1] == len(va.EVAL_DIMS):  # output_dim 3: each token's own head (upstream diagonal)
            heads = np.diagonal(rewards, axis1=1, axis2=2)
        else:
            heads = rewards[:, :, 0]
        return [heads[i].astype(np.float64) for i in range(len(items))]

    def postprocess(self, output: np.ndarray) -> ScorerOutput:
        """Raw heads, or (x - mean) / std per head when use_norm is set."""
        scores = {}
        for i, dim in enumerate(va.EVAL_DIMS):
            value = float(output[i])
            if self.use_norm:
                mean, std = self.model_cfg.norm[dim]
                value = (value - mean) / std
            scores[OUTPUT_OF[dim]] = value
        return ScorerOutput(scores=scores)

    def warmup_sample(self) -> DecodedSample:
        """Two seconds of a 64x96 moving gradient at 8 fps."""
        y, x = np.mgrid[0:64, 0:96]
        frames = np.stack(
            [
                np.stack([(x * 2 + 9 * k) % 256, (y * 3) % 256, (x + y + 20 * k) % 256], axis=-1)
                for k in range(16)
            ]
        ).astype(np.uint8)
        return DecodedSample(
            id="warmup", prompt="a colourful moving gradient", video=DecodedVideo(frames, fps=8.0)
        )


def load(cfg: ScorerConfig, name: str = "videoalign") -> tuple[va.LoadedVideoAlign, WeightsInfo]:
    """Load VideoReward for cfg.weights in the scorer's dtype."""
    opts = scorer_options(VideoAlignOptions, name, cfg)
    dtype = model_dtype(cfg)
    loaded = va.load(
        cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None, step=opts.checkpoint_step, dtype=dtype
    )
    if cfg.weights in ("tiny", "random"):
        loaded.model.to(dtype)
    ident = loaded.identity
    return loaded, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def build(name: str, cfg: ScorerConfig) -> VideoAlignScorer:
    """Registry target: load VideoReward (offline), put it behind cfg.backend, return the scorer."""
    check_backend(name, cfg, model_dtype(cfg))
    loaded, winfo = load(cfg, name)
    backend = backend_for("videoalign", cfg, reward_graphs(loaded.model, loaded.ids, cfg), winfo.sha256)
    if winfo.tiny:
        logger.warning("scorer %s runs TINY RANDOM VideoReward weights (%s)", name, winfo.weights_id)
    return VideoAlignScorer(name, cfg, backend=backend, loaded=loaded, weights=winfo)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the float32 "vision" and "text" graphs for cfg.weights and those weights' identity."""
    del name
    loaded, winfo = load(replace(cfg, options={**cfg.options, "dtype": "float32"}))
    return qx.split_graphs(loaded.model, loaded.ids), winfo


@dataclass(frozen=True)
class VideoAlignOptions(ModelOptions):
    """Options of videoalign."""

    # Normalise the heads with the checkpoint's reward mean/std.
    use_norm: bool = False
    # Frame sampling: fps or num_frames (not both); neither = the checkpoint's config.
    fps: float | None = None
    num_frames: int | None = None
    # Most pixels per frame (0/None = the checkpoint's config).
    max_pixels: int | None = None
    # Model dtype: float32, bfloat16 or float16; None = the protocol's (javisbench-v1: bfloat16 on any device,
    # as the reference; javisbench-v1-fp32: float32).
    dtype: str | None = None
    # checkpoint-<step> folder to load; None = the highest step.
    checkpoint_step: int | None = None


SCORERS = (
    ScorerSpec(
        name="videoalign",
        build=build,
        version=VERSION,
        protocols=PROTOCOLS,
        outputs=OUTPUTS,
        modalities=("video", "prompt"),
        options=VideoAlignOptions,
        families=("videoalign",),
        bench=(
            BenchMetric("javisbench", "visual_quality", output="visual_quality"),
            BenchMetric("javisbench", "motion_quality", output="motion_quality"),
        ),
        summary="VideoAlign VideoReward (visual quality, motion quality, text alignment)",
        batch_rtol=1e-5,
    ),
)
