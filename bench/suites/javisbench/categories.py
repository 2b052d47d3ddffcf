"""The JavisBench taxonomy: 5 aspects, 19 categories, in the index order of the official category.json."""

from __future__ import annotations

ASPECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Event Scenario", ("Natural", "Urban", "Living", "Industrial", "Virtual")),
    ("Visual Style", ("Camera Shooting", "2D-Animate", "3D-Animate")),
    ("Sound Type", ("Ambient", "Biological", "Mechanical", "Musical", "Speech")),
    ("Temporal Composition", ("Single event", "Sequential events", "Simultaneous events")),
    ("Spatial Composition", ("Single subject", "Multiple subjects", "Off-screen sound")),
)
CATEGORY_SIZES: tuple[int, ...] = tuple(len(cats) for _, cats in ASPECTS)
