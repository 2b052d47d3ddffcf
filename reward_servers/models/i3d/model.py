"""InceptionI3d (Kinetics-400) in the layout of `i3d_pretrained_400.pt` (the piergiaj / VideoGPT PyTorch port).

Module attribute names equal the checkpoint's keys (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_4b.b1a.bn.*``,
``logits.conv3d.bias``), so the official file loads unchanged with strict=True (specs/models.md §6.1). Every
convolution and max-pool pads "SAME" as TensorFlow does (computed from the input shape in forward). BatchNorm
eps is 1e-5, as in the port JavisBench runs (eval/javisbench/src/fvd/pytorch_i3d.py). The FVD feature is the
logits conv after the [2, 7, 7] average pool, averaged over the remaining time steps: 400-d per clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.models._state_dict import (
    identify_family,
    load_family,
    load_strict,
    read_state_dict,
)
from omninft.reward_servers.weights import WeightsIdentity

FAMILY = "i3d"
# Per Inception block: (b0, b1a, b1b, b2a, b2b, b3b) output channels of the official network.
_OFFICIAL_MIXED: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# Forward order: (name, kind, args). Pools: (kernel, stride); units: (out channels key, kernel, stride).
_POOLS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}
_ORDER = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)


@dataclass(frozen=True)
class I3DConfig:
    """Widths of an InceptionI3d; the topology (layers, kernels, strides, pools) is fixed."""

    stem: tuple[int, int, int] = (64, 64, 192)  # Conv3d_1a, Conv3d_2b, Conv3d_2c output channels
    mixed: tuple[tuple[int, int, int, int, int, int], ...] = tuple(_OFFICIAL_MIXED.values())
    num_classes: int = 400
    in_channels: int = 3
    bn_eps: float = 1e-5
    bn_momentum: float = 0.001

    @staticmethod
    def official() -> I3DConfig:
        """The Kinetics-400 network of i3d_pretrained_400.pt (12,697,264 parameters)."""
        return I3DConfig()

    @staticmethod
    def tiny() -> I3DConfig:
        """Same topology with 1/8 of the channels (at least 2), keeping the 400-d logits of the official model."""

        def shrink(c: int) -> int:
            return max(2, c // 8)

        return replace(
            I3DConfig(),
            stem=(8, 8, 24),
            mixed=tuple(tuple(shrink(c) for c in block) for block in _OFFICIAL_MIXED.values()),  # type: ignore[misc]
        )


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (front, back) along one axis."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    t, h, w = (int(s) for s in x.shape[-3:])
    pt, ph, pw = (_same_pad(n, k, s) for n, k, s in zip((t, h, w), kernel, stride, strict=True))
    return F.pad(x, (*pw, *ph, *pt))


class SamePadMaxPool3d(nn.Module):
    """3-D max pool with TF SAME zero padding (zeros, as the port pads with F.pad before pooling)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad then pool."""
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class Unit3D(nn.Module):
    """SAME-padded Conv3d (keys `conv3d.*`) + optional BatchNorm3d (`bn.*`) + optional ReLU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        *,
        cfg: I3DConfig,
        bn: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=cfg.bn_eps, momentum=cfg.bn_momentum) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad, convolve, normalise, activate."""
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class InceptionModule(nn.Module):
    """Four branches (1x1; 1x1->3x3; 1x1->3x3; maxpool->1x1) concatenated on channels (keys b0, b1a, ... b3b)."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int], cfg: I3DConfig) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = widths
        k3 = (3, 3, 3)
        self.b0 = Unit3D(cin, c0, cfg=cfg)
        self.b1a = Unit3D(cin, c1a, cfg=cfg)
        self.b1b = Unit3D(c1a, c1b, k3, cfg=cfg)
        self.b2a = Unit3D(cin, c2a, cfg=cfg)
        self.b2b = Unit3D(c2a, c2b, k3, cfg=cfg)
        self.b3a = SamePadMaxPool3d(k3, (1, 1, 1))
        self.b3b = Unit3D(cin, c3b, cfg=cfg)
        self.out_channels = c0 + c1b + c2b + c3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Branches in the checkpoint's concatenation order."""
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


