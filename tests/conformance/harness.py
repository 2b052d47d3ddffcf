"""Shared pieces of the scorer conformance tester and the golden files: media, building, running.

Every registered scorer is built with tiny deterministic weights (seed 0) and run on short generated clips
(`clips()`): a coloured square moving over a gradient, with tone bursts whose pitch follows the square, and
a prompt naming both. The clips are made here, not in bench, so the goldens change only when a scorer does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, ScorerOutput

MEDIA_VERSION = "conformance-clips-v1"
SEED = 0
MAX_BATCH = 4
FPS = 12.0
SAMPLE_RATE = 16000
SECONDS = 1.5
HEIGHT, WIDTH = 48, 64
COLOURS = (("red", (220, 40, 40)), ("green", (40, 200, 60)), ("blue", (50, 70, 230)))


def clip(i: int) -> DecodedSample:
    """Clip `i`: deterministic video (T x 48 x 64 x 3 uint8), mono 16 kHz audio, prompt and audio prompt."""
    name, colour = COLOURS[i % len(COLOURS)]
    t = int(SECONDS * FPS)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = np.empty((t, HEIGHT, WIDTH, 3), dtype=np.uint8)
    for k in range(t):
        frames[k, ..., 0] = (x * 3 + 7 * k + 40 * i) % 256
        frames[k, ..., 1] = (y * 4 + 11 * i) % 256
        frames[k, ..., 2] = (x + y + 5 * k) % 256
        left = int((WIDTH - 16) * (0.5 + 0.5 * math.sin(2 * math.pi * (k / t + i / 3))))
        frames[k, 16:32, left : left + 16] = colour
    # clip 1 carries 8 kHz audio: resampling paths run, and the toy rewards (8 kHz only) score it.
    rate = 8000 if i % 3 == 1 else SAMPLE_RATE
    n = int(SECONDS * rate)
    s = np.arange(n) / rate
    freq = 330.0 * (1 + i) * (1 + 0.25 * np.sin(2 * np.pi * s / SECONDS))
    bursts = (np.sin(2 * np.pi * 3 * s) > 0.3).astype(np.float64)
    noise = np.random.default_rng(100 + i).standard_normal(n) * 0.01
    pcm = (0.4 * bursts * np.sin(2 * np.pi * np.cumsum(freq) / rate) + noise).astype(np.float32)[None]
    return DecodedSample(
        id=f"clip{i}",
        prompt=f"a {name} square slides over a colourful gradient, class {i}",
        audio_prompt=f"beeping tones at {330 * (1 + i)} hertz",
        video=DecodedVideo(frames, FPS),
        audio=DecodedAudio(pcm, rate),
    )


def clips(n: int = 3) -> list[DecodedSample]:
    """The first `n` conformance clips."""
    return [clip(i) for i in range(n)]


# Scorers whose Sample.prompt is a structured condition, not free text (VBench human_action reads a Kinetics-400
# label): the prompt the tester sends them instead of each clip's own.
CONDITION_PROMPTS: dict[str, str] = {"vbench_human_action": "juggling balls"}


def for_scorer(name: str, samples: Sequence[DecodedSample]) -> list[DecodedSample]:
    """`samples` as scorer `name` is sent them: with its condition prompt, when it has one."""
    prompt = CONDITION_PROMPTS.get(name)
    return list(samples) if prompt is None else [dataclasses.replace(s, prompt=prompt) for s in samples]


def config() -> ScorerConfig:
    """How the tester builds every scorer."""
    return ScorerConfig(weights="tiny", seed=SEED, max_batch_size=MAX_BATCH)


def build_all(names: Sequence[str] | None = None) -> dict[str, Scorer]:
    """Every registered scorer (or `names`), tiny weights, sharing models like a server does."""
    with registry.sharing():
        return {n: registry.build(n, config()) for n in (names or registry.available())}


def run(scorer: Scorer, samples: Sequence[DecodedSample]) -> list[ScorerOutput | InvalidSample]:
    """preprocess -> one forward over the batch -> postprocess; per-sample InvalidSample kept in place."""
    items: list[Any] = []
    out: list[ScorerOutput | InvalidSample | None] = []
    for s in samples:
        try:
            items.append(scorer.preprocess(s))
            out.append(None)
        except InvalidSample as exc:
            out.append(exc)
    raw = iter(scorer.forward(items) if items else [])
    result: list[ScorerOutput | InvalidSample] = []
    for slot in out:
        if slot is not None:
            result.append(slot)
            continue
        r = next(raw)
        if isinstance(r, InvalidSample):
            result.append(r)
            continue
        try:
            result.append(scorer.postprocess(r))
        except InvalidSample as exc:
            result.append(exc)
    return result


def summary(out: ScorerOutput) -> dict[str, Any]:
    """What a golden file records for one sample: every score, and per embedding its size, norm and head."""
    return {
        "scores": {k: float(v) for k, v in sorted(out.scores.items())},
        "embeddings": {
            k: {
                "dim": int(np.asarray(v).size),
                "l2": float(np.linalg.norm(v)),
                "head": [float(x) for x in np.asarray(v, dtype=np.float64).ravel()[:6]],
            }
            for k, v in sorted(out.embeddings.items())
        },
    }


# The VBench GRiT dimensions read the auxiliary_info condition the bench runner sends (an object name, "A and B", a
# JSON object). Tiny random GRiT names nothing real, so their conditions use names it does give on clip0 (the golden
# counts are then not all zero).
_GRIT_NAMES = (
    "lk [unused9] e cat bt b cat bt purple u",
    "l whitek [unused9] [unused13]k [unused13]k [unused9]k [unused17] e pink e",
    "mkk [unused13]k [unused13]k [unused13]k dog mk s",
)
CONDITION_PROMPTS.update(
    {
        "vbench_object_class": _GRIT_NAMES[0],
        "vbench_multiple_objects": f"{_GRIT_NAMES[0]} and {_GRIT_NAMES[1]}",
        "vbench_spatial_relationship": f'{{"object_a": "{_GRIT_NAMES[0]}", "object_b": "{_GRIT_NAMES[1]}", '
        '"relationship": "on the left of"}',
        "vbench_color": f'{{"color": "white", "object": "{_GRIT_NAMES[2]}"}}',
    }
)
