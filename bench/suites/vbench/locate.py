"""Which video files each dimension evaluates, in the three modes of the reference (spec §2).

vbench_standard: `{prompt}-{i}{ext}` (i = 0..4) for every suite entry that shares a requested dimension, in a flat
folder or in the per-dimension folders of dimension_to_folder.json. custom_input: every video file (prompt = the
stem without a trailing `-<digits>`, or a --prompt-file / --prompt). vbench_category: files whose stem starts with a
category prompt. Missing videos are listed by prompt and index; files that cannot be used get a reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omninft.bench.suites.vbench.dimensions import AUXILIARY_DIMENSIONS, Dimension
from omninft.bench.suites.vbench.suite import PromptEntry, Suite

STANDARD = "vbench_standard"
CUSTOM = "custom_input"
CATEGORY = "vbench_category"
MODES = (STANDARD, CUSTOM, CATEGORY)
VIDEOS_PER_PROMPT = 5
# The reference reads .mp4 and .gif; the others decode just as well here.
VIDEO_EXTS = (".mp4", ".gif", ".webm", ".mov", ".mkv", ".avi")


@dataclass(frozen=True)
class Video:
    """One video file as a dimension sees it."""

    path: Path
    prompt: str
    index: int | None  # the `-<i>` of standard naming (None when the mode has no index)
    entry: int  # position of its entry in the written full_info list
    auxiliary_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Missing:
    """A video the suite expects that is not in the folder."""

    prompt: str
    index: int | None
    dimensions: tuple[str, ...]
    expected: str  # the file name looked for (or the prefix in category mode)


@dataclass(frozen=True)
class Unusable:
    """A file that is left out before scoring, and why."""

    path: str
    reason: str
    dimensions: tuple[str, ...] = ()


@dataclass
class Plan:
    """What a run evaluates: per dimension its videos in the reference's order, plus the full_info to write."""

    mode: str
    videos: dict[str, list[Video]]
    full_info: list[dict[str, Any]]
    missing: list[Missing] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def prompt_from_filename(name: str) -> str:
    """The reference's get_prompt_from_filename: the stem without a trailing `-<digits>`."""
    stem = Path(name).stem
    return re.sub(r"-\d+$", "", stem)


def refuse_auxiliary(dims: list[Dimension], mode: str) -> None:
    """custom_input and vbench_category cannot evaluate dimensions that need auxiliary_info: name them."""
    bad = [d.name for d in dims if d.name in AUXILIARY_DIMENSIONS]
    if bad:
        raise ValueError(
            f"{mode} cannot evaluate {', '.join(bad)}: they need the suite's auxiliary_info "
            f"(use --mode vbench_standard with the VBench prompt suite, or leave them out)"
        )


def _video_files(folder: Path) -> tuple[dict[str, Path], list[Unusable]]:
    """Video files directly in `folder` by name; other files are listed as ignored."""
    found: dict[str, Path] = {}
    ignored: list[Unusable] = []
    if not folder.is_dir():
        return found, ignored
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.suffix.lower() in VIDEO_EXTS:
            found[p.name] = p
        else:
            ignored.append(Unusable(str(p), f"not a video file ({p.suffix or 'no extension'}); ignored"))
    return found, ignored


def _mixed(files: dict[str, Path], where: Path) -> list[str]:
    exts = sorted({p.suffix.lower() for p in files.values()})
    if len(exts) > 1:
        return [
            f"{where}: mixed extensions {', '.join(exts)} (the reference takes the first file's extension for "
            "all; here each video is matched with whichever extension it has)"
        ]
    return []


def _entry_json(e: PromptEntry, video_list: list[str]) -> dict[str, Any]:
    return {**e.raw, "video_list": video_list}


