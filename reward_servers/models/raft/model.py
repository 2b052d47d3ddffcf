"""RAFT (Teed & Deng 2020) in the key layout of raft-things.pth, plain torch.

Module attribute names equal the checkpoint's keys after DataParallel's ``module.`` prefix is stripped
(``fnet.layer2.0.downsample.0.weight``, ``cnet.norm1.running_mean``, ``update_block.gru.convz1.weight``,
``update_block.mask.2.bias``), so the official file loads with strict=True. As in the reference, a strided
residual block registers its shortcut norm twice (``norm3`` and ``downsample.1``), which is why the BatchNorm
context encoder's buffers appear under both names. The feature encoder uses affine-free InstanceNorm (no keys),
the context encoder BatchNorm (running statistics in eval). Inference is the reference's test mode: images in
[0, 255], sizes divisible by 8 (pad with functional.flow_padding), a fixed number of refinement iterations,
returning the 1/8 flow and the convex-upsampled full-resolution flow of the last iteration.
"""

from __future__ import annotations

import torch
from torch import nn

from omninft.reward_servers.functional.flow_padding import Padding, centred_padding, pad_replicate
from omninft.reward_servers.functional.optical_flow import (
    all_pairs_correlation,
    convex_upsample,
    coords_grid,
    correlation_pyramid,
    lookup_pyramid,
)
from omninft.reward_servers.models.raft.config import RAFTConfig


