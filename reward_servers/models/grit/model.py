"""GRiT (GRiT-B DenseCap+ObjectDet) assembled: preprocessing, backbone, proposals, cascade, text decoder.

`GRiT.state_dict()` has the key layout of `grit_b_densecap_objectdet.pth`'s "model" entry:
`backbone.*`, `proposal_generator.centernet_head.*`, `roi_heads.{box_head,box_predictor,mask_head}.*`,
`roi_heads.text_decoder.textual.*` and `roi_heads.text_decoder_det.textual.*` (one shared decoder, saved
under both names, as in the reference).

Inference follows VBench's use (`vbench/third_party/grit_src`): the predictor computes a resize but feeds
the ORIGINAL frame (§1.8), so the network runs at the input resolution, RGB as given, normalised with
the Base.yaml mean/std, zero-padded bottom/right to a multiple of 32. Detections are produced once; the
ObjectDet decoder ([CLS] begin token) names every detection and, for DenseCap, the same decoder started
from token 104 captions it. The reference runs the box cascade twice (once per task) on the same
features with the same result, so the boxes are shared here. Boxes of zero width or height are dropped
at the end (detectron2's detector_postprocess).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from omninft.reward_servers.functional.detection_ops import multilevel_roi_align
from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError
from omninft.reward_servers.models._state_dict import build_random, load_strict
from omninft.reward_servers.models.grit.backbone import ViTFPN
from omninft.reward_servers.models.grit.config import (
    FAMILY,
    OFFICIAL_WEIGHTS,
    PIXEL_MEAN,
    PIXEL_STD,
    TASKS,
    TOKENIZER_FAMILY,
    GRiTConfig,
)
from omninft.reward_servers.models.grit.proposals import CenterNetProposals
from omninft.reward_servers.models.grit.roi_heads import BOX_SCALES, CascadeBoxHeads
from omninft.reward_servers.models.grit.text_decoder import TextualHead, greedy_decode
from omninft.reward_servers.models.grit.tokenizer import WordPieceDecoder, build_tiny_vocab
from omninft.reward_servers.weights import WeightsIdentity, as_spec, resolve, resolve_named_file

logger = logging.getLogger(__name__)

# Keys a detectron2 checkpoint may carry that are not parameters of the network (older detectron2 saved
# the normalisation buffers); the reference's strict=False load ignores them, so do we. Anything else
# missing or unexpected is an error.
IGNORED_CHECKPOINT_KEYS = ("pixel_mean", "pixel_std")


@dataclass(frozen=True)
class GRiTDetections:
    """Detections of one image, in decreasing cascade-score order.

    boxes: (N, 4) float32 xyxy in input pixels; scores: (N,) sqrt(cascade score * exp(mean token log-prob));
    object_names: the ObjectDet text of each detection (VBench's `det_obj`); captions: the DenseCap text of
    each detection, or None when captions were not requested.
    """

    boxes: np.ndarray
    scores: np.ndarray
    object_names: tuple[str, ...]
    captions: tuple[str, ...] | None = None


class _TextDecoder(nn.Module):
    def __init__(self, textual: TextualHead) -> None:
        super().__init__()
        self.textual = textual


class RoIHeads(CascadeBoxHeads):
    """Cascade box heads plus the shared text decoder, under both of the reference's names."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__(cfg)
        textual = TextualHead(cfg)
        self.text_decoder = _TextDecoder(textual)
        self.text_decoder_det = _TextDecoder(textual)


class GRiT(nn.Module):
    """The whole detector; `detect` is the inference entry point."""

    def __init__(self, cfg: GRiTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GRiTConfig.official()
        self.backbone = ViTFPN(self.cfg)
        self.proposal_generator = CenterNetProposals(self.cfg)
        self.roi_heads = RoIHeads(self.cfg)
        # Detections are described this many at a time: bounds the decoder's memory cache (256 detections
        # hold ~1.9 GB of keys/values at full size). Rows are independent, so only float rounding can differ.
        self.text_chunk = 64

    def preprocess(self, image: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """H x W x 3 RGB (0-255, any real dtype) -> normalised (1, 3, H', W') padded to /32, and (H, W)."""
        t = torch.as_tensor(
            np.asarray(image, dtype=np.float32) if not isinstance(image, torch.Tensor) else image
        )
        if t.ndim != 3 or t.shape[2] != 3:
            raise ValueError(f"GRiT takes one H x W x 3 image, got shape {tuple(t.shape)}")
        mean, std = torch.tensor(PIXEL_MEAN).view(3, 1, 1), torch.tensor(PIXEL_STD).view(3, 1, 1)
        x = (t.float().permute(2, 0, 1) - mean) / std
        h, w = x.shape[1:]
        d = ViTFPN.size_divisibility
        padded = torch.zeros((1, 3, -(-h // d) * d, -(-w // d) * d), dtype=x.dtype)
        padded[0, :, :h, :w] = x
        return padded, (int(h), int(w))

    def describe(
        self, obj: torch.Tensor, decoder: WordPieceDecoder, captions: bool
    ) -> tuple[list[list[str]], list[torch.Tensor]]:
        """ObjectDet (and DenseCap) texts and log-probs of (n, r*r, C) ROI features."""
        textual = self.roi_heads.text_decoder.textual
        # memory tokens never attend to text, so both tasks share their keys/values
        memory = textual.memory_cache(obj)
        begins = [self.cfg.cls_token_id] + ([self.cfg.densecap_begin_id] if captions else [])
        texts, lps = [], []
        for begin in begins:
            out = greedy_decode(textual, obj, begin, self.cfg.sep_token_id, self.cfg.max_steps, memory)
            texts.append([decoder.decode(row.tolist()[1:]) for row in out.tokens])
            lps.append(out.logprobs)
        return texts, lps

    @torch.no_grad()
    def detect(
        self, image: np.ndarray | torch.Tensor, decoder: WordPieceDecoder, captions: bool = False
    ) -> GRiTDetections:
        """Detect, name (ObjectDet) and optionally caption (DenseCap) the objects of one RGB frame."""
        x, size = self.preprocess(image)
        features = self.backbone(x.to(next(self.parameters()).device))
        proposals, proposal_scores = self.proposal_generator(features)
        dets = self.roi_heads.detect(features[:3], proposals, proposal_scores, size)
        boxes, scores = dets.boxes, dets.scores
        names: list[str] = []
        caps: list[str] | None = [] if captions else None
        if boxes.shape[0]:
            pooled = multilevel_roi_align(
                features[:3],
                boxes,
                self.cfg.object_pooler_resolution,
                BOX_SCALES,
                self.cfg.pooler_sampling_ratio,
            )
            obj = pooled.flatten(2).transpose(1, 2).contiguous()  # (N, r*r, C)
            name_lp, cap_lp = [], []
            for part in obj.split(self.text_chunk):
                texts, lps = self.describe(part, decoder, captions)
                names += texts[0]
                name_lp.append(lps[0])
                if caps is not None:
                    caps += texts[1]
                    cap_lp.append(lps[1])
            score_lp = torch.cat(cap_lp if caps is not None else name_lp)
            scores = (scores * torch.exp(score_lp)) ** 0.5
            nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            keep = nonempty.tolist()
            boxes, scores = boxes[nonempty], scores[nonempty]
            names = [n for n, k in zip(names, keep, strict=True) if k]
            if caps is not None:
                caps = [c for c, k in zip(caps, keep, strict=True) if k]
        return GRiTDetections(
            boxes=boxes.cpu().numpy().astype(np.float32),
            scores=scores.cpu().numpy().astype(np.float32),
            object_names=tuple(names),
            captions=None if caps is None else tuple(caps),
        )


def detect_frames(
    model: GRiT, frames: np.ndarray, decoder: WordPieceDecoder, captions: bool = False
) -> list[GRiTDetections]:
    """GRiT on every frame of a (T, H, W, 3) RGB clip, one frame per call as the reference runs it."""
    return [model.detect(frame, decoder, captions=captions) for frame in frames]


def build(cfg: GRiTConfig | None = None) -> GRiT:
    """A GRiT of `cfg` (default: official) with PyTorch's default initialisation, in eval mode."""
    return GRiT(cfg).eval()


def _checkpoint_model_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or a pickle that needs arbitrary code
        raise WeightsLoadError(f"cannot read a torch checkpoint from {path}: {e}") from e
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]  # detectron2 Checkpointer layout
    if not isinstance(obj, Mapping):
        raise WeightsLoadError(f"{path} does not hold a state dict")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if k in IGNORED_CHECKPOINT_KEYS:
            continue
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v)
        if not isinstance(v, torch.Tensor):
            raise WeightsLoadError(f"{path}: entry {k!r} is not a tensor")
        out[str(k)] = v
    return out


def load_official(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a GRiT checkpoint ({"model": state dict} or a bare state dict) into `model`, strictly."""
    load_strict(model, _checkpoint_model_state(Path(path)), f"GRiT checkpoint {path}")


def _resolve(weights: str, cache_dir: str | os.PathLike[str] | None) -> tuple[Path, WeightsIdentity]:
    spec = OFFICIAL_WEIGHTS[FAMILY] if weights == "official" else as_spec(weights, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.main_file if resolved.path.is_dir() else resolved.path
    if path is None or not path.is_file():
        raise WeightsLoadError(f"no GRiT checkpoint file under {resolved.path}")
    return path, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False)


def load_decoder(
    weights: str, tokenizer: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None
) -> WordPieceDecoder:
    """The WordPiece decoder matching `weights`: the tiny vocabulary for "tiny", else bert-base-uncased's
    vocab.txt (or `tokenizer`: a vocab.txt path, a directory holding one, or an HF id)."""
    if weights == "tiny" and tokenizer is None:
        return WordPieceDecoder(build_tiny_vocab())
    spec = (
        OFFICIAL_WEIGHTS[TOKENIZER_FAMILY] if tokenizer is None else as_spec(tokenizer, name=TOKENIZER_FAMILY)
    )
    return WordPieceDecoder.from_file(resolve_named_file(spec, "vocab.txt", cache_dir=cache_dir))


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[GRiT, WeightsIdentity]:
    """(GRiT in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
    if weights in RANDOM_WEIGHTS:
        cfg = GRiTConfig.tiny() if weights == "tiny" else GRiTConfig.official()
        model, ident = build_random(lambda: GRiT(cfg), seed, weights)
        logger.info("%s: built random weights (%s)", FAMILY, ident.weights_id)
        assert isinstance(model, GRiT)
        return model, ident
    path, ident = _resolve(weights, cache_dir)
    model = build(GRiTConfig.official())
    load_official(model, path)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    if weights in RANDOM_WEIGHTS:
        return load(weights, seed)[1]
    return _resolve(weights, cache_dir)[1]


def check_task(task: str) -> str:
    """`task` if it is one GRiT was trained on (ObjectDet, DenseCap), else ValueError."""
    if task not in TASKS:
        raise ValueError(f"GRiT task must be one of {TASKS}, got {task!r}")
    return task
