"""VBench's four GRiT dimensions as pure functions of per-frame detections (specs/vbench.md §1.8, 1.9, 1.11, 1.12).

Inputs are what GRiT gives per frame: the ObjectDet names of the detections (`det_obj`), their boxes
(xyxy, input pixels) and, for color, their DenseCap captions, all in decreasing score order. The rules
reproduce `vbench/{object_class,multiple_objects,spatial_relationship,color}.py`, quirks included:
- object_class / multiple_objects: exact string membership in the frame's set of names; an empty frame
  (the reference's IndexError path) has no names;
- spatial_relationship: boxes truncated with int() as `dense_pred_to_caption_tuple` does; every unordered
  pair of boxes named object_a or object_b (same class twice included) is scored; direction is never
  checked; the relation matches by Python substring test against 'on the left/right/top/bottom of';
- color: every caption is paired with the FIRST detection's name (not its own); a frame with no detection
  is the pair ('', ''); videos without any object frame are dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import torch
import torch.nn.functional as F

COLOR_WORDS = (
    "white",
    "red",
    "pink",
    "blue",
    "silver",
    "purple",
    "orange",
    "green",
    "gray",
    "yellow",
    "black",
    "grey",
)
HORIZONTAL = ("on the right of", "on the left of")
VERTICAL = ("on the bottom of", "on the top of")


def grit_frame_size(height: int, width: int) -> tuple[int, int] | None:
    """The reference's pre-GRiT resize: if min(H, W) > 768, (int(720/min * H), int(720/min * W)); else None."""
    short = min(height, width)
    if short <= 768:
        return None
    scale = 720.0 / short
    return int(scale * height), int(scale * width)


def resize_frames_torchvision(
    frames: np.ndarray, size: tuple[int, int], antialias: bool = True
) -> np.ndarray:
    """torchvision `transforms.Resize(size)` on a float (T, H, W, 3) 0-255 clip, as object_class and
    spatial_relationship apply it: bilinear, half-pixel centres, antialiased (torchvision >= 0.17 default
    for tensors; older versions did not antialias, hence the switch), float output, no rounding or clamp."""
    t = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out.permute(0, 2, 3, 1).contiguous().numpy()


class DegenerateBoxPair(ValueError):
    """Two truncated boxes with zero union area: the reference divides by zero here and stops the run."""


# --------------------------------------------------------------------------- object_class, multiple_objects


def frame_names(object_names: Sequence[str]) -> frozenset[str]:
    """The set of ObjectDet names of one frame (empty when nothing was detected)."""
    return frozenset(object_names)


def object_class_successes(frames: Sequence[Collection[str]], target: str) -> int:
    """Frames whose detected names include `target` exactly."""
    return sum(1 for names in frames if target in names)


def split_object_pair(objects: str) -> tuple[str, str]:
    """'bird and cat' -> ('bird', 'cat'); anything else than exactly two parts is an error, as in the reference."""
    parts = objects.split(" and ")
    if len(parts) != 2:
        raise ValueError(f"multiple_objects expects 'A and B', got {objects!r}")
    return parts[0].strip(), parts[1].strip()


def multiple_objects_successes(frames: Sequence[Collection[str]], objects: str) -> int:
    """Frames whose detected names include both objects of 'A and B'."""
    a, b = split_object_pair(objects)
    return sum(1 for names in frames if a in names and b in names)


def success_rate(successes: Sequence[int], frame_counts: Sequence[int]) -> float:
    """Σ successes / Σ frames over all videos (object_class and multiple_objects aggregate)."""
    total = sum(frame_counts)
    if total == 0:
        raise ValueError("no frames to aggregate")
    return sum(successes) / total


# ------------------------------------------------------------------------------------- spatial_relationship


def truncate_box(box: Sequence[float]) -> tuple[int, int, int, int]:
    """[int(a) for a in box]: truncation toward zero, as the reference's caption tuple builds it."""
    x0, y0, x1, y1 = (int(float(v)) for v in box)
    return x0, y0, x1, y1


