"""The temporal_flickering static filter (spec §1.3.1): decision rule, candidate order and output layout.

The served scorer `vbench_static_filter` runs RAFT and returns, per video, `pair_scores` (the mean of the top 2 %
flow magnitudes of every consecutive pair, then first→last and last→first, in the reference's order) and
`frame_shape` (N, H, W). The decision is made here, from those numbers, exactly as the reference's
`StaticFilter.check_static` does; the selection (sorted files, 5 static videos per prompt) and the output layout
(`filtered_videos/<prompt>-<i>.mp4`, `filtered_static_video.json`) are those of `vbench static_filter`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omninft.bench.suites.vbench.locate import prompt_from_filename

STATIC_PER_PROMPT = 5
INFO_NAME = "filtered_static_video.json"
FILTERED_DIR = "filtered_videos"


def static_thresholds(n_frames: int, height: int, width: int) -> tuple[float, int]:
    """(thres, count_num): 3·min(H,W)/256 and round(2·N/16) with Python's round-half-even."""
    return 3.0 * (min(height, width) / 256.0), round(2 * (n_frames / 16.0))


def is_static(pair_scores: Sequence[float], n_frames: int, height: int, width: int) -> bool:
    """The reference's rule: too many consecutive pairs moving, or a large first↔last motion, is not static."""
    if len(pair_scores) < 2:
        raise ValueError(f"pair_scores needs the two first/last scores, got {len(pair_scores)} values")
    thres, count_num = static_thresholds(n_frames, height, width)
    count = 0
    for score in pair_scores[:-2]:
        if score > thres:
            count += 1
        if count > count_num:
            return False
    return all(not score > thres * count_num * 2 for score in pair_scores[-2:])


@dataclass
class FilterResult:
    """Per prompt: the static videos kept (in order) and how many candidates were tested."""

    prompts: dict[str, list[Path]]
    tested: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # video path -> why it could not be tested

    def to_reference_json(self) -> dict[str, dict[str, object]]:
        """The reference's filtered_static_video.json: {prompt: {static_count, static_path}}."""
        return {
            p: {"static_count": len(v), "static_path": [str(x) for x in v]} for p, v in self.prompts.items()
        }


def candidates(videos: Path, prompts: list[str] | None) -> list[Path]:
    """The reference's candidate list: sorted *.mp4 of the folder (restricted to `prompts` when given)."""
    paths = sorted(videos.glob("*.mp4"))
    if prompts is None:
        return paths
    wanted = set(prompts)
    return [p for p in paths if prompt_from_filename(p.name) in wanted]


Judge = Callable[[list[Path]], dict[Path, bool | str]]  # paths -> static flag, or the reason it failed


def select_static(
    paths: list[Path], prompts: list[str] | None, judge: Judge, *, per_prompt: int | None = STATIC_PER_PROMPT
) -> FilterResult:
    """Test candidates in sorted order, stopping per prompt after `per_prompt` static ones (None: test all).

    Candidates are sent to `judge` in rounds of at most the number still needed per prompt, so no video beyond the
    reference's early stop is tested, while prompts are still batched together.
    """
    order = (
        prompts if prompts is not None else list(dict.fromkeys(prompt_from_filename(p.name) for p in paths))
    )
    result = FilterResult({p: [] for p in order})
    queues: dict[str, list[Path]] = {p: [] for p in order}
    for path in paths:
        name = prompt_from_filename(path.name)
        if name in queues:
            queues[name].append(path)
    while True:
        batch: list[Path] = []
        for prompt, queue in queues.items():
            need = len(queue) if per_prompt is None else per_prompt - len(result.prompts[prompt])
            batch += queue[: max(0, need)]
        if not batch:
            break
        verdicts = judge(batch)
        result.tested += len(batch)
        for path in batch:
            name = prompt_from_filename(path.name)
            queues[name].remove(path)
            verdict = verdicts.get(path, "no verdict")
            if isinstance(verdict, str):
                result.errors[str(path)] = verdict
            elif verdict:
                # Sorted order within a prompt decides which static videos are kept, as in the reference.
                result.prompts[name].append(path)
        for prompt in result.prompts:
            result.prompts[prompt].sort()
            if per_prompt is not None and len(result.prompts[prompt]) >= per_prompt:
                result.prompts[prompt] = result.prompts[prompt][:per_prompt]
                queues[prompt] = []
    return result


def write_filtered(result: FilterResult, out: Path) -> Path:
    """Write filtered_static_video.json and copy the kept videos to filtered_videos/<prompt>-<i>.mp4."""
    target = out / FILTERED_DIR
    target.mkdir(parents=True, exist_ok=True)
    (out / INFO_NAME).write_text(json.dumps(result.to_reference_json()))
    for prompt, paths in result.prompts.items():
        for i, src in enumerate(paths):
            shutil.copy(src, target / f"{prompt}-{i}.mp4")
    return target