class ResidualBlock(nn.Module):
    """Two 3x3 convs with norm + ReLU; a strided block adds a 1x1 strided shortcut."""

    def __init__(self, cin: int, cout: int, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.norm1 = _norm(norm, cout)
        self.norm2 = _norm(norm, cout)
        self.downsample: nn.Sequential | None = None
        if stride != 1:
            self.norm3 = _norm(norm, cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), self.norm3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(shortcut(x) + block(x))."""
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels)  # affine=False, no running stats: no state-dict keys
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm {kind!r}")


class BasicEncoder(nn.Module):
    """7x7/2 stem, three stages of two residual blocks (strides 1, 2, 2), 1x1 output conv: 1/8 resolution."""

    def __init__(self, cfg: RAFTConfig, output_dim: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, cfg.stem, 7, stride=2, padding=3)
        self.norm1 = _norm(norm, cfg.stem)
        self.relu1 = nn.ReLU(inplace=True)
        widths = (cfg.stem, *cfg.stages)
        self.layer1 = self._stage(widths[0], widths[1], norm, 1)
        self.layer2 = self._stage(widths[1], widths[2], norm, 2)
        self.layer3 = self._stage(widths[2], widths[3], norm, 2)
        self.conv2 = nn.Conv2d(widths[3], output_dim, 1)
        for m in self.modules():  # the reference's initialisation (matters only for random weights)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    @staticmethod
    def _stage(cin: int, cout: int, norm: str, stride: int) -> nn.Sequential:
        return nn.Sequential(ResidualBlock(cin, cout, norm, stride), ResidualBlock(cout, cout, norm, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, output_dim, H/8, W/8)."""
        x = self.relu1(self.norm1(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class BasicMotionEncoder(nn.Module):
    """Correlation and flow features -> motion features (with the raw flow appended)."""

    def __init__(self, cfg: RAFTConfig) -> None:
        super().__init__()
        c1, c2 = cfg.corr_hidden
        f1, f2 = cfg.flow_hidden
        self.convc1 = nn.Conv2d(cfg.corr_planes, c1, 1)
        self.convc2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.convf1 = nn.Conv2d(2, f1, 7, padding=3)
        self.convf2 = nn.Conv2d(f1, f2, 3, padding=1)
        self.conv = nn.Conv2d(c2 + f2, cfg.motion_dim - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        """(N, motion_dim, H, W)."""
        relu = torch.relu
        cor = relu(self.convc2(relu(self.convc1(corr))))
        flo = relu(self.convf2(relu(self.convf1(flow))))
        out = relu(self.conv(torch.cat([cor, flo], dim=1)))
        return torch.cat([out, flow], dim=1)


class SepConvGRU(nn.Module):
    """A horizontal (1x5) then a vertical (5x1) convolutional GRU step."""

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        cin = hidden_dim + input_dim
        self.convz1 = nn.Conv2d(cin, hidden_dim, (1, 5), padding=(0, 2))
        self.convr1 = nn.Conv2d(cin, hidden_dim, (1, 5), padding=(0, 2))
        self.convq1 = nn.Conv2d(cin, hidden_dim, (1, 5), padding=(0, 2))
        self.convz2 = nn.Conv2d(cin, hidden_dim, (5, 1), padding=(2, 0))
        self.convr2 = nn.Conv2d(cin, hidden_dim, (5, 1), padding=(2, 0))
        self.convq2 = nn.Conv2d(cin, hidden_dim, (5, 1), padding=(2, 0))

    @staticmethod
    def _step(
        h: torch.Tensor, x: torch.Tensor, convz: nn.Module, convr: nn.Module, convq: nn.Module
    ) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(convz(hx))
        r = torch.sigmoid(convr(hx))
        q = torch.tanh(convq(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The new hidden state."""
        h = self._step(h, x, self.convz1, self.convr1, self.convq1)
        return self._step(h, x, self.convz2, self.convr2, self.convq2)


class FlowHead(nn.Module):
    """Two 3x3 convs: hidden state -> flow update (2 channels)."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_dim, hidden_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_dim, 2, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2, H, W) flow update."""
        return self.conv2(self.relu(self.conv1(x)))


class BasicUpdateBlock(nn.Module):
    """Motion encoder, SepConvGRU, flow head and the convex-upsampling mask head."""

    def __init__(self, cfg: RAFTConfig) -> None:
        super().__init__()
        self.encoder = BasicMotionEncoder(cfg)
        self.gru = SepConvGRU(cfg.hidden_dim, cfg.context_dim + cfg.motion_dim)
        self.flow_head = FlowHead(cfg.hidden_dim, cfg.head_hidden)
        self.mask = nn.Sequential(
            nn.Conv2d(cfg.hidden_dim, cfg.head_hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.head_hidden, 64 * 9, 1),
        )

    def forward(
        self, net: torch.Tensor, inp: torch.Tensor, corr: torch.Tensor, flow: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(new hidden state, upsampling mask logits, flow update)."""
        motion = self.encoder(flow, corr)
        net = self.gru(net, torch.cat([inp, motion], dim=1))
        # the reference scales the mask by 0.25 "to balance gradients"; the softmax sees the scaled logits
        return net, 0.25 * self.mask(net), self.flow_head(net)


class RAFT(nn.Module):
    """RAFT basic: feature and context encoders, all-pairs correlation pyramid, iterative GRU refinement."""

    def __init__(self, cfg: RAFTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or RAFTConfig()
        c = self.cfg
        self.fnet = BasicEncoder(c, c.feature_dim, "instance")
        self.cnet = BasicEncoder(c, c.hidden_dim + c.context_dim, "batch")
        self.update_block = BasicUpdateBlock(c)

    def forward(
        self, image1: torch.Tensor, image2: torch.Tensor, iters: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Test mode: (N, 3, H, W) images in [0, 255], H and W multiples of 8 -> (flow at 1/8, flow at full size)."""
        c = self.cfg
        n, _, h, w = image1.shape
        if h % 8 or w % 8:
            raise ValueError(f"RAFT needs sizes divisible by 8 (pad first), got {h}x{w}")
        image1 = 2 * (image1 / 255.0) - 1.0
        image2 = 2 * (image2 / 255.0) - 1.0
        fmap1, fmap2 = torch.split(self.fnet(torch.cat([image1, image2], dim=0)), [n, n], dim=0)
        pyramid = correlation_pyramid(all_pairs_correlation(fmap1.float(), fmap2.float()), c.corr_levels)
        net, inp = torch.split(self.cnet(image1), [c.hidden_dim, c.context_dim], dim=1)
        net, inp = torch.tanh(net), torch.relu(inp)
        coords0 = coords_grid(n, h // 8, w // 8, image1.device)
        coords1 = coords0.clone()
        steps = c.iters if iters is None else iters
        if steps < 1:
            raise ValueError(f"RAFT needs at least one iteration, got {steps}")
        for _ in range(steps):
            corr = lookup_pyramid(pyramid, coords1, c.corr_radius)
            net, mask, delta = self.update_block(net, inp, corr, coords1 - coords0)
            coords1 = coords1 + delta
        flow = coords1 - coords0
        return flow, convex_upsample(flow, mask)


def build(cfg: RAFTConfig | None = None) -> RAFT:
    """A RAFT of `cfg` (default: raft-things) with the reference's initialisation."""
    return RAFT(cfg)


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters."""
    return sum(p.numel() for p in model.parameters())


def strip_official_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """raft-things.pth keys without DataParallel's "module." (the reference's k.replace('module.', ''))."""
    return {k.replace("module.", ""): v for k, v in state_dict.items()}


class RAFTCore(nn.Module):
    """Exportable graph: two padded (N, 3, H, W) images in [0, 255] -> full-resolution flow (N, 2, H, W)."""

    def __init__(self, model: RAFT, iters: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.iters = iters

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        """flow_up of the last iteration."""
        return self.model(image1, image2, self.iters)[1]


def padded_flow(
    model: RAFT, image1: torch.Tensor, image2: torch.Tensor, iters: int | None = None
) -> tuple[torch.Tensor, Padding]:
    """VBench's use: sintel-pad both (N, 3, H, W) [0, 255] images to /8, run test mode, return the padded flow_up.

    dynamic_degree and the static filter score the flow over the padded frame (specs/vbench.md §12); unpad
    with functional.flow_padding.unpad(flow, padding) for the frame's own pixels.
    """
    padding = centred_padding(image1.shape[-2], image1.shape[-1], 8)
    return model(pad_replicate(image1, padding), pad_replicate(image2, padding), iters)[1], padding
