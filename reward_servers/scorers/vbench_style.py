"""VBench appearance_style (specs/vbench.md §1.14): CLIP ViT-B/32 similarity of every frame to the style text.

The condition (`Sample.prompt`) is the style string of `auxiliary_info` ("Van Gogh style", "pixel art", ...),
with no template. Per video, as `vbench/appearance_style.py`:
- frames: ALL frames, each through `clip_transform_Image(224)` on a PIL image (functional.image: Pillow-exact
  antialiased bicubic short side 224, CenterCrop 224 at round((H - 224) / 2), /255, CLIP Normalize);
- text: `clip.tokenize([style])` (SOT, CLIP BPE, EOT, zeros to 77; a text longer than 77 tokens fails the video,
  where the reference raises);
- per frame, `clip_model(image, text)`: both features divided by their L2 norms, logits_per_image =
  logit_scale.exp() * image @ text.T in the model's precision, and the frame value is logits_per_text / 100
  (the cosine times exp(logit_scale) / 100: 1.0003 for OpenAI's fp16-rounded scale, as the reference computes).
`frame_results` (float64, one value per frame; `vbench_appearance_style.frame_results` on the wire) goes to the runner, which writes video_results
(np.mean), frame_results and cur_sim (the last frame) and averages over all frames of all videos (the
single-GPU formula; the multi-GPU path's mean of cur_sim is a bug, §1.14).

The model is the CLIP ViT-B/32 copy background_consistency uses (one per server). Protocol "vbench-v1" runs it in
fp16 on CUDA as the reference's OpenAI `clip` does (fp32 on CPU); "vbench-v1-fp32" runs fp32 everywhere.
Frames go through CLIP `image_batch_size` at a time counted from each video's first frame; 1 (the default) is
the reference's one frame per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from omninft.reward_servers.scorers._vbench import (
    CLIP_PROTOCOLS,
    VideoItem,
    clip_precision,
    require_torch_backend,
    shared_clip_b32_model,
    warn_tiny,
)
from omninft.reward_servers.scorers._vbench_conditioned import ConditionedVideoScorer
from omninft.reward_servers.scorers.base import InputSpec, ScorerConfig
from omninft.reward_servers.scorers.spec import ScorerSpec, scorer_options

VERSION = "1.0.0"
CONTEXT_LENGTH = 77  # clip.tokenize's context length (truncate=False: longer texts raise)


@dataclass(frozen=True)
class AppearanceStyleOptions:
    """Options of vbench_appearance_style."""

    # Frames per CLIP image call, counted from each video's first frame (1 = the reference's frame by frame).
    image_batch_size: int = 1
    # The CLIP BPE vocabulary for OpenAI `.pt` weights (path or URL; None = the official file, offline). HF and
    # tiny weights use their own tokenizer.
    tokenizer: str | None = None
    # Pillow's resampling pass order of the Pillow release to match (functional.image.pillow_pass_order).
    pillow_pass_order: Literal["horizontal_first", "pillow-12.2", "pillow-13"] = "horizontal_first"

    def __post_init__(self) -> None:
        if self.image_batch_size < 1:
            raise ValueError(f"image_batch_size must be >= 1, got {self.image_batch_size}")


def clip_image_frames(frames: np.ndarray, size: int, pass_order: str = "horizontal_first") -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 (T, 3, size, size): `clip_transform_Image(size)` applied to each frame."""
    from omninft.reward_servers.functional.image import resize_shortest_edge_center_crop, to_normalized_chw

    return to_normalized_chw(resize_shortest_edge_center_crop(frames, size, size, pass_order=pass_order))


def _text_tokenizer(hf_tokenizer: Any, source: str | None, cache_dir: str | None) -> Any:
    """CLIP's 77-token framing over the model's own tokenizer, or over the official BPE file for `.pt` weights."""
    from omninft.reward_servers.models.imagebind.tokenizer import ImageBindTokenizer

    if hf_tokenizer is not None:
        return ImageBindTokenizer(hf_tokenizer, context_length=CONTEXT_LENGTH)
    from omninft.reward_servers.models import viclip  # the same OpenAI CLIP bpe_simple_vocab_16e6 file

    return viclip.tokenizer(source, cache_dir=cache_dir, context_length=CONTEXT_LENGTH)


def build_appearance_style(name: str, cfg: ScorerConfig) -> ConditionedVideoScorer:
    """Registry target: CLIP ViT-B/32 (shared), per-frame logits_per_text / 100."""
    import torch

    opts = scorer_options(AppearanceStyleOptions, name, cfg)
    require_torch_backend(name, cfg)
    model, hf_tokenizer, winfo = shared_clip_b32_model(
        cfg, clip_precision(APPEARANCE_STYLE.protocol(cfg), cfg.device)
    )
    warn_tiny(name, "CLIP ViT-B/32", winfo)
    tok = _text_tokenizer(hf_tokenizer, opts.tokenizer, cfg.weights_dir or None)
    size = int(model.config.vision_config.image_size)
    dtype = model.logit_scale.dtype
    texts: dict[str, Any] = {}

    def text_feature(style: str) -> Any:
        """The normalised text feature of `style` (kept: the reference recomputes the same value every frame)."""
        if style not in texts:
            ids = torch.from_numpy(tok([style])).to(cfg.device)
            with torch.no_grad():
                pooled = model.text_model(input_ids=ids).pooler_output
                feat = model.text_projection(pooled)
            texts[style] = feat / feat.norm(dim=1, keepdim=True)
        return texts[style]

    def prepare(frames: np.ndarray, fps: float, style: str) -> Any:
        del fps
        n_ids = len(tok.encode(style)) + 2
        if n_ids > CONTEXT_LENGTH:
            raise ValueError(
                f"the style text has {n_ids} tokens, more than CLIP's {CONTEXT_LENGTH} (the reference raises)"
            )
        return torch.from_numpy(clip_image_frames(frames, size, opts.pillow_pass_order))

    def compute(item: VideoItem) -> dict[str, Any]:
        text = text_feature(item.extra.text)
        pixels = item.extra.data
        sims: list[float] = []
        with torch.no_grad():
            scale = model.logit_scale.exp()
            for start in range(0, pixels.shape[0], opts.image_batch_size):
                chunk = pixels[start : start + opts.image_batch_size].to(device=cfg.device, dtype=dtype)
                image = model.visual_projection(model.vision_model(pixel_values=chunk).pooler_output)
                image = image / image.norm(dim=1, keepdim=True)
                logits_per_text = (scale * image @ text.t()).t()
                sims += [float(v) / 100 for v in logits_per_text[0].float().cpu().tolist()]
        if not all(np.isfinite(sims)):
            raise ValueError("a frame's similarity is not finite")
        return {"frame_results": np.asarray(sims, dtype=np.float64)}

    info = APPEARANCE_STYLE.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video", "prompt"), image_size=size),
    )
    return ConditionedVideoScorer(
        info, min_frames=1, compute=compute, prepare=prepare, embed=True, warmup_prompt="pixel art"
    )


APPEARANCE_STYLE = ScorerSpec(
    name="vbench_appearance_style",
    build=build_appearance_style,
    version=VERSION,
    protocols=CLIP_PROTOCOLS,
    outputs=(),
    embeddings=("frame_results",),
    modalities=("video", "prompt"),
    options=AppearanceStyleOptions,
    families=("clip", "viclip"),
    weights=("clip_openai_vit_b32", "viclip_bpe"),  # OpenAI's .pt has no tokenizer
    summary="VBench appearance_style: CLIP ViT-B/32 logits_per_text / 100 of every frame and the style text",
)

SCORERS = (APPEARANCE_STYLE,)
