"""VBench temporal_style and overall_consistency (specs/vbench.md §1.15, §1.16): ViCLIP video-prompt cosine.

Both dimensions run the same procedure on different prompt suites, so both scorers read one ViCLIP copy per
server (`shared_load`). Per video, as `vbench/temporal_style.py` / `overall_consistency.py`:
- frames: the 8 "middle" frames of `read_frames_decord_by_fps` (padded with the last index when the video is
  shorter), then `clip_transform(224)` on the uint8 tensor (models.viclip.viclip_frames: bicubic short side
  without antialias, clamped and rounded back to uint8, CenterCrop, /255, CLIP Normalize);
- video feature: `encode_vision(test=True)` of (1, 8, 3, 224, 224), cast to float32, divided by its L2 norm;
- text feature: the full prompt (the condition the runner sends), CLIP BPE framed to 32 tokens (EOT kept on
  truncation), `encode_text`, float32, divided by its L2 norm; computed once per prompt and reused, as the
  reference caches it;
- `<dimension>_video_results` = float(video_feat @ text_feat.T), the raw cosine. The runner averages videos.

Each video goes through ViCLIP alone (the reference's batch of one), so its value never depends on its batch
neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._text_cache import TextEmbeddingCache
from omninft.reward_servers.scorers._vbench import (
    PROTOCOL,
    VideoItem,
    require_torch_backend,
    warn_tiny,
    weights_info,
)
from omninft.reward_servers.scorers._vbench_conditioned import ConditionedVideoScorer, sampled
from omninft.reward_servers.scorers.base import InputSpec, ScorerConfig
from omninft.reward_servers.scorers.spec import BenchMetric, ScorerSpec, finite, scorer_options

VERSION = "1.0.0"
NUM_FRAMES = 8  # read_frames_decord_by_fps(num_frames=8) in both dimension modules


@dataclass(frozen=True)
class ViclipOptions:
    """Options of vbench_temporal_style and vbench_overall_consistency."""

    # The CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz path or URL); None = the official file, offline.
    tokenizer: str | None = None
    # Prompts whose text features are kept (LRU); 0 = no cache (each video encodes its prompt again).
    text_cache_size: int = 4096

    def __post_init__(self) -> None:
        if self.text_cache_size < 0:
            raise ValueError(f"text_cache_size must be >= 0, got {self.text_cache_size}")


def shared_viclip(cfg: ScorerConfig, tokenizer: str | None) -> tuple[Any, Any, Any]:
    """(ViCLIP on cfg.device, its tokenizer, WeightsInfo), loaded once per server for both dimensions."""

    def load() -> tuple[Any, Any, Any]:
        from omninft.reward_servers.models import viclip

        model, tok, ident = viclip.load(
            cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None, tokenizer_source=tokenizer
        )
        return model.to(cfg.device).eval(), tok, weights_info(ident)

    return shared_load(
        ("vbench-viclip", cfg.weights, cfg.seed, cfg.device, cfg.weights_dir or None, tokenizer), load
    )


def _unit(x: Any) -> Any:
    """float32 copy divided by its L2 norm along the last axis (the reference's `/= norm(dim=-1, keepdim=True)`)."""
    x = x.float()
    return x / x.norm(dim=-1, keepdim=True)


def viclip_scorer(name: str, cfg: ScorerConfig, spec: ScorerSpec, dimension: str) -> ConditionedVideoScorer:
    """A scorer of `dimension`: raw cosine of the ViCLIP video feature and the prompt's text feature."""
    from omninft.reward_servers.models.viclip import viclip_frames

    opts = scorer_options(ViclipOptions, name, cfg)
    require_torch_backend(name, cfg)
    model, tok, winfo = shared_viclip(cfg, opts.tokenizer)
    warn_tiny(name, "ViCLIP ViT-L/14", winfo)
    size = int(model.config.image_size)
    cache = TextEmbeddingCache(opts.text_cache_size)

    def text_features(prompts: list[str]) -> np.ndarray:
        import torch

        rows = []
        with torch.no_grad():
            for prompt in prompts:  # one prompt per call, as the reference encodes them
                ids = torch.from_numpy(tok([prompt])).to(cfg.device)
                rows.append(_unit(model.encode_text(ids)).cpu().numpy()[0])
        return np.stack(rows).astype(np.float32, copy=False)

    def prepare(frames: np.ndarray, fps: float, text: str) -> Any:
        del fps, text
        import torch

        return torch.from_numpy(viclip_frames(sampled(frames, NUM_FRAMES), size))

    def compute(item: VideoItem) -> dict[str, Any]:
        import torch

        (text_feat,) = cache.get_many([item.extra.text], text_features)
        with torch.no_grad():
            video_feat = _unit(model.encode_video(item.extra.data[None].to(cfg.device)))
            logit = (
                video_feat @ torch.from_numpy(np.array(text_feat, dtype=np.float32))[None].to(cfg.device).T
            )
        value = float(logit[0][0].cpu())
        return {f"{dimension}_video_results": finite(value, f"{dimension} cosine")}

    info = spec.info(
        name,
        cfg,
        weights=winfo,
        backend="torch",
        device=cfg.device,
        input_spec=InputSpec(modalities=("video", "prompt"), image_size=size),
    )
    return ConditionedVideoScorer(
        info,
        min_frames=1,
        compute=compute,
        prepare=prepare,
        warmup_prompt="a yellow disc moving right, zoom in",
    )


def build_temporal_style(name: str, cfg: ScorerConfig) -> ConditionedVideoScorer:
    """Registry target: ViCLIP (shared with overall_consistency), cosine with the prompt."""
    return viclip_scorer(name, cfg, TEMPORAL_STYLE, "temporal_style")


def build_overall_consistency(name: str, cfg: ScorerConfig) -> ConditionedVideoScorer:
    """Registry target: ViCLIP (shared with temporal_style), cosine with the prompt."""
    return viclip_scorer(name, cfg, OVERALL_CONSISTENCY, "overall_consistency")


TEMPORAL_STYLE = ScorerSpec(
    name="vbench_temporal_style",
    build=build_temporal_style,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("temporal_style_video_results",),
    modalities=("video", "prompt"),
    options=ViclipOptions,
    families=("viclip",),
    bench=(BenchMetric("vbench", "temporal_style", output="temporal_style_video_results"),),
    summary="VBench temporal_style: ViCLIP cosine of 8 middle frames and the prompt",
)
OVERALL_CONSISTENCY = ScorerSpec(
    name="vbench_overall_consistency",
    build=build_overall_consistency,
    version=VERSION,
    protocols=(PROTOCOL,),
    outputs=("overall_consistency_video_results",),
    modalities=("video", "prompt"),
    options=ViclipOptions,
    families=("viclip",),
    bench=(BenchMetric("vbench", "overall_consistency", output="overall_consistency_video_results"),),
    summary="VBench overall_consistency: ViCLIP cosine of 8 middle frames and the prompt",
)

SCORERS = (TEMPORAL_STYLE, OVERALL_CONSISTENCY)
