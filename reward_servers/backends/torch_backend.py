"""Eager PyTorch backend: the reference every exported backend is compared against."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from omninft.reward_servers.backends.base import GraphSpec


class TorchBackend:
    """Runs each graph's nn.Module eagerly under inference_mode on one device."""

    name = "torch"

    def __init__(self, graphs: Mapping[str, GraphSpec], device: str = "cpu") -> None:
        self.device = device
        self._graphs = dict(graphs)
        for spec in self._graphs.values():
            spec.module.to(device).eval()

    def run(self, graph: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run graph `graph` on numpy inputs; returns numpy outputs on the host."""
        spec = self._graphs[graph]
        tensors = {
            k: torch.from_numpy(np.ascontiguousarray(inputs[k])).to(self.device) for k in spec.input_names
        }
        with torch.inference_mode():
            out = spec.module(**tensors)
        outs = out if isinstance(out, tuple | list) else (out,)
        if len(outs) != len(spec.output_names):
            raise RuntimeError(
                f"graph {graph!r} returned {len(outs)} outputs, expected {len(spec.output_names)}"
            )
        return {n: t.detach().float().cpu().numpy() for n, t in zip(spec.output_names, outs, strict=True)}
