"""Synthetic sounding videos (numpy only): a bouncing disc whose wall hits are heard as tone bursts.

Used by the demo set, the load generator and tests. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (name, RGB) pairs; names go into the prompts so text-conditioned scorers have something to read.
COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (220, 40, 40)),
    ("green", (40, 200, 60)),
    ("blue", (40, 80, 230)),
    ("yellow", (230, 210, 40)),
    ("white", (235, 235, 235)),
    ("purple", (150, 60, 200)),
)
BACKGROUNDS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (10, 10, 12)),
    ("grey", (90, 90, 95)),
    ("dark blue", (15, 20, 60)),
)


@dataclass(frozen=True)
class SyntheticClip:
    """One generated sounding video with its captions."""

    frames: np.ndarray  # uint8 T x H x W x 3
    fps: float
    pcm: np.ndarray  # float32 1 x N
    sample_rate: int
    prompt: str
    audio_prompt: str


def bouncing_disc_clip(
    seed: int,
    *,
    seconds: float = 4.0,
    height: int = 240,
    width: int = 426,
    fps: float = 24.0,
    sample_rate: int = 16000,
) -> SyntheticClip:
    """Render a disc bouncing off the walls; every bounce is a short decaying tone burst in the audio."""
    rng = np.random.default_rng(seed)
    colour_name, colour = COLOURS[int(rng.integers(len(COLOURS)))]
    bg_name, bg = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    n_frames = max(1, int(round(seconds * fps)))
    radius = max(2, min(height, width) // 8)
    pos = np.array([rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)])
    speed = min(height, width) * rng.uniform(0.6, 1.2)  # pixels per second
    angle = rng.uniform(0, 2 * np.pi)
    vel = speed * np.array([np.cos(angle), np.sin(angle)])
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    frames[:] = np.asarray(bg, dtype=np.uint8)
    bounces: list[float] = []
    for t in range(n_frames):
        mask = (xx - pos[0]) ** 2 + (yy - pos[1]) ** 2 <= radius**2
        frames[t][mask] = colour
        pos = pos + vel / fps
        for axis, limit in ((0, width), (1, height)):
            if pos[axis] < radius or pos[axis] > limit - radius:
                vel[axis] = -vel[axis]
                pos[axis] = np.clip(pos[axis], radius, limit - radius)
                bounces.append((t + 1) / fps)
    pitch = float(rng.choice([330.0, 440.0, 660.0, 880.0]))
    n_samples = int(round(seconds * sample_rate))
    time = np.arange(n_samples) / sample_rate
    wave = 0.01 * rng.standard_normal(n_samples)  # faint room noise so no clip is digitally silent
    for onset in bounces:
        env = np.where(time >= onset, np.exp(-(time - onset) * 18.0), 0.0)
        wave += 0.5 * env * np.sin(2 * np.pi * pitch * (time - onset))
    pcm = np.clip(wave, -1.0, 1.0).astype(np.float32)[None, :]
    prompt = f"a {colour_name} ball bouncing around a {bg_name} box, hitting the walls"
    audio_prompt = f"short {int(pitch)} Hz beeps each time a ball hits a wall"
    return SyntheticClip(frames, float(fps), pcm, sample_rate, prompt, audio_prompt)
