"""AudioCLIP's audio branch: ESResNeXt-fbsp in the key layout of `AudioCLIP-Full-Training.pt` (prefix `audio.`).

Architecture (AndreyGuzhov/AudioCLIP model/esresnet, as JavisBench runs it; specs/models.md §6.2):
- front end (functional.audioclip_audio): int16-range mapping, framing (win 1654, hop 561, periodic
  Blackman-Harris buffer `window`), zero-pad to n_fft 2048, learnable FBSP transform (`fbsp.m/fb/fc`, and an
  empty `fbsp.bias`), power, 3 frequency bands as image channels, 10*log10;
- ResNeXt-50 32x4d trunk (`conv1`, `bn1`, `layer1..4` of Bottlenecks with `downsample.0/1`), each stage
  gated by a sigmoid attention map (`att1..att4`: depthwise conv, pointwise conv, BatchNorm) computed from
  the stage input max-pooled to the stage output size; global average pool gated by `att5`;
- `fc` 2048 -> 1024: the raw (un-normalised) audio embedding JavisBench's FAD uses.
Only single-channel waveforms are handled (JavisBench always passes mono).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.functional.audioclip_audio import (
    banded_log_power,
    blackmanharris_window,
    fbsp_kernel,
    fbsp_spectrum,
    frame_signal,
    int16_range_to_unit,
)
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models._state_dict import (
    identify_family,
    load_family,
    load_strict,
    read_state_dict,
)
from omninft.reward_servers.weights import WeightsIdentity

logger = logging.getLogger(__name__)

FAMILY = "audioclip"
CHECKPOINT_PREFIX = "audio."
# Top-level key prefixes of the full AudioCLIP checkpoint that belong to its CLIP RN50 image/text towers.
_NON_AUDIO_PREFIXES = (
    "visual.",
    "transformer.",
    "token_embedding.",
    "positional_embedding",
    "ln_final.",
    "text_projection",
    "logit_scale",
)
_BANDS = 3  # frequency bands fed as the trunk's three input channels


@dataclass(frozen=True)
class ESResNeXtConfig:
    """Front-end settings and trunk widths of an ESResNeXt-fbsp audio encoder."""

    n_fft: int = 2048
    hop_length: int = 561
    win_length: int = 1654
    normalized: bool = True
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    planes: tuple[int, int, int, int] = (64, 128, 256, 512)
    stem_width: int = 64
    groups: int = 32
    width_per_group: int = 4
    embed_dim: int = 1024
    apply_attention: bool = True

    @staticmethod
    def official() -> ESResNeXtConfig:
        """AudioCLIP's audio head: ResNeXt-50 32x4d with attention, FBSP n_fft 2048 / hop 561 / win 1654."""
        return ESResNeXtConfig()

    @staticmethod
    def tiny() -> ESResNeXtConfig:
        """Same topology and front end, one block per stage and 1/8 of the widths; keeps the 1024-d output."""
        return replace(
            ESResNeXtConfig(),
            layers=(1, 1, 1, 1),
            planes=(8, 16, 32, 64),
            stem_width=8,
            groups=4,
            width_per_group=16,
        )

    @property
    def bins(self) -> int:
        """One-sided FBSP output bins: round(n_fft / 2) + 1."""
        return int(round(self.n_fft / 2)) + 1


