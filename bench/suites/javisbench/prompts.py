"""The JavisBench prompt CSV and the official generated-sample layout."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

N_ASPECTS = 5


@dataclass(frozen=True)
class PromptRow:
    """One CSV row: its 0-based index is the sample's file index."""

    index: int
    text: str
    audio_text: str
    categories: tuple[tuple[int, ...], ...]  # per aspect, the category indices (empty when absent)


@dataclass(frozen=True)
class SampleFiles:
    """Where a row's generated media is; `problem` says why it cannot be scored, when it cannot."""

    row: PromptRow
    video: Path | None
    audio: Path | None
    problem: str = ""


def _parse_categories(raw: dict[str, str]) -> tuple[tuple[int, ...], ...]:
    cats = []
    for k in range(N_ASPECTS):
        cell = (raw.get(f"cat{k}_ind") or "").strip().strip("[]\"'")
        cats.append(tuple(int(x) for x in cell.replace(" ", "").split(",") if x != ""))
    return tuple(cats)


def load_prompts(csv_path: Path, *, limit: int | None = None) -> list[PromptRow]:
    """Read the prompt CSV in row order (`text` required; `audio_text` optional, falling back to `text`)."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise ValueError(
                f"{csv_path}: the JavisBench CSV needs a 'text' column, found {reader.fieldnames}"
            )
        rows = []
        for i, raw in enumerate(reader):
            if limit is not None and i >= limit:
                break
            text = raw["text"] or ""
            audio_text = (raw.get("audio_text") or "").strip() or text
            rows.append(PromptRow(i, text, audio_text, _parse_categories(raw)))
    return rows


def sample_stem(index: int) -> str:
    """Official file stem for row `index`: sample_0000 ... sample_9999, sample_10000 ..."""
    return f"sample_{index:04d}"


def locate_samples(samples_dir: Path, rows: list[PromptRow]) -> list[SampleFiles]:
    """Pair each row with `sample_{i:04d}.mp4` and `.wav`; a lone muxed mp4 supplies its own audio track."""
    located = []
    for row in rows:
        stem = sample_stem(row.index)
        mp4, wav = samples_dir / f"{stem}.mp4", samples_dir / f"{stem}.wav"
        video = mp4 if mp4.is_file() else None
        audio = wav if wav.is_file() else video
        problem = "" if video is not None else f"missing {mp4.name}"
        located.append(SampleFiles(row, video, audio, problem))
    return located


def locate_ground_truth(csv_path: Path, rows: list[PromptRow], root: Path) -> list[SampleFiles]:
    """Pair each row with its GT media from the CSV's `path` (and optional `audio_path`) columns under `root`."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise ValueError(
                f"{csv_path}: ground-truth features need a 'path' column, found {reader.fieldnames}"
            )
        raw = list(reader)
    located = []
    for row in rows:
        cells = raw[row.index]
        video = root / cells["path"].strip()
        audio_cell = (cells.get("audio_path") or "").strip()
        audio = root / audio_cell if audio_cell else video
        problem = "" if video.is_file() else f"missing {video}"
        if not problem and not audio.is_file():
            problem = f"missing {audio}"
        located.append(
            SampleFiles(row, video if video.is_file() else None, audio if audio.is_file() else None, problem)
        )
    return located