def position_score(
    relation: str, box1: Sequence[float], box2: Sequence[float], iou_threshold: float = 0.1
) -> float:
    """get_position_score: 1 if the centres differ more along the relation's axis and IoU < 0.1,
    0.1 / IoU if they differ more along it but overlap more, else 0 (the sign is never checked)."""
    ax0, ay0, ax1, ay1 = box1
    bx0, by0, bx1, by1 = box2
    dx = (bx0 + bx1) / 2 - (ax0 + ax1) / 2
    dy = (by0 + by1) / 2 - (ay0 + ay1) / 2
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    if union == 0:
        raise DegenerateBoxPair(f"boxes {tuple(box1)} and {tuple(box2)} have zero union area")
    iou = inter / union
    if any(relation in r for r in HORIZONTAL):
        along = abs(dx) > abs(dy)
    elif any(relation in r for r in VERTICAL):
        along = abs(dy) > abs(dx)
    else:
        return 0.0
    if not along:
        return 0.0
    return 1.0 if iou < iou_threshold else iou_threshold / iou


def spatial_frame_score(
    names: Sequence[str], boxes: Sequence[Sequence[float]], object_a: str, object_b: str, relation: str
) -> float:
    """max(0, scores of every pair of (truncated) boxes named object_a or object_b) for one frame."""
    picked = [truncate_box(b) for n, b in zip(names, boxes, strict=True) if n in (object_a, object_b)]
    best = 0.0
    for i in range(len(picked) - 1):
        for j in range(i + 1, len(picked)):
            best = max(best, position_score(relation, picked[i], picked[j]))
    return best


def spatial_video_score(frame_scores: Sequence[float]) -> float:
    """np.mean of a video's frame scores."""
    return float(np.mean(np.asarray(frame_scores, dtype=np.float64)))


def spatial_aggregate(per_video_frame_scores: Sequence[Sequence[float]]) -> float:
    """Single-GPU aggregate: the mean over all frames of all videos."""
    flat = [s for frames in per_video_frame_scores for s in frames]
    if not flat:
        raise ValueError("no frames to aggregate")
    return float(np.mean(np.asarray(flat, dtype=np.float64)))


# -------------------------------------------------------------------------------------------------- color


def color_target_object(prompt: str, color: str) -> str:
    """The prompt without 'a ', 'an ' and the colour word, stripped (plain str.replace, as the reference)."""
    return prompt.replace("a ", "").replace("an ", "").replace(color, "").strip()


def color_frame_pairs(captions: Sequence[str], object_names: Sequence[str]) -> list[tuple[str, str]]:
    """(caption_i, name of the FIRST detection) for every detection; [('', '')] for an empty frame."""
    if len(captions) == 0:
        return [("", "")]
    return [(c, object_names[0]) for c in captions]


def color_frame_flags(pairs: Sequence[tuple[str, str]], target_object: str, color: str) -> tuple[bool, bool]:
    """(object_flag, color_flag) of one frame from its (caption, name) pairs."""
    object_flag = color_flag = False
    for caption, name in pairs:
        if name == target_object:
            if any(word in caption for word in COLOR_WORDS):
                object_flag = True
            if color in caption:
                color_flag = True
    return object_flag, color_flag


def color_video_score(
    frames: Sequence[tuple[Sequence[str], Sequence[str]]], target_object: str, color: str
) -> float | None:
    """#color frames / #object frames over (captions, object_names) per frame; None (video dropped) if no
    frame is an object frame."""
    objects = colors = 0
    for captions, names in frames:
        object_flag, color_flag = color_frame_flags(color_frame_pairs(captions, names), target_object, color)
        objects += object_flag
        colors += color_flag
    return colors / objects if objects > 0 else None


def color_aggregate(video_scores: Sequence[float | None]) -> float:
    """Mean of the retained (non-dropped) per-video scores."""
    kept = [s for s in video_scores if s is not None]
    if not kept:
        raise ValueError("color: every video was dropped (no frame showed the target object)")
    return sum(kept) / len(kept)
