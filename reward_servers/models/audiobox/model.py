"""Audiobox Aesthetics network: transformers WavLM encoder + per-axis layer weighting, pooling and linear heads.

Reproduces `AesMultiOutput.forward` of facebookresearch/audiobox-aesthetics (specs/models.md §3.1, §3.4):
13 hidden states (encoder input after the post-LN, then every layer output) -> per-axis softmax layer weights ->
masked mean over valid frames -> L2 normalisation -> Linear(768 -> 1). The encoder is transformers' `WavLMModel`,
whose modules equal unilm WavLM's; only the frame mask is computed here, with unilm's rule (a frame is padding
iff every one of its samples is), because transformers' conv-length formula marks one frame fewer.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from omninft.reward_servers.models.audiobox.config import AXES, AudioboxConfig


def head_layers(dim: int, cfg: AudioboxConfig) -> list[nn.Module]:
    """The modules of one axis head, in the order (and hence state-dict indices) upstream's MLP builder uses."""
    layers: list[nn.Module] = []
    for i in range(cfg.proj_num_layer):
        if i == cfg.proj_num_layer - 1:
            layers.append(nn.Linear(dim, 1))
            continue
        layers.append(nn.Linear(dim, dim))
        if cfg.proj_ln:
            layers.append(nn.LayerNorm(dim))
        layers.append(nn.GELU())
        if cfg.proj_dropout != 0:
            layers.append(nn.Dropout(cfg.proj_dropout))
    return layers


def frame_validity(mask: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B, N) sample mask (1 = real audio) -> (B, n_frames) bool frame mask by unilm WavLM's block rule.

    The trailing N % n_frames samples are dropped, the rest cut into n_frames equal blocks, and a frame is
    valid when any sample of its block is valid.
    """
    b, n = mask.shape
    block = n // n_frames
    blocks = mask[:, : n_frames * block].reshape(b, n_frames, block)
    return blocks.amax(dim=-1) > 0.5


class AudioboxAesthetics(nn.Module):
    """wav (B, N) float32 at 16 kHz + mask (B, N) float32 -> normalised predictions (B, 4) in AXES order."""

    def __init__(self, config: AudioboxConfig) -> None:
        super().__init__()
        from transformers import WavLMModel

        config.validate()
        self.config = config
        self.wavlm = WavLMModel(config.wavlm_config())
        dim = int(self.wavlm.config.hidden_size)
        self.proj_layer = nn.ModuleDict({a: nn.Sequential(*head_layers(dim, config)) for a in AXES})
        self.layer_weights = nn.ParameterDict(
            {a: nn.Parameter(torch.full((config.nth_layer,), 1.0 / config.nth_layer)) for a in AXES}
        )

    def hidden_states(self, wav: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, T, C, nth_layer) stacked hidden states, (B, T) bool frame mask)."""
        features = self.wavlm.feature_extractor(wav).transpose(1, 2)
        valid = frame_validity(mask, features.shape[1])
        hidden, _ = self.wavlm.feature_projection(features)
        # padded frames are zeroed before the positional convolution, as in unilm's encoder
        hidden = hidden * valid.unsqueeze(-1).to(hidden.dtype)
        encoder = self.wavlm.encoder
        hidden = encoder.layer_norm(hidden + encoder.pos_conv_embed(hidden))
        states = [hidden]
        position_bias = None
        with warnings.catch_warnings():
            # torch deprecates a bool key-padding mask next to the float position bias; the result is the same
            warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
            for i, layer in enumerate(encoder.layers[: self.config.nth_layer - 1]):
                hidden, position_bias = layer(
                    hidden, attention_mask=valid, position_bias=position_bias, index=i
                )
                states.append(hidden)
        return torch.stack(states, dim=-1), valid

    def pooled(self, states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Per-axis weighted layer sum -> masked mean -> optional L2 norm: (B, 4, C)."""
        weights = torch.stack([torch.softmax(self.layer_weights[a], dim=-1) for a in AXES], dim=-1)  # (L, 4)
        mixed = torch.einsum("btcl,la->batc", states, weights)
        m = valid.to(mixed.dtype)[:, None, :, None]
        pooled = (mixed * m).sum(dim=2) / m.sum(dim=2).clamp(min=1)
        if self.config.normalize_embed:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    def forward(self, wav: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised (not yet de-normalised) predictions, one column per axis."""
        states, valid = self.hidden_states(wav, mask)
        pooled = self.pooled(states, valid)
        preds = [self.proj_layer[a](pooled[:, i]).squeeze(-1) for i, a in enumerate(AXES)]
        return torch.stack(preds, dim=-1)


def build(config: AudioboxConfig, seed: int = 0) -> AudioboxAesthetics:
    """A randomly initialised model in eval mode, seeded without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AudioboxAesthetics(config)
    return model.eval()
