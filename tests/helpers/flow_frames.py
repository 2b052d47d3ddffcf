"""Generated frames for the optical-flow and frame-interpolation tests (smooth texture, exact shifts)."""

from __future__ import annotations

import torch


def texture(h: int, w: int) -> torch.Tensor:
    """A smooth RGB pattern, rounded to integers in [0, 255], as a float32 (1, 3, h, w) tensor."""
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    r = 127.5 + 60 * torch.sin(xx / 5.0) * torch.cos(yy / 7.0) + 50 * torch.sin((xx + 2 * yy) / 11.0)
    g = 127.5 + 80 * torch.cos(xx / 9.0 - yy / 4.0)
    b = 127.5 + 70 * torch.sin(xx * yy / 300.0)
    return torch.stack([r, g, b])[None].round()
