"""Audiobox Aesthetics configuration: the WavLM encoder sizes plus the per-axis head settings.

The official model (`facebook/audiobox-aesthetics`, specs/models.md §3) is WavLM Base+ with four heads
(CE, CU, PC, PQ). Its HF `config.json` holds only the head settings and the output de-normalisation
(`target_transform`); the encoder sizes are a constant of the upstream code, reproduced by `official()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

AXES = ("CE", "CU", "PC", "PQ")
SAMPLE_RATE = 16_000
CHUNK_SECONDS = 10  # AesPredictor: 10 s windows with a 10 s hop
CONV_STRIDE = 320  # product of the conv strides (5 * 2**6): samples per encoder frame

# WavLM Base+ as transformers' WavLMConfig arguments (specs/models.md §3.4); everything else stays at the defaults.
_OFFICIAL_WAVLM: dict[str, Any] = {
    "conv_bias": False,
    "feat_extract_norm": "group",
    "do_stable_layer_norm": False,
    "num_buckets": 320,
    "max_bucket_distance": 800,
}
# Same conv kernels/strides (the 320x input contract) and bucket settings, at toy widths and depth.
_TINY_WAVLM: dict[str, Any] = {
    **_OFFICIAL_WAVLM,
    "conv_dim": (16,) * 7,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}
WAVLM_CONFIG_KEY = "omninft_wavlm"
# config.json keys of AesMultiOutput that this implementation reproduces, with the values it supports.
SUPPORTED_HEAD_KEYS = (
    "proj_num_layer",
    "proj_ln",
    "proj_act_fn",
    "proj_dropout",
    "nth_layer",
    "use_weighted_layer_sum",
    "precision",
    "normalize_embed",
    "output_dim",
)


@dataclass(frozen=True)
class AudioboxConfig:
    """Everything needed to build an Audiobox Aesthetics model (encoder, heads, de-normalisation)."""

    wavlm: Mapping[str, Any] = field(default_factory=lambda: dict(_OFFICIAL_WAVLM))
    proj_num_layer: int = 1
    proj_ln: bool = False
    proj_act_fn: str = "gelu"
    proj_dropout: float = (
        0.0  # inactive at inference, but a Dropout module shifts the head's state-dict indices
    )
    nth_layer: int = (
        13  # hidden states fed to the layer weighting: encoder input + the first nth_layer-1 layers
    )
    normalize_embed: bool = True
    precision: str = "32"
    # axis -> {"mean": m, "std": s}: score = prediction * std + mean
    target_transform: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {a: {"mean": 5.0, "std": 2.0} for a in AXES}
    )

    def wavlm_config(self) -> Any:
        """The transformers WavLMConfig of the encoder."""
        from transformers import WavLMConfig

        return WavLMConfig(**dict(self.wavlm))

    def denorm(self, axis: str) -> tuple[float, float]:
        """(mean, std) of one axis."""
        t = self.target_transform[axis]
        return float(t["mean"]), float(t["std"])

    def validate(self) -> None:
        """Refuse settings the upstream forward pass would not run the way this implementation does."""
        cfg = self.wavlm_config()
        if self.proj_num_layer < 1:
            raise ValueError(f"proj_num_layer must be >= 1, got {self.proj_num_layer}")
        if self.proj_act_fn != "gelu":
            raise ValueError(f"only proj_act_fn='gelu' exists upstream, got {self.proj_act_fn!r}")
        if not 1 <= self.nth_layer <= cfg.num_hidden_layers + 1:
            raise ValueError(f"nth_layer must be in [1, {cfg.num_hidden_layers + 1}], got {self.nth_layer}")
        missing = [a for a in AXES if a not in self.target_transform]
        if missing:
            raise ValueError(f"target_transform lacks axes {missing}")
        for a in AXES:
            if not self.denorm(a)[1] > 0:
                raise ValueError(f"target_transform[{a}].std must be positive")


def official(target_transform: Mapping[str, Mapping[str, float]] | None = None) -> AudioboxConfig:
    """The official architecture; de-normalisation values come from the checkpoint (placeholders otherwise)."""
    cfg = AudioboxConfig()
    return cfg if target_transform is None else replace(cfg, target_transform=dict(target_transform))


def tiny() -> AudioboxConfig:
    """A toy-width config of the same architecture and input contract (16 kHz, 320x down-sampling)."""
    # distinct placeholder de-normalisations so that tests notice swapped axes
    transform = {
        "CE": {"mean": 5.0, "std": 2.0},
        "CU": {"mean": 5.5, "std": 1.5},
        "PC": {"mean": 4.0, "std": 2.5},
        "PQ": {"mean": 6.0, "std": 1.0},
    }
    return AudioboxConfig(
        wavlm=dict(_TINY_WAVLM), nth_layer=_TINY_WAVLM["num_hidden_layers"] + 1, target_transform=transform
    )


def from_checkpoint_config(cfg: Mapping[str, Any]) -> AudioboxConfig:
    """A config from AesMultiOutput's config.json (or checkpoint.pt model_cfg + target_transform).

    The encoder is WavLM Base+ unless the optional WAVLM_CONFIG_KEY entry (written only by `to_checkpoint_config`
    for non-official sizes) overrides WavLMConfig arguments.
    """
    if "target_transform" not in cfg or not cfg["target_transform"]:
        raise ValueError(
            "the checkpoint config has no target_transform (per-axis mean/std); cannot de-normalise"
        )
    if not cfg.get("use_weighted_layer_sum", True):
        raise ValueError(
            "use_weighted_layer_sum=False checkpoints are not supported (upstream's path is broken)"
        )
    if int(cfg.get("output_dim", 1)) != 1:
        raise ValueError(f"output_dim must be 1, got {cfg.get('output_dim')}")
    wavlm = dict(_OFFICIAL_WAVLM)
    # Not in official checkpoints: lets this toolkit's tiny/test checkpoints record their encoder sizes.
    wavlm.update(dict(cfg.get(WAVLM_CONFIG_KEY) or {}))
    out = AudioboxConfig(
        wavlm=wavlm,
        proj_num_layer=int(cfg.get("proj_num_layer", 1)),
        proj_ln=bool(cfg.get("proj_ln", False)),
        proj_act_fn=str(cfg.get("proj_act_fn", "gelu")),
        proj_dropout=float(cfg.get("proj_dropout", 0.0)),
        nth_layer=int(cfg.get("nth_layer", 13)),
        normalize_embed=bool(cfg.get("normalize_embed", True)),
        precision=str(cfg.get("precision", "32")),
        target_transform={
            a: {"mean": float(v["mean"]), "std": float(v["std"])}
            for a, v in dict(cfg["target_transform"]).items()
        },
    )
    out.validate()
    return out


def to_checkpoint_config(cfg: AudioboxConfig) -> dict[str, Any]:
    """The config.json content of AesMultiOutput for cfg (plus the encoder sizes when they are not official)."""
    out: dict[str, Any] = {
        "proj_num_layer": cfg.proj_num_layer,
        "proj_ln": cfg.proj_ln,
        "proj_act_fn": cfg.proj_act_fn,
        "proj_dropout": cfg.proj_dropout,
        "nth_layer": cfg.nth_layer,
        "use_weighted_layer_sum": True,
        "precision": cfg.precision,
        "normalize_embed": cfg.normalize_embed,
        "output_dim": 1,
        "target_transform": {a: dict(v) for a, v in cfg.target_transform.items()},
        "freeze_encoder": True,
    }
    if dict(cfg.wavlm) != _OFFICIAL_WAVLM:
        out[WAVLM_CONFIG_KEY] = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.wavlm.items()}
    return out
