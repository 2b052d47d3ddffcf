"""Typed trainer configuration: nested dataclasses, loaded from YAML mappings, overridable with ``key.path=value``."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class PolicySection:
    """Which adapter, and how to get its base weights."""

    kind: str = "toy"
    options: dict[str, Any] = field(default_factory=dict)
    base_checkpoint: str = ""
    pretrain_steps: int = 800
    pretrain_batch: int = 64
    pretrain_lr: float = 2e-3
    init_seed: int = 0


@dataclass
class DataSection:
    """Prompts and the K-repeat grouping."""

    prompts: str = "toy"
    groups_per_epoch: int = 8
    group_size: int = 8
    rollout_batch: int = 16


@dataclass
class SamplerSection:
    """Rollout sampler."""

    steps: int = 10
    grid: str = "default"
    video_cfg: float = 1.0
    audio_cfg: float = 1.0
    stg_scale: float = 0.0
    stg_blocks: list[int] = field(default_factory=list)
    # CFG negative prompt of text-conditioned policies. None: the policy's own default where its pipeline or
    # checkpoint config carries one, else an error; "" must be written explicitly (the release never uses it).
    negative_prompt: str | None = None


@dataclass
class RewardEntry:
    """One reward: output name, scorer to request, route, weight, and which server hosts it."""

    name: str = ""
    scorer: str = ""
    route: str = "sync"
    weight: float = 1.0
    server: str = "local"


def _toy_rewards() -> list[RewardEntry]:
    return [
        RewardEntry("toy_video", "toy_video", "video", 1.0),
        RewardEntry("toy_audio", "toy_audio", "audio", 1.0),
        RewardEntry("toy_sync", "toy_sync", "sync", 1.0),
    ]


@dataclass
class RewardSection:
    """Reward calls: timeouts, async overlap, embedded server settings."""

    timeout_s: float = 120.0
    epoch_deadline_s: float = 600.0
    async_: bool = True
    embedded_weights: str = "tiny"
    embedded_startup_timeout_s: float = 180.0
    embedded_max_batch_size: int = 64


@dataclass
class AdvantageSection:
    """Advantage mode (routed | global | gdpo_omninft | gdpo_paper; ``gdpo`` = ``gdpo_omninft``)."""

    mode: str = "routed"
    std_mode: str | None = None
    ddof: int | None = None
    eps: float = 1e-4
    empty_route_fallback: bool = True
    # empty: fall back to the summed-reward advantage only for a route no reward feeds (intended rule);
    # release: also when the route's advantage sums to exactly 0 over the batch, as the released code does.
    route_fallback: str = "empty"


@dataclass
class NFTSection:
    """NFT loss."""

    beta: float = 1.0
    adv_clip: float = 5.0
    kl_coef: float = 1e-4


@dataclass
class TrainSection:
    """Optimiser and training-σ policy."""

    lr: float = 3e-4
    # Linear warm-up of the learning rate over the first optimiser steps (0 = constant lr).
    lr_warmup_steps: int = 0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 1e-4
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    micro_batch: int = 8
    optimizer_steps_per_epoch: int = 1
    sigma_policy: str = "first_frac"
    sigma_frac: float = 0.5
    modality_weights: dict[str, float] = field(default_factory=lambda: {"video": 1.0, "audio": 1.0})


@dataclass
class OldPolicySection:
    """η schedule (decay_type 0 | 1 | 2)."""

    decay_type: int = 1
    rate: float = 0.001
    max_eta: float = 0.5


@dataclass
class SurgerySection:
    """A2V gradient surgery: kept fraction per block (segments on 48 blocks, rescaled, or explicit per block)."""

    enabled: bool = True
    segments: list[list[float]] = field(default_factory=lambda: [[1, 0.0], [10, 0.1], [29, 1.0], [8, 0.3]])
    per_block: list[float] | None = None
    site: str = "kv_input"
    warmup_steps: int = 0


@dataclass
class RegionSection:
    """V2A region weights for the video loss."""

    enabled: bool = True
    blocks: list[int] | None = None
    min_block_frac: float = 0.0
    step_window: list[float] = field(default_factory=lambda: [0.5, 0.9])
    passes: str = "all"
    norm: str = "sigmoid"
    w_max: float = 1.5
    warmup_steps: int = 400
    # The release forms V2A maps from raw q/k projections (no RoPE); true applies the temporal RoPE that the
    # real V2A attention uses.
    rope: bool = False


@dataclass
class LogSection:
    """Logging and checkpoints."""

    tensorboard: bool = True
    checkpoint_every: int = 0
    keep_checkpoints: int = 2


@dataclass
class TrainConfig:
    """Everything one training run needs."""

    seed: int = 0
    epochs: int = 40
    out_dir: str = "runs/omninft"
    threads: int = 0
    policy: PolicySection = field(default_factory=PolicySection)
    data: DataSection = field(default_factory=DataSection)
    sampler: SamplerSection = field(default_factory=SamplerSection)
    rewards: list[RewardEntry] = field(default_factory=_toy_rewards)
    servers: dict[str, str] = field(default_factory=lambda: {"local": "embedded"})
    reward: RewardSection = field(default_factory=RewardSection)
    advantage: AdvantageSection = field(default_factory=AdvantageSection)
    nft: NFTSection = field(default_factory=NFTSection)
    train: TrainSection = field(default_factory=TrainSection)
    old_policy: OldPolicySection = field(default_factory=OldPolicySection)
    surgery: SurgerySection = field(default_factory=SurgerySection)
    regions: RegionSection = field(default_factory=RegionSection)
    log: LogSection = field(default_factory=LogSection)


class ConfigError(ValueError):
    """A config key or value that does not fit the schema."""


def _field_name(cls: type, key: str) -> str:
    names = {f.name for f in dataclasses.fields(cls)}
    for cand in (key, key + "_", key.replace("-", "_")):
        if cand in names:
            return cand
    raise ConfigError(f"unknown config key {key!r} in {cls.__name__}; known: {', '.join(sorted(names))}")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return build_dataclass(tp, value, where)
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, vt = typing.get_args(tp) or (str, Any)
        return {str(k): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-5" (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def build_dataclass(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, checking keys and types."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        name = _field_name(cls, str(key))
        kwargs[name] = _coerce(hints[name], value, f"{where}.{key}".lstrip("."))
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config (YAML/JSON friendly; ``async_`` written as ``async``)."""

    def fix(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k.rstrip("_") if k.endswith("_") else k: fix(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        return obj

    out: dict[str, Any] = fix(dataclasses.asdict(cfg))
    return out


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` (value parsed as YAML) to a nested mapping in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set has an empty key: {assignment!r}")
    value = yaml.safe_load(raw) if raw.strip() else ""
    node = data
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {key}: {p!r} is not a mapping")
        node = nxt
    node[parts[-1]] = value


def load_config(
    data: dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """TrainConfig from a mapping (e.g. parsed YAML) plus ``key=value`` overrides."""
    merged = to_dict(TrainConfig())
    base: dict[str, Any] = {}
    if data:
        if not isinstance(data, dict):
            raise ConfigError("the config file must hold a mapping at the top level")
        base = dict(data)
    for ov in overrides:
        apply_override(base, ov)
    if "rewards" in base:
        merged["rewards"] = base.pop("rewards")
    if "servers" in base:
        merged["servers"] = base.pop("servers")
    _deep_update(merged, base)
    cfg: TrainConfig = build_dataclass(TrainConfig, merged)
    validate(cfg)
    return cfg


def _deep_update(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if (
            isinstance(v, dict)
            and isinstance(dst.get(k), dict)
            and k not in ("servers", "options", "modality_weights")
        ):
            _deep_update(dst[k], v)
        else:
            dst[k] = v


def validate(cfg: TrainConfig) -> None:
    """Cross-field checks with clear messages."""
    if cfg.epochs < 0:
        raise ConfigError("epochs must be ≥ 0")
    if cfg.data.group_size < 2:
        raise ConfigError("data.group_size must be ≥ 2 (advantages need groups)")
    if not cfg.rewards:
        raise ConfigError("at least one reward is needed")
    for r in cfg.rewards:
        if not r.name:
            raise ConfigError("every reward needs a name")
        if r.route not in ("video", "audio", "sync"):
            raise ConfigError(f"reward {r.name}: route must be video, audio or sync, got {r.route!r}")
        if r.server not in cfg.servers:
            raise ConfigError(
                f"reward {r.name}: server {r.server!r} is not in servers ({', '.join(cfg.servers)})"
            )
    uses_cfg = cfg.sampler.video_cfg != 1.0 or cfg.sampler.audio_cfg != 1.0
    adapter_opts = cfg.policy.options.get("adapter", {}) if isinstance(cfg.policy.options, dict) else {}
    if (
        cfg.policy.kind == "ltx2"
        and uses_cfg
        and cfg.sampler.negative_prompt is None
        and "negative_prompt" not in adapter_opts
    ):
        raise ConfigError(
            "sampler.negative_prompt is required for CFG rollouts of a text-conditioned policy (the release uses "
            "LTX-2's default negative prompt; trainer/configs/omninft_ltx2.yaml sets it); write "
            'negative_prompt: "" to sample against an empty prompt on purpose'
        )
    if cfg.advantage.route_fallback not in ("empty", "release"):
        raise ConfigError(
            f"advantage.route_fallback must be empty or release, got {cfg.advantage.route_fallback!r}"
        )
    if cfg.train.micro_batch < 1 or cfg.train.optimizer_steps_per_epoch < 1:
        raise ConfigError("train.micro_batch and train.optimizer_steps_per_epoch must be ≥ 1")
