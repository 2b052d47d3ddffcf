"""What each VBench scorer is told about a video (`Sample.prompt`): prompt, auxiliary_info or parsed label."""

from __future__ import annotations

import json
import os
from typing import Any

from omninft.bench.suites.vbench.dimensions import (
    COND_ACTION,
    COND_COLOR,
    COND_OBJECT,
    COND_PROMPT,
    COND_SCENE,
    COND_SPATIAL,
    COND_STYLE,
    DIMENSIONS,
)


class ConditionError(ValueError):
    """The suite entry lacks what the dimension needs (auxiliary_info, a parsable file name)."""


def action_label(video_path: str) -> str:
    """The Kinetics label the reference parses from a human_action file name (spec §1.10)."""
    return os.path.basename(video_path).lower().split("-")[0].split("person is ")[-1].split("_")[0]


def color_target_object(prompt: str, color: str) -> str:
    """The reference's colour target object: the prompt without 'a ', 'an ' and the colour word (spec §1.11)."""
    return prompt.replace("a ", "").replace("an ", "").replace(color, "").strip()


def _aux(aux: dict[str, Any], dim: str, prompt: str) -> Any:
    if dim not in aux:
        raise ConditionError(f"{dim} needs auxiliary_info[{dim!r}] for prompt {prompt!r}")
    return aux[dim]


def _str_field(value: Any, key: str, dim: str, prompt: str) -> str:
    v = value.get(key) if isinstance(value, dict) else None
    if not isinstance(v, str) or not v.strip():
        raise ConditionError(f"{dim}: auxiliary_info[{dim!r}][{key!r}] is missing for prompt {prompt!r}")
    return v


def condition_text(dimension: str, prompt: str, auxiliary_info: dict[str, Any], video_path: str) -> str:
    """The text sent with the video to `vbench_<dimension>` (the package docstring lists each form)."""
    kind = DIMENSIONS[dimension].condition
    if kind == COND_PROMPT:
        return prompt
    if kind == COND_ACTION:
        label = action_label(video_path)
        if not label.strip():
            raise ConditionError(
                f"human_action: no Kinetics label in the file name {os.path.basename(video_path)!r}"
            )
        return label
    value = _aux(auxiliary_info, dimension, prompt)
    if kind == COND_OBJECT:
        return _str_field(value, "object", dimension, prompt)
    if kind == COND_SCENE:
        return _str_field(
            _aux(value, "scene", prompt) if isinstance(value, dict) else None, "scene", dimension, prompt
        )
    if kind == COND_STYLE:
        return _str_field(value, "appearance_style", dimension, prompt)
    if kind == COND_COLOR:
        color = _str_field(value, "color", dimension, prompt)
        return json.dumps({"color": color, "object": color_target_object(prompt, color)}, sort_keys=True)
    if kind == COND_SPATIAL:
        rel = value.get("spatial_relationship") if isinstance(value, dict) else None
        fields = {k: _str_field(rel, k, dimension, prompt) for k in ("object_a", "object_b", "relationship")}
        return json.dumps(fields, sort_keys=True)
    raise ConditionError(f"unknown condition kind {kind!r}")
