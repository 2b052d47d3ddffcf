"""What the VBench Semantic scorers without GRiT share: a per-video scorer that also reads the sample's condition.

The runner sends each dimension's condition as `Sample.prompt` (the prompt, the style string, the scene label,
the Kinetics label parsed from the file name; see `omninft.bench.suites.vbench`). `ConditionedVideoScorer` is the
Quality scorers' `PerVideoScorer` with that text passed to `prepare` and kept with the item; an empty condition
fails the sample alone, as a missing video does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers._vbench import PerVideoScorer, VideoItem, video_frames, warmup_video
from omninft.reward_servers.scorers.base import InvalidSample, ScorerInfo


@dataclass(frozen=True)
class Conditioned:
    """The CPU-side part of one conditioned video: its condition text and the prepared model input."""

    text: str
    data: Any


class ConditionedVideoScorer(PerVideoScorer):
    """A PerVideoScorer whose `prepare(frames, fps, text)` also sees the sample's condition (Sample.prompt)."""

    def __init__(
        self,
        info: ScorerInfo,
        *,
        min_frames: int,
        compute: Callable[[VideoItem], dict[str, Any]],
        prepare: Callable[[np.ndarray, float, str], Any],
        embed: bool = False,
        warmup_prompt: str = "",
    ) -> None:
        super().__init__(info, min_frames=min_frames, compute=compute, embed=embed)
        self.prepare_conditioned = prepare
        self.warmup_prompt = warmup_prompt

    def preprocess(self, sample: DecodedSample) -> VideoItem:
        """Check the video and the condition, then run the CPU-side preparation (ValueError fails the sample)."""
        frames, fps = video_frames(sample, self.info.name, self.min_frames)
        text = sample.prompt or ""
        if not text.strip():
            raise InvalidSample(
                f"{self.info.name} needs its condition text as the prompt; the sample has none"
            )
        try:
            data = self.prepare_conditioned(frames, fps, text)
        except ValueError as err:
            raise InvalidSample(f"{self.info.name}: {err}") from None
        return VideoItem(frames, fps, Conditioned(text, data))

    def warmup_sample(self) -> DecodedSample:
        """The Quality scorers' warm-up clip, with a condition this dimension accepts."""
        sample = warmup_video()
        return replace(sample, prompt=self.warmup_prompt) if self.warmup_prompt else sample


def sampled(frames: np.ndarray, num_frames: int) -> np.ndarray:
    """The reference's `num_frames` "middle" frames (padded with the last index when the video is shorter)."""
    from omninft.reward_servers.functional.vbench_frames import vbench_frame_indices

    return frames[vbench_frame_indices(num_frames, frames.shape[0])]
