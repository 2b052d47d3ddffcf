"""CPU toy "sounding video": a small dual-stream flow model, its data renderer, and its policy adapter (spec §6).

Rendering convention (the toy reward scorers in ``omninft.reward_servers.scorers.toy`` rely on exactly these
constants; they cannot import this module, so any change here must be mirrored there):

- Video: ``TOY_FRAMES`` frames of ``TOY_SIZE``² grey pixels in [0, 1]; decoded as uint8 RGB, each pixel repeated
  ``TOY_UPSCALE``² times, at ``TOY_FPS``. A Gaussian blob moves left→right on the row of its class; two random
  frames are events (amplitude 1.0, otherwise 0.4); blob width ``2.0 − 1.2·s`` with sharpness s ~ U(0, 1).
- Audio: ``TOY_AUDIO_FRAMES`` frames × ``TOY_BANDS`` band amplitudes. Decoded at ``TOY_SAMPLE_RATE`` with
  ``TOY_HOP`` samples per frame: band b is a sine of ``TOY_BAND_HZ[b]`` Hz (whole cycles per frame, so bands are
  orthogonal within a frame) scaled by the frame's amplitude and ``TOY_AUDIO_GAIN``. Class c's tone is band
  ``2c``, on during the event frames (2 audio frames per video frame), shifted by −2…+2 audio frames with
  probability ½. Every band gets Gaussian noise of std ``0.05 + 0.5·s``: sharp video ↔ noisy audio (the conflict;
  ``ToyDataConfig.coupled=False`` draws the noise level independently of s).
- Distractor (``ToyDataConfig.distractor``): a second, silent blob moves right→left on row
  ``TOY_ROW0 + TOY_ROW_STEP·((c + 2) mod 4)`` and flashes at its own two random frames; only the class-row blob
  sounds, so V2A attention has a sounding region to find (spec §6.5).
- Prompts: ``"toy class {c}: ..."``; scorers read the class from ``class <c>``; the sync reward reads the blob on
  the class's rows (``TOY_ROW0 + TOY_ROW_STEP·c``) only.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from omninft.trainer.core.sigmas import linear_grid
from omninft.trainer.policies.base import (
    CrossAttnSite,
    Media,
    PromptRecord,
    Rollout,
    SamplerConfig,
    StepCallback,
    StepInfo,
    Which,
    soft_update_,
)

TOY_FRAMES = 8
TOY_SIZE = 8
TOY_PATCH = 4
TOY_UPSCALE = 4
TOY_FPS = 8.0
TOY_AUDIO_FRAMES = 16
TOY_BANDS = 8
TOY_SAMPLE_RATE = 8000
TOY_HOP = 500
TOY_BAND_HZ: tuple[float, ...] = tuple(128.0 * (b + 1) for b in range(TOY_BANDS))
TOY_AUDIO_GAIN = 0.1
TOY_CLASSES = 4
TOY_ROW0 = 1.5
TOY_ROW_STEP = 1.6

_PATCHES_PER_FRAME = (TOY_SIZE // TOY_PATCH) ** 2
_VIDEO_TOKEN_DIM = TOY_PATCH * TOY_PATCH


def tone_band(c: int) -> int:
    """Audio band of class c's tone."""
    return 2 * c


def toy_prompts(n_classes: int = TOY_CLASSES) -> list[PromptRecord]:
    """One prompt per class, in the convention the toy scorers parse."""
    return [
        PromptRecord(
            id=f"class{c}",
            prompt_av=f"toy class {c}: a blob on row {c} flashes with a tone in band {tone_band(c)}",
            prompt_v=f"toy class {c}: a sharp blob",
            prompt_a=f"toy class {c}: a clean tone",
            meta={"class": c},
        )
        for c in range(n_classes)
    ]


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class ToyDataConfig:
    """What the toy's data contain: the sharpness↔noise conflict, and a silent distractor blob."""

    coupled: bool = True
    distractor: bool = False


def blob_x(frames: int = TOY_FRAMES) -> torch.Tensor:
    """Column of the sounding blob's centre per frame (left→right); the distractor mirrors it."""
    t = torch.arange(frames, dtype=torch.float32)
    return 1.0 + 6.0 * t / (frames - 1)


