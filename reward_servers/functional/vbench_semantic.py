"""Per-video scores and aggregates of four VBench Semantic dimensions (specs/vbench.md §1.10, 1.13, 1.15, 1.16, §4).

human_action (UMT): the ground-truth label is parsed from the file name; a video is correct iff that label is
among the top-5 sigmoid classes whose probability, rounded to 4 decimals, is >= 0.85; aggregate = accuracy.
scene (Tag2Text): a frame succeeds iff every ' '-separated word of the scene label is a substring of its
caption; aggregate = total successes / total frames (weighted per frame).
temporal_style and overall_consistency (ViCLIP): per video the cosine of the L2-normalised video and prompt
embeddings; aggregate = the mean over videos.
Per-video records carry the reference's JSON fields, so a runner can write `<name>_eval_results.json` as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

HUMAN_ACTION_TOP_K = 5
HUMAN_ACTION_THRESHOLD = 0.85


def human_action_label(video_path: str) -> str:
    """The reference's label: basename, lower-cased, before the first '-', after 'person is ', before '_'."""
    return video_path.split("/")[-1].lower().split("-")[0].split("person is ")[-1].split("_")[0]


def check_human_action_label(video_path: str, classes: Sequence[str]) -> str:
    """human_action_label, or ValueError naming the file and the parsed text when it is no class name."""
    label = human_action_label(video_path)
    if label not in classes:
        raise ValueError(
            f"human_action: file name {video_path!r} parses to {label!r}, which is not a Kinetics-400 "
            "class (expected '<...>person is <class>-<index>.mp4')"
        )
    return label


def human_action_top_classes(
    probs: np.ndarray, k: int = HUMAN_ACTION_TOP_K, threshold: float = HUMAN_ACTION_THRESHOLD
) -> list[int]:
    """Class indices among the top-k of sigmoid probabilities (num_classes,) with round(p, 4) >= threshold."""
    p = torch.as_tensor(np.asarray(probs, dtype=np.float32)).reshape(-1)
    values, indices = torch.topk(p, k)
    return [
        int(i) for v, i in zip(values.tolist(), indices.tolist(), strict=True) if round(v, 4) >= threshold
    ]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """float32 sigmoid, as torch.sigmoid computes it on the model's logits."""
    return torch.sigmoid(torch.as_tensor(np.asarray(logits, dtype=np.float32))).numpy()


def human_action_video(video_path: str, probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Per-video record: {video_path, video_results (bool), cor_num_per_video (0 or 1)}."""
    label = human_action_label(video_path)
    correct = any(classes[i] == label for i in human_action_top_classes(probs))
    return {"video_path": video_path, "video_results": correct, "cor_num_per_video": int(correct)}


def human_action_aggregate(records: Sequence[dict[str, Any]]) -> float:
    """Accuracy: correct videos / videos."""
    if not records:
        raise ValueError("human_action: no videos to aggregate")
    return sum(int(r["cor_num_per_video"]) for r in records) / len(records)


def scene_frame_success(caption: str, scene: str) -> bool:
    """Every word of `scene` (split on single spaces, as the reference splits) is a substring of `caption`."""
    return all(word in caption for word in scene.split(" "))


def scene_video(video_path: str, captions: Sequence[str], scene: str) -> dict[str, Any]:
    """Per-video record: {video_path, video_results (rate), success_frame_count, frame_count}."""
    if not captions:
        raise ValueError(f"scene: no captions for {video_path!r}")
    hits = sum(scene_frame_success(c, scene) for c in captions)
    return {
        "video_path": video_path,
        "video_results": hits / len(captions),
        "success_frame_count": hits,
        "frame_count": len(captions),
    }


def scene_aggregate(records: Sequence[dict[str, Any]]) -> float:
    """Successful frames / frames over all videos (weighted per frame, the single-GPU formula)."""
    frames = sum(int(r["frame_count"]) for r in records)
    if frames == 0:
        raise ValueError("scene: no frames to aggregate")
    return sum(int(r["success_frame_count"]) for r in records) / frames


def viclip_similarity(video_embedding: np.ndarray, text_embedding: np.ndarray) -> float:
    """Cosine of a video and a text embedding (each L2-normalised in float32 first, as the reference does)."""
    v = np.asarray(video_embedding, dtype=np.float32).reshape(-1)
    t = np.asarray(text_embedding, dtype=np.float32).reshape(-1)
    v = v / np.linalg.norm(v).astype(np.float32)
    t = t / np.linalg.norm(t).astype(np.float32)
    return float(np.dot(v, t))


def viclip_video(video_path: str, video_embedding: np.ndarray, text_embedding: np.ndarray) -> dict[str, Any]:
    """Per-video record of temporal_style / overall_consistency: {video_path, video_results (cosine)}."""
    return {"video_path": video_path, "video_results": viclip_similarity(video_embedding, text_embedding)}


def viclip_aggregate(records: Sequence[dict[str, Any]]) -> float:
    """The mean of the per-video cosines (np.mean over Python floats, float64)."""
    if not records:
        raise ValueError("no videos to aggregate")
    return float(np.mean([float(r["video_results"]) for r in records]))


temporal_style_video = overall_consistency_video = viclip_video
temporal_style_aggregate = overall_consistency_aggregate = viclip_aggregate