class Bottleneck(nn.Module):
    """ResNeXt bottleneck (expansion 4): 1x1 -> grouped 3x3 (stride) -> 1x1, plus identity or downsample."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        groups: int,
        width_per_group: int,
        downsample: nn.Module | None,
    ) -> None:
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        if width <= 0:
            raise ValueError(
                f"bottleneck width is 0 for planes={planes}, groups={groups}, width={width_per_group}"
            )
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual bottleneck."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


def _adaptive_max_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    """Adaptive max pooling of one axis with windows [floor(i*n/out), ceil((i+1)*n/out)) (PyTorch's rule)."""
    n = int(x.shape[dim])
    if n == out:
        return x
    if out == 1:
        return x.amax(dim=dim, keepdim=True)
    starts = [(i * n) // out for i in range(out)]
    ends = [-((-(i + 1) * n) // out) for i in range(out)]
    width = max(e - s for s, e in zip(starts, ends, strict=True))
    # Windows shorter than `width` repeat their last index: duplicates do not change a max.
    idx = torch.tensor(
        [[min(s + k, e - 1) for k in range(width)] for s, e in zip(starts, ends, strict=True)],
        dtype=torch.int64,
        device=x.device,
    )
    gathered = x.index_select(dim, idx.reshape(-1))
    shape = list(x.shape)
    shape[dim : dim + 1] = [out, width]
    return gathered.reshape(shape).amax(dim=dim + 1)


def adaptive_max_pool2d(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """F.adaptive_max_pool2d for static spatial sizes, as gathers + max (ONNX-exportable; separable is exact)."""
    return _adaptive_max_axis(_adaptive_max_axis(x, size[0], x.dim() - 2), size[1], x.dim() - 1)


class Attention2d(nn.Module):
    """Sigmoid gate: max-pool the stage input to the output size, depthwise conv, pointwise conv, BatchNorm."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], padding: tuple[int, int]) -> None:
        super().__init__()
        self.conv_depth = nn.Conv2d(cin, cin, kernel, padding=padding, groups=cin)
        self.conv_point = nn.Conv2d(cin, cout, (1, 1))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Gate of shape (B, cout, *size)."""
        x = adaptive_max_pool2d(x, size)
        return torch.sigmoid(self.bn(self.conv_point(self.conv_depth(x))))


# (kernel, padding) of att1..att5
_ATTENTION_SHAPES = (((3, 1), (1, 0)), ((1, 5), (0, 2)), ((3, 1), (1, 0)), ((1, 5), (0, 2)), ((3, 5), (1, 2)))


class ESResNeXtFBSP(nn.Module):
    """waveform (B, N) float (unscaled [-1, 1] as JavisBench passes it) -> raw audio embedding (B, embed_dim)."""

    window: torch.Tensor

    def __init__(self, cfg: ESResNeXtConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ESResNeXtConfig.official()
        self.cfg = cfg
        exp = Bottleneck.expansion
        self.conv1 = nn.Conv2d(_BANDS, cfg.stem_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.stem_width)
        inplanes = cfg.stem_width
        stage_in = [cfg.stem_width] + [p * exp for p in cfg.planes[:3]]
        for i, (planes, blocks) in enumerate(zip(cfg.planes, cfg.layers, strict=True)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != planes * exp:
                down = nn.Sequential(
                    nn.Conv2d(inplanes, planes * exp, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes * exp),
                )
            seq = [Bottleneck(inplanes, planes, stride, cfg.groups, cfg.width_per_group, down)]
            inplanes = planes * exp
            seq += [
                Bottleneck(inplanes, planes, 1, cfg.groups, cfg.width_per_group, None)
                for _ in range(1, blocks)
            ]
            self.add_module(f"layer{i + 1}", nn.Sequential(*seq))
        if cfg.apply_attention:
            outs = [p * exp for p in cfg.planes] + [cfg.planes[3] * exp]
            ins = [*stage_in, cfg.planes[3] * exp]
            for i, ((kernel, pad), cin, cout) in enumerate(zip(_ATTENTION_SHAPES, ins, outs, strict=True)):
                self.add_module(f"att{i + 1}", Attention2d(cin, cout, kernel, pad))
        self.fc = nn.Linear(cfg.planes[3] * exp, cfg.embed_dim)
        self.fbsp = FBSP(cfg.bins, normalized=cfg.normalized)
        self.register_buffer("window", torch.from_numpy(blackmanharris_window(cfg.win_length)).float())

    def spectrogram_db(self, waveform: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) waveform -> (B, 3, bins // 3, frames) dB image; `kernel` overrides the materialised FBSP kernel."""
        x = int16_range_to_unit(waveform.float())
        frames = frame_signal(x, self.window, self.cfg.hop_length, self.cfg.n_fft)
        if kernel is None:
            kernel = self.fbsp.kernel(self.cfg.n_fft)
        re, im = fbsp_spectrum(frames, kernel)
        return banded_log_power(re, im, _BANDS)

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk + attention-gated pooling + fc on the dB image: (B, embed_dim)."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
        for i in range(1, 5):
            y = getattr(self, f"layer{i}")(x)
            if self.cfg.apply_attention:
                y = y * getattr(self, f"att{i}")(x, (int(y.shape[-2]), int(y.shape[-1])))
            x = y
        pooled = F.adaptive_avg_pool2d(x, (1, 1))
        if self.cfg.apply_attention:
            pooled = pooled * self.get_submodule("att5")(x, (1, 1))
        return self.fc(torch.flatten(pooled, 1))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Raw `encode_audio` output (before AudioCLIP's L2 normalisation)."""
        if waveform.dim() == 3:
            if waveform.shape[1] != 1:
                raise ValueError("only single-channel waveforms are supported")
            waveform = waveform[:, 0]
        return self.embed_image(self.spectrogram_db(waveform))


class FBSP(nn.Module):
    """LinearFBSP parameters (`m`, `fb`, `fc`; `bias` is the reference's empty parameter) and kernel builder."""

    def __init__(self, out_features: int, *, normalized: bool) -> None:
        super().__init__()
        self.normalized = normalized
        self.m = nn.Parameter(torch.zeros(out_features))
        self.fb = nn.Parameter(torch.ones(out_features))
        self.fc = nn.Parameter(torch.arange(out_features, dtype=torch.float32))
        # The reference builds its bias-less layer as Parameter(None): an empty tensor that is still a key.
        self.bias = nn.Parameter(torch.empty(0))

    def kernel(self, in_features: int) -> torch.Tensor:
        """(out_features, in_features, 2) complex kernel."""
        return fbsp_kernel(self.m, self.fb, self.fc, in_features, normalized=self.normalized)


def build(cfg: ESResNeXtConfig | None = None) -> ESResNeXtFBSP:
    """An ESResNeXtFBSP of `cfg` (default official), initialised like the reference (Kaiming convs, unit BN)."""
    model = ESResNeXtFBSP(cfg)
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)
    return model


def audio_state_dict(full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `audio.*` entries of a full AudioCLIP state dict, prefix stripped; refuses unknown top-level keys."""
    audio = {k[len(CHECKPOINT_PREFIX) :]: v for k, v in full.items() if k.startswith(CHECKPOINT_PREFIX)}
    if not audio:
        raise WeightsLoadError("no 'audio.*' keys: not an AudioCLIP checkpoint")
    other = sorted(
        k for k in full if not k.startswith(CHECKPOINT_PREFIX) and not k.startswith(_NON_AUDIO_PREFIXES)
    )
    if other:
        raise WeightsLoadError(
            f"unrecognised AudioCLIP checkpoint keys (neither audio nor CLIP): {other[:8]}"
        )
    return audio


def load_official(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load the audio branch of `AudioCLIP-Full-Training.pt` strictly (every `audio.*` key used, none missing)."""
    sd = audio_state_dict(read_state_dict(Path(path)))
    own = model.state_dict()
    if "window" not in sd:  # a buffer some exports omit; it is a pure function of win_length
        sd["window"] = own["window"]
    load_strict(model, sd, f"AudioCLIP audio branch of {path}")
    window = model.state_dict()["window"]
    expected = torch.from_numpy(blackmanharris_window(window.numel())).float()
    if not torch.allclose(window, expected, atol=1e-6):
        raise WeightsLoadError(
            f"{path}: audio.window is not the periodic Blackman-Harris window of the front end"
        )


def load(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[ESResNeXtFBSP, WeightsIdentity]:
    """(ESResNeXtFBSP in eval mode, identity) for "tiny", "random", "official" or a checkpoint path/URL."""
    model, ident = load_family(
        FAMILY,
        weights,
        seed,
        tiny=lambda: build(ESResNeXtConfig.tiny()),
        full=lambda: build(ESResNeXtConfig.official()),
        load_checkpoint=load_official,
        cache_dir=cache_dir,
    )
    assert isinstance(model, ESResNeXtFBSP)
    return model, ident


def identify(
    weights: str, seed: int = 0, *, cache_dir: str | os.PathLike[str] | None = None
) -> WeightsIdentity:
    """The identity load() would report, without loading a checkpoint."""
    return identify_family(
        FAMILY,
        weights,
        seed,
        tiny=lambda: build(ESResNeXtConfig.tiny()),
        full=lambda: build(ESResNeXtConfig.official()),
        cache_dir=cache_dir,
    )


class AudioClipAudioCore(nn.Module):
    """Exportable graph: waveform (B, N) float32 -> raw audio embedding (B, embed_dim).

    The FBSP kernel depends only on the (frozen) parameters and n_fft, so it is materialised once here: the
    graph is then a gather, two matmuls and the CNN (no atan2/complex power per call).
    """

    kernel: torch.Tensor

    def __init__(self, model: ESResNeXtFBSP) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            self.register_buffer(
                "kernel", model.fbsp.kernel(model.cfg.n_fft).detach().clone(), persistent=False
            )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Front end with the cached kernel, then the trunk."""
        return self.model.embed_image(self.model.spectrogram_db(waveform, self.kernel))
