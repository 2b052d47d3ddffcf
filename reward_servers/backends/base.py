"""The backend contract: run a named graph (a model's neural core) on numpy inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclass
class GraphSpec:
    """One exportable neural core of a scorer (e.g. CLAP's audio tower).

    `module(**inputs)` must return a tensor or a tuple of tensors matching `output_names`. Axis 0 of every
    input and output is the batch axis; `dynamic_axes` names further variable axes (e.g. text length).
    """

    module: torch.nn.Module
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    example_inputs: dict[str, np.ndarray]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """Executes graphs by name; one instance per scorer, called from that device's executor thread."""

    name: str
    device: str

    def run(self, graph: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run graph `graph` on a batch; returns output name -> array (batch first)."""
        ...