class InceptionI3d(nn.Module):
    """video (B, 3, T, 224, 224), T >= 9 -> time-averaged Kinetics logits (B, num_classes)."""

    def __init__(self, cfg: I3DConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or I3DConfig.official()
        if len(cfg.mixed) != len(_OFFICIAL_MIXED):
            raise ValueError(f"I3DConfig.mixed needs {len(_OFFICIAL_MIXED)} blocks, got {len(cfg.mixed)}")
        self.cfg = cfg
        s1, s2, s3 = cfg.stem
        self.Conv3d_1a_7x7 = Unit3D(cfg.in_channels, s1, (7, 7, 7), (2, 2, 2), cfg=cfg)
        self.Conv3d_2b_1x1 = Unit3D(s1, s2, cfg=cfg)
        self.Conv3d_2c_3x3 = Unit3D(s2, s3, (3, 3, 3), cfg=cfg)
        for name, (kernel, stride) in _POOLS.items():
            self.add_module(name, SamePadMaxPool3d(kernel, stride))
        cin = s3
        for name, widths in zip(_OFFICIAL_MIXED, cfg.mixed, strict=True):
            block = InceptionModule(cin, widths, cfg)
            self.add_module(name, block)
            cin = block.out_channels
        self.feature_channels = cin
        self.logits = Unit3D(cin, cfg.num_classes, cfg=cfg, bn=False, relu=False, bias=True)

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """Mixed_5c output after the [2, 7, 7] stride-1 average pool: (B, C, T', 1, 1) for 224 x 224 input."""
        x = video
        for name in _ORDER:
            x = getattr(self, name)(x)
        return F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=(1, 1, 1))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Logits conv on the pooled features (dropout is identity in eval), then the mean over time."""
        x = self.logits(self.features(video))
        return x.squeeze(4).squeeze(3).mean(dim=2)


def build(cfg: I3DConfig | None = None) -> InceptionI3d:
    """An InceptionI3d of `cfg` (default: official) with PyTorch's default initialisation."""
    return InceptionI3d(cfg)


def calibration_clips(n: int = 4, frames: int = 16, size: int = 224) -> torch.Tensor:
    """n distinct synthetic clips in I3D's [0, 1] input range: moving gratings of varied frequency, direction,
    speed and colour (deterministic; no RNG)."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None]
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    clips = []
    for i in range(n):
        freq, angle, speed = 2.0 + 3.0 * i, 0.7 * i, 0.05 * (i + 1)
        phase = freq * (torch.cos(torch.tensor(angle)) * xx + torch.sin(torch.tensor(angle)) * yy) - speed * t
        wave = 0.5 + 0.5 * torch.sin(2 * torch.pi * phase)
        rgb = torch.stack([wave, wave.roll(7 * (i + 1), dims=2), 1.0 - wave * (i % 2)], dim=0)
        clips.append(rgb)
    return torch.stack(clips)


def calibrate_random(model: InceptionI3d, clips: torch.Tensor | None = None) -> InceptionI3d:
    """Make random weights informative: BatchNorm running statistics from a few synthetic clips, then the logits
    layer scaled to unit spread across them. Default-initialised I3D in eval mode (running mean 0, var 1) gives
    nearly the same logits for every video, which would make FVD/KVD tests on tiny weights prove nothing."""
    x = calibration_clips() if clips is None else clips
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration pass
    model.train()
    with torch.no_grad():
        model(x)
        model.eval()
        for bn in bns:
            bn.momentum = model.cfg.bn_momentum
        logits = model(x)
        spread = float(logits.std(dim=0).mean())
        conv = model.logits.conv3d
        if spread > 0:
            conv.weight.mul_(1.0 / spread)
            if conv.bias is not None:
                conv.bias.mul_(1.0 / spread)
    return model


def load_official(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load `i3d_pretrained_400.pt` (a plain state dict) into a full-size model, strictly."""
    load_strict(model, read_state_dict(Path(path)), f"I3D checkpoint {path}")


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[InceptionI3d, WeightsIdentity]:
    """(InceptionI3d in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
    model, ident = load_family(
        FAMILY,
        weights,
        seed,
        tiny=lambda: calibrate_random(build(I3DConfig.tiny())),
        full=lambda: build(I3DConfig.official()),
        load_checkpoint=load_official,
        cache_dir=cache_dir,
    )
    assert isinstance(model, InceptionI3d)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    return identify_family(
        FAMILY,
        weights,
        seed,
        tiny=lambda: calibrate_random(build(I3DConfig.tiny())),
        full=lambda: build(I3DConfig.official()),
        cache_dir=cache_dir,
    )


class I3DCore(nn.Module):
    """Exportable graph: video (B, 3, T, 224, 224) float32 -> logits (B, 400)."""

    def __init__(self, model: InceptionI3d) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """The FVD feature."""
        return self.model(video)