def plan_standard(
    suite: Suite,
    videos: Path,
    dims: list[Dimension],
    *,
    folders: dict[str, str] | None = None,
    special_str: str = "",
) -> Plan:
    """Standard mode; with `folders` (dimension_to_folder.json) each dimension reads `videos/<folder>/`."""
    names = {d.name for d in dims}
    listings: dict[Path, dict[str, Path]] = {}
    plan = Plan(STANDARD, {d.name: [] for d in dims}, [])

    def listing(folder: Path) -> dict[str, Path]:
        if folder not in listings:
            files, ignored = _video_files(folder)
            listings[folder] = files
            plan.unusable.extend(ignored)
            plan.warnings.extend(_mixed(files, folder))
        return listings[folder]

    def folder_of(dim: str) -> Path:
        if folders is None:
            return videos
        return videos / folders[dim] if dim in folders else videos

    if folders is not None:
        for d in dims:
            if d.name not in folders:
                plan.warnings.append(
                    f"dimension_to_folder.json has no folder for {d.name}: read from {videos}"
                )
            elif not folder_of(d.name).is_dir():
                plan.warnings.append(f"{folder_of(d.name)}: no such folder (every {d.name} video is missing)")
    for e in suite.entries:
        shared = [n for n in e.dimension if n in names]
        if not shared:
            continue
        pos = len(plan.full_info)
        video_list: list[str] = []
        found_by_folder: dict[Path, dict[int, Path]] = {}
        for dim in shared:
            folder = folder_of(dim)
            if folder not in found_by_folder:
                files = listing(folder)
                found: dict[int, Path] = {}
                for i in range(VIDEOS_PER_PROMPT):
                    base = f"{e.prompt_en}{special_str}-{i}"
                    hits = [files[base + ext] for ext in VIDEO_EXTS if base + ext in files]
                    if len(hits) > 1:
                        plan.unusable.append(
                            Unusable(
                                ", ".join(str(h) for h in hits),
                                f"the same prompt and index with several extensions "
                                f"({', '.join(h.suffix for h in hits)}); none is used",
                                tuple(shared),
                            )
                        )
                    elif hits:
                        found[i] = hits[0]
                    else:
                        dims_here = tuple(n for n in shared if folder_of(n) == folder)
                        plan.missing.append(Missing(e.prompt_en, i, dims_here, f"{base}{{ext}} in {folder}"))
                found_by_folder[folder] = found
                video_list += [str(p) for p in found.values() if str(p) not in video_list]
            for i, p in found_by_folder[folder].items():
                plan.videos[dim].append(Video(p, e.prompt_en, i, pos, e.auxiliary_info))
        plan.full_info.append(_entry_json(e, video_list))
    return plan


def _load_prompt_file(path: Path, videos: Path) -> dict[str, str]:
    """--prompt-file: a JSON object {video path: prompt}; keys may be absolute, relative to the folder, or names."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{video path: prompt}}")
    out: dict[str, str] = {}
    for k, v in data.items():
        if not isinstance(v, str) or not v.strip():
            continue  # an empty prompt counts as missing: the video gets a per-video error
        p = Path(k)
        p = p if p.is_absolute() else videos / p
        out[str(p.resolve())] = v
    return out


def plan_custom(
    videos: Path, dims: list[Dimension], *, prompt_file: Path | None = None, prompt: str | None = None
) -> Plan:
    """custom_input: every video file (or one file); prompts from the file names, --prompt-file or --prompt."""
    refuse_auxiliary(dims, CUSTOM)
    plan = Plan(CUSTOM, {d.name: [] for d in dims}, [])
    names = [d.name for d in dims]
    if videos.is_file():
        files = {videos.name: videos}
    else:
        files, ignored = _video_files(videos)
        plan.unusable.extend(ignored)
        plan.warnings.extend(_mixed(files, videos))
    if prompt is not None and len(files) != 1:
        raise ValueError("--prompt applies to a single video; use --prompt-file for a folder")
    if "temporal_flickering" in names:
        plan.warnings.append(
            "temporal_flickering is a benchmark number only on static-filtered videos "
            "(`omninft-bench vbench static-filter`)"
        )
    mapping = (
        _load_prompt_file(prompt_file, videos if videos.is_dir() else videos.parent) if prompt_file else None
    )
    # Sorted by name (the reference takes os.listdir order, which varies): aggregates do not depend on it.
    for name, path in sorted(files.items()):
        if prompt is not None:
            text = prompt
        elif mapping is not None:
            got = mapping.get(str(path.resolve()))
            if got is None:
                plan.unusable.append(
                    Unusable(str(path), f"no prompt for this video in {prompt_file}", tuple(names))
                )
                continue
            text = got
        else:
            text = prompt_from_filename(name)
        pos = len(plan.full_info)
        plan.full_info.append({"prompt_en": text, "dimension": names, "video_list": [str(path)]})
        for d in names:
            plan.videos[d].append(Video(path, text, None, pos))
    return plan


def plan_category(videos: Path, dims: list[Dimension], category: str, prompts: list[str]) -> Plan:
    """vbench_category: a video belongs to a category prompt when its stem starts with that prompt."""
    refuse_auxiliary(dims, CATEGORY)
    plan = Plan(CATEGORY, {d.name: [] for d in dims}, [])
    files, ignored = _video_files(videos)
    plan.unusable.extend(ignored)
    plan.warnings.extend(_mixed(files, videos))
    names = [d.name for d in dims]
    for text in prompts:
        hits = [p for n, p in sorted(files.items()) if Path(n).stem.startswith(text)]
        pos = len(plan.full_info)
        plan.full_info.append({"prompt_en": text, "dimension": names, "video_list": [str(p) for p in hits]})
        if not hits:
            plan.missing.append(Missing(text, None, tuple(names), f"{text}* ({category})"))
        for p in hits:
            for d in names:
                plan.videos[d].append(Video(p, text, None, pos))
    return plan
