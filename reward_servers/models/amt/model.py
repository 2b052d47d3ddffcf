"""AMT (Li et al., CVPR 2023) frame interpolation, AMT-S variant, in the key layout of amt-s.pth's state_dict.

Module attribute names equal the checkpoint's keys (``feat_encoder.layer2.0.downsample.0.weight``,
``encoder.pyramid3.1.0.weight``, ``decoder4.convblock.1.conv5.bias``, ``update3.flow_head.2.weight``,
``comb_block.1.weight``), so ckpt['state_dict'] loads with strict=True. Inference is the reference's eval
path: images in [0, 1], sizes divisible by 16 (pad with functional.flow_padding), `embt` the time of the
predicted frame (VBench: 0.5), and `scale_factor` the internal downscale (VBench's CLI: 1.0; §12). The
bidirectional correlation reuses RAFT's all-pairs volume and window lookup (functional.optical_flow).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.functional.flow_padding import Padding, centred_padding, pad_replicate, unpad
from omninft.reward_servers.functional.optical_flow import (
    all_pairs_correlation,
    backward_warp,
    coords_grid,
    correlation_pyramid,
    lookup_pyramid,
    transposed_correlation,
)
from omninft.reward_servers.models.amt.config import AMTConfig


def resize(x: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Bilinear resize by a factor (align_corners=False), as AMT's blocks do."""
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def convrelu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    """Conv2d + PReLU (keys .0 and .1)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.PReLU(cout))


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 with instance norm and ReLU; a strided block adds a 1x1 shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout // 4, 1)
        self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(cout // 4, cout, 1)
        self.relu = nn.ReLU(inplace=True)
        self.norm1 = nn.InstanceNorm2d(cout // 4)
        self.norm2 = nn.InstanceNorm2d(cout // 4)
        self.norm3 = nn.InstanceNorm2d(cout)
        self.downsample: nn.Sequential | None = None
        if stride != 1:
            self.norm4 = nn.InstanceNorm2d(cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), self.norm4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(shortcut(x) + block(x))."""
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        y = self.relu(self.norm3(self.conv3(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


class SmallEncoder(nn.Module):
    """Correlation features at 1/8: 7x7/2 stem, three stages of two bottleneck blocks, 1x1 output conv."""

    def __init__(self, cfg: AMTConfig) -> None:
        super().__init__()
        self.norm1 = nn.InstanceNorm2d(cfg.feat_stem)
        self.conv1 = nn.Conv2d(3, cfg.feat_stem, 7, stride=2, padding=3)
        self.relu1 = nn.ReLU(inplace=True)
        widths = (cfg.feat_stem, *cfg.feat_stages)
        self.layer1 = nn.Sequential(
            BottleneckBlock(widths[0], widths[1], 1), BottleneckBlock(widths[1], widths[1])
        )
        self.layer2 = nn.Sequential(
            BottleneckBlock(widths[1], widths[2], 2), BottleneckBlock(widths[2], widths[2])
        )
        self.layer3 = nn.Sequential(
            BottleneckBlock(widths[2], widths[3], 2), BottleneckBlock(widths[3], widths[3])
        )
        self.conv2 = nn.Conv2d(widths[3], cfg.feat_dim, 1)
        for m in self.modules():  # the reference's initialisation (matters only for random weights)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, feat_dim, H/8, W/8)."""
        x = self.relu1(self.norm1(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class ResBlock(nn.Module):
    """IFRNet's residual block: the last `side` channels get extra convolutions between the main ones."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.side_channels = side
        self.conv1 = convrelu(channels, channels)
        self.conv2 = convrelu(side, side)
        self.conv3 = convrelu(channels, channels)
        self.conv4 = convrelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """prelu(x + block(x))."""
        s = self.side_channels
        out = self.conv1(x)
        out = self.conv3(torch.cat([out[:, :-s], self.conv2(out[:, -s:])], 1))
        out = self.conv5(torch.cat([out[:, :-s], self.conv4(out[:, -s:])], 1))
        return self.prelu(x + out)


class Encoder(nn.Module):
    """The context pyramid: four stride-2 stages (pyramid1..pyramid4)."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.depth = len(channels)
        prev = 3
        for idx, ch in enumerate(channels, 1):
            self.register_module(
                f"pyramid{idx}", nn.Sequential(convrelu(prev, ch, 3, 2, 1), convrelu(ch, ch, 3, 1, 1))
            )
            prev = ch

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at 1/2, 1/4, 1/8, 1/16."""
        feats = []
        for idx in range(1, self.depth + 1):
            x = getattr(self, f"pyramid{idx}")(x)
            feats.append(x)
        return feats


class InitDecoder(nn.Module):
    """Coarsest decoder: both 1/16 features and the time -> flows and the intermediate feature at 1/8."""

    def __init__(self, cin: int, cout: int, skip: int) -> None:
        super().__init__()
        self.convblock = nn.Sequential(
            convrelu(cin * 2 + 1, cin * 2),
            ResBlock(cin * 2, skip),
            nn.ConvTranspose2d(cin * 2, cout + 4, 4, 2, 1),
        )

    def forward(
        self, f0: torch.Tensor, f1: torch.Tensor, embt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flow t->0, flow t->1, feature)."""
        b, _, h, w = f0.shape
        out = self.convblock(torch.cat([f0, f1, embt.expand(b, 1, h, w)], 1))
        flow0, flow1 = torch.chunk(out[:, :4], 2, 1)
        return flow0, flow1, out[:, 4:]


class IntermediateDecoder(nn.Module):
    """Warps both features with the current flows, refines the flows and the feature, upsamples x2."""

    def __init__(self, cin: int, cout: int, skip: int) -> None:
        super().__init__()
        self.convblock = nn.Sequential(
            convrelu(cin * 3 + 4, cin * 3),
            ResBlock(cin * 3, skip),
            nn.ConvTranspose2d(cin * 3, cout + 4, 4, 2, 1),
        )

    def forward(
        self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flow t->0, flow t->1, feature) at twice the resolution."""
        f_in = torch.cat([ft, backward_warp(f0, flow0), backward_warp(f1, flow1), flow0, flow1], 1)
        out = self.convblock(f_in)
        d0, d1 = torch.chunk(out[:, :4], 2, 1)
        return d0 + 2.0 * resize(flow0, 2.0), d1 + 2.0 * resize(flow1, 2.0), out[:, 4:]


class MultiFlowDecoder(nn.Module):
    """Finest decoder: num_flows flow pairs, blending masks and residual images at full resolution."""

    def __init__(self, cin: int, skip: int, num_flows: int) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = nn.Sequential(
            convrelu(cin * 3 + 4, cin * 3),
            ResBlock(cin * 3, skip),
            nn.ConvTranspose2d(cin * 3, 8 * num_flows, 4, 2, 1),
        )

    def forward(
        self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flows t->0, flows t->1, masks, residual images)."""
        n = self.num_flows
        out = self.convblock(
            torch.cat([ft, backward_warp(f0, flow0), backward_warp(f1, flow1), flow0, flow1], 1)
        )
        d0, d1, mask, img_res = torch.split(out, [2 * n, 2 * n, n, 3 * n], 1)
        flow0 = d0 + 2.0 * resize(flow0, 2.0).repeat(1, n, 1, 1)
        flow1 = d1 + 2.0 * resize(flow1, 2.0).repeat(1, n, 1, 1)
        return flow0, flow1, torch.sigmoid(mask), img_res


class SmallUpdateBlock(nn.Module):
    """Correlation-guided residual update of the flows and the feature (at 1/8, resampled from 1/4 or 1/2)."""

    def __init__(self, cfg: AMTConfig, cdim: int, scale_factor: int | None = None) -> None:
        super().__init__()
        hidden, flow_dim = cfg.update_hidden, cfg.update_flow_dim
        self.scale_factor = scale_factor
        self.convc1 = nn.Conv2d(2 * cfg.corr_planes, cfg.update_corr_dim, 1)
        self.convf1 = nn.Conv2d(4, flow_dim * 2, 7, padding=3)
        self.convf2 = nn.Conv2d(flow_dim * 2, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(cfg.update_corr_dim + flow_dim, cfg.update_fc_dim, 3, padding=1)
        self.gru = nn.Sequential(
            nn.Conv2d(cfg.update_fc_dim + 4 + cdim, hidden, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
        )
        self.feat_head = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(hidden, cdim, 3, padding=1),
        )
        self.flow_head = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(hidden, 4, 3, padding=1),
        )
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(
        self, net: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(feature update, flow update) at the feature's resolution."""
        if self.scale_factor is not None:
            net = resize(net, 1 / self.scale_factor)
        cor = self.lrelu(self.convc1(corr))
        flo = self.lrelu(self.convf2(self.lrelu(self.convf1(flow))))
        inp = torch.cat([self.lrelu(self.conv(torch.cat([cor, flo], dim=1))), flow, net], dim=1)
        out = self.gru(inp)
        delta_net, delta_flow = self.feat_head(out), self.flow_head(out)
        if self.scale_factor is not None:
            delta_net = resize(delta_net, self.scale_factor)
            delta_flow = self.scale_factor * resize(delta_flow, self.scale_factor)
        return delta_net, delta_flow


def multi_flow_combine(
    comb_block: nn.Module,
    img0: torch.Tensor,
    img1: torch.Tensor,
    flow0: torch.Tensor,
    flow1: torch.Tensor,
    mask: torch.Tensor,
    img_res: torch.Tensor,
    mean: torch.Tensor,
) -> torch.Tensor:
    """Warp both images with each flow pair, blend by mask, add residual and mean, average and refine."""
    b, c, h, w = flow0.shape
    n = c // 2
    flow0 = flow0.reshape(b, n, 2, h, w).reshape(-1, 2, h, w)
    flow1 = flow1.reshape(b, n, 2, h, w).reshape(-1, 2, h, w)
    mask = mask.reshape(b, n, 1, h, w).reshape(-1, 1, h, w)
    img_res = img_res.reshape(b, n, 3, h, w).reshape(-1, 3, h, w)
    img0 = torch.stack([img0] * n, 1).reshape(-1, 3, h, w)
    img1 = torch.stack([img1] * n, 1).reshape(-1, 3, h, w)
    mean = torch.stack([mean] * n, 1).reshape(-1, 1, 1, 1)
    warps = mask * backward_warp(img0, flow0) + (1 - mask) * backward_warp(img1, flow1) + mean + img_res
    warps = warps.reshape(b, n, 3, h, w)
    return warps.mean(1) + comb_block(warps.view(b, -1, h, w))


class AMT(nn.Module):
    """AMT-S: correlation encoder, context pyramid, coarse-to-fine decoders with correlation updates."""

    def __init__(self, cfg: AMTConfig | None = None) -> None:
        super().__init__()
        self.cfg = c = cfg or AMTConfig()
        ch = c.channels
        self.feat_encoder = SmallEncoder(c)
        self.encoder = Encoder(ch)
        self.decoder4 = InitDecoder(ch[3], ch[2], c.skip_channels)
        self.decoder3 = IntermediateDecoder(ch[2], ch[1], c.skip_channels)
        self.decoder2 = IntermediateDecoder(ch[1], ch[0], c.skip_channels)
        self.decoder1 = MultiFlowDecoder(ch[0], c.skip_channels, c.num_flows)
        self.update4 = SmallUpdateBlock(c, ch[2])
        self.update3 = SmallUpdateBlock(c, ch[1], 2)
        self.update2 = SmallUpdateBlock(c, ch[0], 4)
        n = c.num_flows
        self.comb_block = nn.Sequential(
            nn.Conv2d(3 * n, 6 * n, 3, 1, 1), nn.PReLU(6 * n), nn.Conv2d(6 * n, 3, 3, 1, 1)
        )

    def _lookup(
        self,
        pyramids: tuple[list[torch.Tensor], list[torch.Tensor]],
        coord: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
        embt: torch.Tensor,
        downsample: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # t->1 and t->0 flows are rescaled to 0->1 and 1->0 under the linear-motion assumption
        if downsample != 1:
            inv = 1 / downsample
            flow0 = inv * resize(flow0, inv)
            flow1 = inv * resize(flow1, inv)
        r = self.cfg.corr_radius
        corr0 = lookup_pyramid(pyramids[0], coord + flow1 * (1.0 / embt), r)
        corr1 = lookup_pyramid(pyramids[1], coord + flow0 * (1.0 / (1.0 - embt)), r)
        return torch.cat([corr0, corr1], dim=1), torch.cat([flow0, flow1], dim=1)

    def forward(
        self, img0: torch.Tensor, img1: torch.Tensor, embt: torch.Tensor, scale_factor: float = 1.0
    ) -> torch.Tensor:
        """(N, 3, H, W) images in [0, 1] (H, W multiples of 16/scale), embt (N or 1, 1, 1, 1) -> frame at embt."""
        mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        img0 = img0 - mean
        img1 = img1 - mean
        img0_ = resize(img0, scale_factor) if scale_factor != 1.0 else img0
        img1_ = resize(img1, scale_factor) if scale_factor != 1.0 else img1
        b, _, h, w = img0_.shape
        coord = coords_grid(b, h // 8, w // 8, img0.device)
        fmap0, fmap1 = torch.split(self.feat_encoder(torch.cat([img0_, img1_], 0)), [b, b], 0)
        corr = all_pairs_correlation(fmap0, fmap1)
        levels = self.cfg.corr_levels
        pyramids = (
            correlation_pyramid(corr, levels),
            correlation_pyramid(transposed_correlation(corr), levels),
        )
        # each image through the context encoder separately, as the reference does (batch-size-dependent kernels)
        f0_1, f0_2, f0_3, f0_4 = self.encoder(img0_)
        f1_1, f1_2, f1_3, f1_4 = self.encoder(img1_)

        flow0, flow1, ft = self.decoder4(f0_4, f1_4, embt)
        corr_4, flow_4 = self._lookup(pyramids, coord, flow0, flow1, embt, 1)
        d_ft, d_flow = self.update4(ft, flow_4, corr_4)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        flow0, flow1, ft = flow0 + d0, flow1 + d1, ft + d_ft

        flow0, flow1, ft = self.decoder3(ft, f0_3, f1_3, flow0, flow1)
        corr_3, flow_3 = self._lookup(pyramids, coord, flow0, flow1, embt, 2)
        d_ft, d_flow = self.update3(ft, flow_3, corr_3)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        flow0, flow1, ft = flow0 + d0, flow1 + d1, ft + d_ft

        flow0, flow1, ft = self.decoder2(ft, f0_2, f1_2, flow0, flow1)
        corr_2, flow_2 = self._lookup(pyramids, coord, flow0, flow1, embt, 4)
        d_ft, d_flow = self.update2(ft, flow_2, corr_2)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        flow0, flow1, ft = flow0 + d0, flow1 + d1, ft + d_ft

        flow0, flow1, mask, img_res = self.decoder1(ft, f0_1, f1_1, flow0, flow1)
        if scale_factor != 1.0:
            flow0 = resize(flow0, 1.0 / scale_factor) * (1.0 / scale_factor)
            flow1 = resize(flow1, 1.0 / scale_factor) * (1.0 / scale_factor)
            mask = resize(mask, 1.0 / scale_factor)
            img_res = resize(img_res, 1.0 / scale_factor)
        pred = multi_flow_combine(self.comb_block, img0, img1, flow0, flow1, mask, img_res, mean)
        return torch.clamp(pred, 0, 1)


def build(cfg: AMTConfig | None = None) -> AMT:
    """An AMT of `cfg` (default: AMT-S) with the reference's initialisation."""
    return AMT(cfg)


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters."""
    return sum(p.numel() for p in model.parameters())


class AMTCore(nn.Module):
    """Exportable graph: two padded (N, 3, H, W) frames in [0, 1] -> the midpoint frame (embt 0.5, scale 1)."""

    def __init__(self, model: AMT, embt: float = 0.5) -> None:
        super().__init__()
        self.model = model
        self.register_buffer(
            "embt", torch.tensor(embt, dtype=torch.float32).view(1, 1, 1, 1), persistent=False
        )

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        """The interpolated frame in [0, 1]."""
        return self.model(img0, img1, self.embt)


def interpolate_midpoint(
    model: AMT, img0: torch.Tensor, img1: torch.Tensor, *, scale: float = 1.0, embt: float = 0.5
) -> torch.Tensor:
    """VBench's use: pad (N, 3, H, W) [0, 1] frames to /int(16/scale) (replicate, centred), interpolate, unpad."""
    divisor = int(16 / scale)
    padding: Padding = centred_padding(img0.shape[-2], img0.shape[-1], divisor)
    t = torch.tensor(embt, dtype=torch.float32, device=img0.device).view(1, 1, 1, 1)
    pred = model(pad_replicate(img0, padding), pad_replicate(img1, padding), t, scale_factor=scale)
    return unpad(pred, padding)