def class_row(labels: torch.Tensor) -> torch.Tensor:
    """Row of the sounding blob's centre for each class."""
    return TOY_ROW0 + TOY_ROW_STEP * labels.to(torch.float32)


def _blob(row: torch.Tensor, x_pos: torch.Tensor, width: torch.Tensor, amp: torch.Tensor) -> torch.Tensor:
    """Gaussian blobs (B, T, S, S): centre (row[b], x_pos[t]), width[b], per-frame amplitude amp[b, t]."""
    grid = torch.arange(TOY_SIZE, dtype=torch.float32)
    dx = (grid[None, None, None, :] - x_pos[None, :, None, None]) ** 2
    dy = (grid[None, None, :, None] - row[:, None, None, None]) ** 2
    return amp[:, :, None, None] * torch.exp(-(dx + dy) / (2.0 * width[:, None, None, None] ** 2))


def _event_amplitudes(b: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random event frames per sample (B, 2) and the amplitudes they give (1.0 on events, else 0.4)."""
    events = torch.stack([torch.randperm(TOY_FRAMES, generator=generator)[:2] for _ in range(b)])
    amp = torch.full((b, TOY_FRAMES), 0.4)
    amp.scatter_(1, events, 1.0)
    return events, amp


def render_pixels(
    labels: torch.Tensor, generator: torch.Generator, data: ToyDataConfig = ToyDataConfig()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training data: video pixels (B, T, S, S) and audio band amplitudes (B, TA, BANDS), float32."""
    b = labels.shape[0]
    s = torch.rand(b, generator=generator)
    width = 2.0 - 1.2 * s
    events, amp = _event_amplitudes(b, generator)
    video = _blob(class_row(labels), blob_x(), width, amp)
    env = torch.zeros(b, TOY_AUDIO_FRAMES)
    env.scatter_(1, 2 * events, 1.0)
    env.scatter_(1, 2 * events + 1, 1.0)
    shift = torch.randint(-2, 3, (b,), generator=generator)
    shift = torch.where(torch.rand(b, generator=generator) < 0.5, shift, torch.zeros_like(shift))
    idx = torch.arange(TOY_AUDIO_FRAMES)[None, :] - shift[:, None]
    ok = (idx >= 0) & (idx < TOY_AUDIO_FRAMES)
    env = torch.where(ok, env.gather(1, idx.clamp(0, TOY_AUDIO_FRAMES - 1)), torch.zeros_like(env))
    audio = torch.zeros(b, TOY_AUDIO_FRAMES, TOY_BANDS)
    audio.scatter_(2, (2 * labels)[:, None, None].expand(b, TOY_AUDIO_FRAMES, 1), env[:, :, None])
    noise_level = s if data.coupled else torch.rand(b, generator=generator)
    noise_std = 0.05 + 0.5 * noise_level
    audio = audio + noise_std[:, None, None] * torch.randn(
        b, TOY_AUDIO_FRAMES, TOY_BANDS, generator=generator
    )
    if data.distractor:
        # Drawn last, so that the sounding blob and the sound are the same draws with or without a distractor.
        d_width = 2.0 - 1.2 * torch.rand(b, generator=generator)
        _, d_amp = _event_amplitudes(b, generator)
        d_row = class_row((labels + 2) % TOY_CLASSES)
        video = torch.maximum(video, _blob(d_row, blob_x().flip(0), d_width, d_amp))
    return video, audio


def sounding_token_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, N_video) bool: the video tokens (patches) holding the sounding blob's centre in each frame."""
    n = TOY_SIZE // TOY_PATCH
    prow = (class_row(labels) // TOY_PATCH).clamp(0, n - 1).long()
    pcol = (blob_x() // TOY_PATCH).clamp(0, n - 1).long()
    mask = torch.zeros(labels.shape[0], TOY_FRAMES, n, n, dtype=torch.bool)
    frames = torch.arange(TOY_FRAMES)
    for i in range(labels.shape[0]):
        mask[i, frames, prow[i], pcol] = True
    return mask.reshape(labels.shape[0], TOY_FRAMES * n * n)


def pixels_to_tokens(video: torch.Tensor) -> torch.Tensor:
    """(B, T, S, S) pixels → (B, T·P, patch²) tokens, frame-major then patch row/col."""
    b = video.shape[0]
    n = TOY_SIZE // TOY_PATCH
    x = video.reshape(b, TOY_FRAMES, n, TOY_PATCH, n, TOY_PATCH).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(b, TOY_FRAMES * n * n, _VIDEO_TOKEN_DIM)


def tokens_to_pixels(tokens: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pixels_to_tokens`."""
    b = tokens.shape[0]
    n = TOY_SIZE // TOY_PATCH
    x = tokens.reshape(b, TOY_FRAMES, n, n, TOY_PATCH, TOY_PATCH).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(b, TOY_FRAMES, TOY_SIZE, TOY_SIZE)


def sample_data(
    labels: torch.Tensor, generator: torch.Generator, data: ToyDataConfig = ToyDataConfig()
) -> dict[str, torch.Tensor]:
    """Clean latents of data samples: {"video": (B, 32, 16), "audio": (B, 16, 8)}."""
    video, audio = render_pixels(labels, generator, data)
    return {"video": pixels_to_tokens(video), "audio": audio}


def media_from_latents(video_tokens: torch.Tensor, audio_amps: torch.Tensor) -> Media:
    """Decode one sample's clean latents to uint8 video frames and a float32 waveform (convention above)."""
    px = tokens_to_pixels(video_tokens[None].detach().cpu().float())[0].clamp(0.0, 1.0).numpy()
    gray = np.round(px * 255.0).astype(np.uint8)
    big = gray.repeat(TOY_UPSCALE, axis=1).repeat(TOY_UPSCALE, axis=2)
    frames = np.ascontiguousarray(np.repeat(big[..., None], 3, axis=3))
    amps = audio_amps.detach().cpu().double().numpy()
    n = np.arange(TOY_AUDIO_FRAMES * TOY_HOP)
    basis = np.sin(2.0 * np.pi * np.asarray(TOY_BAND_HZ)[:, None] * n[None, :] / TOY_SAMPLE_RATE)
    env = np.repeat(amps, TOY_HOP, axis=0)
    pcm = TOY_AUDIO_GAIN * (env * basis.T).sum(axis=1)
    pcm = np.clip(pcm, -1.0, 1.0).astype(np.float32)[None, :]
    return Media(frames=frames, fps=TOY_FPS, audio=pcm, sample_rate=TOY_SAMPLE_RATE)


# ------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class ToyModelConfig:
    """Size of the toy dual-stream transformer (defaults ≈ the spec's 4-block model)."""

    blocks: int = 4
    video_dim: int = 64
    audio_dim: int = 32
    video_heads: int = 4
    audio_heads: int = 2
    cross_heads: int = 2
    ff_mult: int = 2
    cond_dim: int = 64
    locality: float = 8.0
    n_classes: int = TOY_CLASSES


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1.0 + scale) + shift


class SelfAttention(nn.Module):
    """Multi-head self-attention (SDPA)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over the stream's own tokens."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.out(o.transpose(1, 2).reshape(b, n, d))


class CrossModalAttention(nn.Module):
    """A2V / V2A attention with a temporal-locality bias −λ·|t_q − t_k| (the toy's stand-in for cross-RoPE)."""

    def __init__(self, q_dim: int, kv_dim: int, inner: int, heads: int, locality: float) -> None:
        super().__init__()
        self.heads, self.locality = heads, locality
        self.to_q = nn.Linear(q_dim, inner)
        self.to_k = nn.Linear(kv_dim, inner)
        self.to_v = nn.Linear(kv_dim, inner)
        self.to_out = nn.Linear(inner, q_dim)

    def logits(
        self, x: torch.Tensor, context: torch.Tensor, q_time: torch.Tensor, k_time: torch.Tensor
    ) -> torch.Tensor:
        """Attention logits (B, heads, N_q, N_k), bias included."""
        b, nq, _ = x.shape
        nk = context.shape[1]
        q = self.to_q(x).reshape(b, nq, self.heads, -1).transpose(1, 2)
        k = self.to_k(context).reshape(b, nk, self.heads, -1).transpose(1, 2)
        bias = -self.locality * (q_time[:, None] - k_time[None, :]).abs()
        return q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, q_time: torch.Tensor, k_time: torch.Tensor
    ) -> torch.Tensor:
        """Queries from ``x``, keys/values from ``context`` (the kwarg the surgery hook rewrites)."""
        b, nq, _ = x.shape
        p = torch.softmax(self.logits(x, context, q_time, k_time), dim=-1)
        v = self.to_v(context).reshape(b, context.shape[1], self.heads, -1).transpose(1, 2)
        return self.to_out((p @ v).transpose(1, 2).reshape(b, nq, -1))


def v2a_column_sums(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> torch.Tensor:
    """Capture score: head-mean V2A attention, summed over audio queries → (B, N_video)."""
    assert isinstance(module, CrossModalAttention)
    x = args[0] if args else kwargs["x"]
    logits = module.logits(x, kwargs["context"], kwargs["q_time"], kwargs["k_time"])
    return torch.softmax(logits.float(), dim=-1).mean(dim=1).sum(dim=1)


class ToyBlock(nn.Module):
    """Self-attn + FF per stream with adaLN; A2V and V2A read the same normalised pre-update states."""

    def __init__(self, cfg: ToyModelConfig) -> None:
        super().__init__()
        dv, da = cfg.video_dim, cfg.audio_dim
        self.mod_v = nn.Linear(cfg.cond_dim, 6 * dv)
        self.mod_a = nn.Linear(cfg.cond_dim, 6 * da)
        self.attn_v, self.attn_a = SelfAttention(dv, cfg.video_heads), SelfAttention(da, cfg.audio_heads)
        self.audio_to_video_attn = CrossModalAttention(dv, da, da, cfg.cross_heads, cfg.locality)
        self.video_to_audio_attn = CrossModalAttention(da, dv, da, cfg.cross_heads, cfg.locality)
        self.ff_v = nn.Sequential(nn.Linear(dv, cfg.ff_mult * dv), nn.GELU(), nn.Linear(cfg.ff_mult * dv, dv))
        self.ff_a = nn.Sequential(nn.Linear(da, cfg.ff_mult * da), nn.GELU(), nn.Linear(cfg.ff_mult * da, da))

    def forward(
        self, xv: torch.Tensor, xa: torch.Tensor, c: torch.Tensor, tv: torch.Tensor, ta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One block on both streams."""
        sv1, cv1, gv1, sv2, cv2, gv2 = self.mod_v(c)[:, None].chunk(6, dim=-1)
        sa1, ca1, ga1, sa2, ca2, ga2 = self.mod_a(c)[:, None].chunk(6, dim=-1)
        xv = xv + gv1 * self.attn_v(_modulate(F.layer_norm(xv, xv.shape[-1:]), sv1, cv1))
        xa = xa + ga1 * self.attn_a(_modulate(F.layer_norm(xa, xa.shape[-1:]), sa1, ca1))
        nv, na = F.layer_norm(xv, xv.shape[-1:]), F.layer_norm(xa, xa.shape[-1:])
        dv = self.audio_to_video_attn(nv, context=na, q_time=tv, k_time=ta)
        da = self.video_to_audio_attn(na, context=nv, q_time=ta, k_time=tv)
        xv, xa = xv + dv, xa + da
        xv = xv + gv2 * self.ff_v(_modulate(F.layer_norm(xv, xv.shape[-1:]), sv2, cv2))
        xa = xa + ga2 * self.ff_a(_modulate(F.layer_norm(xa, xa.shape[-1:]), sa2, ca2))
        return xv, xa


class ToyDualStream(nn.Module):
    """Dual-stream flow model: predicts the velocity ε − x0 of both streams from (x_t, σ, class)."""

    def __init__(self, cfg: ToyModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        nv, na = TOY_FRAMES * _PATCHES_PER_FRAME, TOY_AUDIO_FRAMES
        self.video_in = nn.Linear(_VIDEO_TOKEN_DIM, cfg.video_dim)
        self.audio_in = nn.Linear(TOY_BANDS, cfg.audio_dim)
        self.video_pos = nn.Parameter(0.02 * torch.randn(nv, cfg.video_dim))
        self.audio_pos = nn.Parameter(0.02 * torch.randn(na, cfg.audio_dim))
        self.class_emb = nn.Embedding(cfg.n_classes + 1, cfg.cond_dim)
        self.time_mlp = nn.Sequential(
            nn.Linear(32, cfg.cond_dim), nn.SiLU(), nn.Linear(cfg.cond_dim, cfg.cond_dim)
        )
        self.blocks = nn.ModuleList(ToyBlock(cfg) for _ in range(cfg.blocks))
        self.out_mod_v = nn.Linear(cfg.cond_dim, 2 * cfg.video_dim)
        self.out_mod_a = nn.Linear(cfg.cond_dim, 2 * cfg.audio_dim)
        self.video_out = nn.Linear(cfg.video_dim, _VIDEO_TOKEN_DIM)
        self.audio_out = nn.Linear(cfg.audio_dim, TOY_BANDS)
        frame_of_token = torch.arange(nv) // _PATCHES_PER_FRAME
        self.register_buffer("video_time", (frame_of_token.float() + 0.5) / TOY_FRAMES, persistent=False)
        self.register_buffer(
            "audio_time", (torch.arange(na).float() + 0.5) / TOY_AUDIO_FRAMES, persistent=False
        )
        self.register_buffer(
            "freqs", torch.exp(-math.log(1e4) * torch.arange(16).float() / 16), persistent=False
        )
        self.video_time: torch.Tensor
        self.audio_time: torch.Tensor
        self.freqs: torch.Tensor

    def forward(
        self, video: torch.Tensor, audio: torch.Tensor, sigma: torch.Tensor, label: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocities (video (B, 32, 16), audio (B, 16, 8)); ``sigma`` (B,) in [0, 1]; label n_classes = null."""
        ang = 1000.0 * sigma.to(video.dtype)[:, None] * self.freqs[None]
        c = F.silu(self.class_emb(label) + self.time_mlp(torch.cat([ang.sin(), ang.cos()], dim=-1)))
        xv = self.video_in(video) + self.video_pos
        xa = self.audio_in(audio) + self.audio_pos
        for blk in self.blocks:
            xv, xa = blk(xv, xa, c, self.video_time, self.audio_time)
        shv, scv = self.out_mod_v(c)[:, None].chunk(2, dim=-1)
        sha, sca = self.out_mod_a(c)[:, None].chunk(2, dim=-1)
        vv = self.video_out(_modulate(F.layer_norm(xv, xv.shape[-1:]), shv, scv))
        va = self.audio_out(_modulate(F.layer_norm(xa, xa.shape[-1:]), sha, sca))
        return vv, va


def pretrain(
    model: ToyDualStream,
    steps: int,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    cfg_dropout: float = 0.1,
    data: ToyDataConfig = ToyDataConfig(),
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Plain flow-matching pretraining on freshly rendered data; returns the loss curve."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses: list[float] = []
    model.train()
    for step in range(steps):
        labels = torch.randint(0, model.cfg.n_classes, (batch,), generator=gen)
        x0 = sample_data(labels, gen, data)
        drop = torch.rand(batch, generator=gen) < cfg_dropout
        cond_labels = torch.where(drop, torch.full_like(labels, model.cfg.n_classes), labels)
        sigma = torch.rand(batch, generator=gen)
        eps = {k: torch.randn(v.shape, generator=gen) for k, v in x0.items()}
        xt = {k: (1 - sigma[:, None, None]) * x0[k] + sigma[:, None, None] * eps[k] for k in x0}
        vv, va = model(xt["video"], xt["audio"], sigma, cond_labels)
        loss = F.mse_loss(vv, eps["video"] - x0["video"]) + F.mse_loss(va, eps["audio"] - x0["audio"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, losses[-1])
    return losses


# ------------------------------------------------------------------------------------------------ adapter


TRAIN_SCOPES: tuple[str, ...] = ("all", "adapters")


def adapter_parameters(model: ToyDualStream) -> list[nn.Parameter]:
    """What LTX-2 + LoRA trains: self/cross attention and feed-forward weights; conditioning stays frozen."""
    out: list[nn.Parameter] = []
    for blk in model.blocks:
        assert isinstance(blk, ToyBlock)
        for part in (
            blk.attn_v,
            blk.attn_a,
            blk.audio_to_video_attn,
            blk.video_to_audio_attn,
            blk.ff_v,
            blk.ff_a,
        ):
            out.extend(part.parameters())
    return out


class ToyAdapter:
    """Policy adapter over the toy model: train, old and ref are three full copies (spec §5.2).

    ``train_scope="adapters"`` trains only attention and feed-forward weights (what LoRA on LTX-2 reaches), so the
    shared conditioning (class/time embeddings, adaLN tables, in/out projections) cannot carry one modality's
    reward into the other and the A2V/V2A paths are the only coupling, as in the real model.
    """

    def __init__(
        self,
        cfg: ToyModelConfig | None = None,
        state: Mapping[str, torch.Tensor] | None = None,
        init_seed: int = 0,
        train_scope: str = "all",
        data: ToyDataConfig = ToyDataConfig(),
    ) -> None:
        if train_scope not in TRAIN_SCOPES:
            raise ValueError(f"train_scope must be one of {TRAIN_SCOPES}, got {train_scope!r}")
        self.train_scope, self.data = train_scope, data
        self.cfg = cfg or ToyModelConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            base = ToyDualStream(self.cfg)
        if state is not None:
            base.load_state_dict(state)
        self.train_model = base
        self.old_model = copy.deepcopy(base).eval()
        self.ref_model = copy.deepcopy(base).eval()
        for p in [*self.old_model.parameters(), *self.ref_model.parameters()]:
            p.requires_grad_(False)
        if train_scope == "adapters":
            keep = {id(p) for p in adapter_parameters(self.train_model)}
            for p in self.train_model.parameters():
                p.requires_grad_(id(p) in keep)

    def _model(self, which: Which) -> ToyDualStream:
        return {"train": self.train_model, "old": self.old_model, "ref": self.ref_model}[which]

    def modalities(self) -> tuple[str, ...]:
        """Video and audio streams."""
        return ("video", "audio")

    def num_blocks(self) -> int:
        """Number of dual-stream blocks."""
        return self.cfg.blocks

    def token_layout(self, modality: str, rollout: Rollout | None = None) -> tuple[int, int]:
        """(frames, tokens per frame)."""
        return (TOY_FRAMES, _PATCHES_PER_FRAME) if modality == "video" else (TOY_AUDIO_FRAMES, 1)

    def encode_conditions(self, prompts: Sequence[PromptRecord]) -> dict[str, torch.Tensor]:
        """Class labels from ``meta["class"]``."""
        labels = []
        for p in prompts:
            c = int(p.meta["class"])
            if not 0 <= c < self.cfg.n_classes:
                raise ValueError(f"toy class {c} outside 0..{self.cfg.n_classes - 1}")
            labels.append(c)
        return {"label": torch.tensor(labels, dtype=torch.long)}

    def null_condition(self, batch: int) -> dict[str, torch.Tensor]:
        """Unconditional label (for CFG)."""
        return {"label": torch.full((batch,), self.cfg.n_classes, dtype=torch.long)}

    def initial_noise(self, seeds: Sequence[int]) -> dict[str, torch.Tensor]:
        """Per-sample starting noise, a pure function of each seed."""
        vs, as_ = [], []
        for s in seeds:
            g = torch.Generator().manual_seed(int(s))
            vs.append(torch.randn(TOY_FRAMES * _PATCHES_PER_FRAME, _VIDEO_TOKEN_DIM, generator=g))
            as_.append(torch.randn(TOY_AUDIO_FRAMES, TOY_BANDS, generator=g))
        return {"video": torch.stack(vs), "audio": torch.stack(as_)}

    @torch.no_grad()
    def rollout(
        self,
        cond: Any,
        prompts: Sequence[PromptRecord],
        seeds: Sequence[int],
        sampler: SamplerConfig,
        step_callback: StepCallback | None = None,
    ) -> Rollout:
        """Deterministic Euler ODE from σ = 1 to 0 with the old policy; optional per-modality CFG."""
        if sampler.stg_scale != 0.0:
            raise ValueError("the toy model has no spatio-temporal guidance (set stg_scale: 0)")
        model = self.old_model
        x = self.initial_noise(seeds)
        grid = linear_grid(sampler.steps).to(torch.float32)
        label = cond["label"]
        use_cfg = sampler.video_cfg != 1.0 or sampler.audio_cfg != 1.0
        null = self.null_condition(len(seeds))["label"]
        b = len(seeds)
        for i in range(sampler.steps):
            s, s_next = float(grid[i]), float(grid[i + 1])
            sig = torch.full((b,), s)
            if step_callback is not None:
                step_callback(StepInfo(i, sampler.steps, s, "cond"))
            vv, va = model(x["video"], x["audio"], sig, label)
            if use_cfg:
                if step_callback is not None:
                    step_callback(StepInfo(i, sampler.steps, s, "uncond"))
                uv, ua = model(x["video"], x["audio"], sig, null)
                vv = uv + sampler.video_cfg * (vv - uv)
                va = ua + sampler.audio_cfg * (va - ua)
            x = {"video": x["video"] + (s_next - s) * vv, "audio": x["audio"] + (s_next - s) * va}
        return Rollout(latents=x, cond=cond, aux=None, seeds=list(seeds), prompts=list(prompts))

    def decode(self, rollout: Rollout) -> list[Media]:
        """Media for each sample (rendering convention in the module docstring)."""
        return [
            media_from_latents(rollout.latents["video"][i], rollout.latents["audio"][i])
            for i in range(rollout.batch_size)
        ]

    def predict_x0(
        self, which: Which, x_t: Mapping[str, torch.Tensor], sigma: torch.Tensor, cond: Any, aux: Any
    ) -> dict[str, torch.Tensor]:
        """x̂0 = x_t − σ·v from the chosen copy."""
        vv, va = self._model(which)(x_t["video"], x_t["audio"], sigma, cond["label"])
        s = sigma.to(vv.dtype)[:, None, None]
        return {"video": x_t["video"] - s * vv, "audio": x_t["audio"] - s * va}

    def noise(
        self, x0: Mapping[str, torch.Tensor], sigma: torch.Tensor, generator: torch.Generator, aux: Any = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Linear interpolation with fresh noise (no denoise masks in the toy)."""
        eps = {k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in x0.items()}
        s = sigma.to(torch.float32)[:, None, None]
        return {k: (1 - s) * x0[k] + s * eps[k] for k in x0}, eps

    def training_sigmas(self, n_steps: int) -> torch.Tensor:
        """Non-zero levels of the linear rollout grid, noisiest first."""
        return linear_grid(n_steps)[:-1]

    def _sites(self, model: ToyDualStream) -> list[CrossAttnSite]:
        sites: list[CrossAttnSite] = []
        for i, blk in enumerate(model.blocks):
            assert isinstance(blk, ToyBlock)
            a2v, v2a = blk.audio_to_video_attn, blk.video_to_audio_attn
            sites.append(
                CrossAttnSite(
                    i, "a2v", a2v, kv_kwarg="context", kv_proj=(a2v.to_k, a2v.to_v), heads=a2v.heads
                )
            )
            sites.append(
                CrossAttnSite(
                    i,
                    "v2a",
                    v2a,
                    kv_kwarg="context",
                    kv_proj=(v2a.to_k, v2a.to_v),
                    heads=v2a.heads,
                    score_fn=v2a_column_sums,
                )
            )
        return sites

    def cross_attn_sites(self) -> list[CrossAttnSite]:
        """A2V and V2A sites of the trainable copy."""
        return self._sites(self.train_model)

    def capture_sites(self) -> list[CrossAttnSite]:
        """V2A sites of the old copy (the rollout policy)."""
        return [s for s in self._sites(self.old_model) if s.direction == "v2a"]

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The trainable copy's parameters in scope (all, or attention + feed-forward only)."""
        if self.train_scope == "adapters":
            return adapter_parameters(self.train_model)
        return list(self.train_model.parameters())

    def region_target_mask(self, rollout: Rollout) -> torch.Tensor:
        """(B, N_video) tokens of the sounding blob: what V2A region weights should find (diagnostic only)."""
        return sounding_token_mask(rollout.cond["label"])

    def soft_update(self, eta: float) -> None:
        """old ← η·old + (1−η)·train."""
        soft_update_(self.old_model.parameters(), self.train_model.parameters(), eta)

    def sync_old_from_train(self) -> None:
        """old ← train."""
        self.soft_update(0.0)

    def checkpoint_state(self) -> dict[str, Any]:
        """Train and old weights (the reference is the fixed base and is rebuilt from it)."""
        return {
            "train": {k: v.detach().clone() for k, v in self.train_model.state_dict().items()},
            "old": {k: v.detach().clone() for k, v in self.old_model.state_dict().items()},
        }

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Restore train and old weights."""
        self.train_model.load_state_dict(state["train"])
        self.old_model.load_state_dict(state["old"])

    def describe(self) -> dict[str, Any]:
        """Adapter name and model config."""
        n = sum(p.numel() for p in self.train_model.parameters())
        trainable = sum(p.numel() for p in self.trainable_parameters())
        return {
            "adapter": "toy",
            "params": n,
            "trainable_params": trainable,
            "train_scope": self.train_scope,
            "data": asdict(self.data),
            **asdict(self.cfg),
        }


def build_from_options(options: Mapping[str, Any]) -> ToyAdapter:
    """Adapter factory used by the trainer config (``policy.kind: toy``).

    Options: ``model`` (ToyModelConfig fields), ``data`` (ToyDataConfig fields: ``coupled``, ``distractor``),
    ``train_scope`` (``all`` | ``adapters``), ``base_checkpoint`` (path; pretrained and saved there when missing),
    ``pretrain_steps``, ``pretrain_batch``, ``pretrain_lr``, ``init_seed``.
    """
    import logging
    import os
    from pathlib import Path

    log = logging.getLogger(__name__)
    cfg = ToyModelConfig(**_checked(options.get("model", {}), ToyModelConfig, "model"))
    data = ToyDataConfig(**_checked(options.get("data", {}), ToyDataConfig, "data"))
    scope = str(options.get("train_scope", "all"))
    seed = int(options.get("init_seed", 0))
    path = options.get("base_checkpoint") or ""
    if path and Path(path).exists():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("config") != asdict(cfg) or blob.get("data", asdict(ToyDataConfig())) != asdict(data):
            raise ValueError(
                f"{path} was pretrained with another toy config: {blob.get('config')}, "
                f"data {blob.get('data')}; point policy.base_checkpoint elsewhere"
            )
        return ToyAdapter(cfg, blob["state"], init_seed=seed, train_scope=scope, data=data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ToyDualStream(cfg)
    steps = int(options.get("pretrain_steps", 800))
    if steps > 0:
        every = max(steps // 10, 1)

        def report(step: int, loss: float) -> None:
            if step % every == 0 or step == steps:
                log.warning(
                    "pretraining the toy base model: step %d/%d, flow-matching loss %.4f", step, steps, loss
                )

        pretrain(
            model,
            steps,
            int(options.get("pretrain_batch", 64)),
            float(options.get("pretrain_lr", 2e-3)),
            seed,
            data=data,
            progress=report,
        )
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        torch.save(
            {"config": asdict(cfg), "data": asdict(data), "state": state, "pretrain_steps": steps}, tmp
        )
        os.replace(tmp, path)
    return ToyAdapter(cfg, state, init_seed=seed, train_scope=scope, data=data)


def _checked(values: Mapping[str, Any], cls: type, what: str) -> dict[str, Any]:
    """``values`` as keyword arguments of dataclass ``cls``; unknown keys name the option group."""
    known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    bad = set(values) - known
    if bad:
        raise ValueError(f"unknown toy {what} options {sorted(bad)}; known: {sorted(known)}")
    return dict(values)
