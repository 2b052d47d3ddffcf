"""Informative random Synchformer weights: the offset head standardised on synthetic sounding clips.

A randomly initialised Synchformer gives nearly the same offset logits for every input: the OFF token's final
feature is dominated by terms that do not depend on the clip (its own embedding, the layer-norm biases, the
attention average over ~200 tokens), so the argmax, and with it the desync score, is one constant class. Tests on
such weights prove little. `calibrate_random` keeps the architecture and key layout and only rewrites `off_head`
so that, over a few synthetic windows with different audio-video offsets, every class logit has zero mean and unit
spread: what is left of each logit is the input-dependent part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from omninft.reward_servers.functional import sync_frontend as sf

if TYPE_CHECKING:  # model.py imports this module to calibrate the random weights it builds
    from omninft.reward_servers.models.synchformer.model import Synchformer

_SEGMENTS = (
    4  # distinct segments per synthetic clip; windows cycle through them as the scorer's wrap-around does
)
_CLIPS = 2


def _clip_video(index: int, cfg_size: int, segments: int) -> np.ndarray:
    """uint8 (segments, 16, S, S, 3): a coloured square moving over a faint grating, different per clip."""
    frames_per = sf.SYNC.frames_per_segment
    yy, xx = np.mgrid[0:cfg_size, 0:cfg_size]
    grating = (40 + 30 * np.sin(2 * np.pi * (xx * (index + 2) + yy) / cfg_size)).astype(np.uint8)
    out = np.empty((segments, frames_per, cfg_size, cfg_size, 3), dtype=np.uint8)
    colour = np.array([(230, 60, 40), (40, 200, 230)][index % 2], dtype=np.uint8)
    side = cfg_size // 5
    for s in range(segments):
        for t in range(frames_per):
            frame = np.repeat(grating[:, :, None], 3, axis=2)
            step = s * sf.SYNC.frame_step + t
            x = (step * (7 + 5 * index)) % (cfg_size - side)
            y = (step * (3 + 4 * index) + 40 * s) % (cfg_size - side)
            frame[y : y + side, x : x + side] = colour
            out[s, t] = frame
    return out


def _clip_audio(index: int, segments: int) -> np.ndarray:
    """float32 (segments, 10240): decaying tone bursts whose timing and pitch differ per segment and clip."""
    sr, n = sf.SYNC.sample_rate, sf.SYNC.samples_per_segment
    t = np.arange(n) / sr
    out = np.empty((segments, n), dtype=np.float32)
    for s in range(segments):
        onset = 0.05 + 0.11 * ((s * 3 + index) % 5)
        pitch = 330.0 * (1 + (s + index) % 3)
        env = np.where(t >= onset, np.exp(-(t - onset) * 18.0), 0.0)
        out[s] = (0.5 * env * np.sin(2 * np.pi * pitch * (t - onset))).astype(np.float32)
    return out


def _noise_video(cfg_size: int, segments: int) -> np.ndarray:
    """uint8 (segments, 16, S, S, 3) of seeded uniform noise (a clip unlike any natural one, widening the set)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (segments, sf.SYNC.frames_per_segment, cfg_size, cfg_size, 3), dtype=np.uint8)


def _noise_audio(segments: int) -> np.ndarray:
    """float32 (segments, 10240) of seeded white noise."""
    return (0.1 * np.random.default_rng(1).standard_normal((segments, sf.SYNC.samples_per_segment))).astype(
        np.float32
    )


def calibration_features(model: Synchformer) -> tuple[torch.Tensor, torch.Tensor]:
    """(vis, aud) feature windows (W, 14, 8, Dv), (W, 14, 6, Da): every synthetic video (two moving squares,
    noise) against every synthetic audio (two burst trains, noise), and each clip against its own audio at
    several segment offsets (deterministic)."""
    cfg = model.cfg
    videos = [_clip_video(c, cfg.image_size, _SEGMENTS) for c in range(_CLIPS)] + [
        _noise_video(cfg.image_size, _SEGMENTS)
    ]
    audios = [_clip_audio(c, _SEGMENTS) for c in range(_CLIPS)] + [_noise_audio(_SEGMENTS)]
    with torch.no_grad():
        vfeats = [model.extract_vfeats(torch.from_numpy(sf.normalize_frames(v))) for v in videos]
        afeats = [model.extract_afeats(torch.from_numpy(sf.sync_log_mel(a))[:, None]) for a in audios]
    cycle = torch.arange(cfg.window_segments) % _SEGMENTS
    pairs = [(v, a, 0) for v in range(len(videos)) for a in range(len(audios))]
    pairs += [(c, c, shift) for c in range(_CLIPS) for shift in range(1, _SEGMENTS)]
    vis = torch.stack([vfeats[v][cycle] for v, _, _ in pairs])
    aud = torch.stack([afeats[a][(cycle + shift) % _SEGMENTS] for _, a, shift in pairs])
    return vis, aud


def calibrate_random(model: Synchformer) -> Synchformer:
    """Rewrite `off_head` so every offset logit has zero mean and unit spread over the calibration windows."""
    vis, aud = calibration_features(model)
    with torch.no_grad():
        feats = model.transformer.features(model.vproj(vis).flatten(1, 2), model.aproj(aud).flatten(1, 2))
        head = model.transformer.off_head
        centred = feats - feats.mean(dim=0)
        spread = (centred @ head.weight.T).std(dim=0)  # per class
        scale = torch.where(spread > 0, 1.0 / spread, torch.ones_like(spread))
        head.weight.mul_(scale[:, None])
        head.bias.copy_(-(head.weight @ feats.mean(dim=0)))
    return model
