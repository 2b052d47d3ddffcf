"""Typed reward-server configuration, loadable from YAML (camelCase keys) and overridable from the CLI.

YAML keys are the camelCase forms of the dataclass field names (``max_batch_size`` -> ``maxBatchSize``),
converted mechanically, so the Helm chart's values use the same names as this file. Free-form maps
(``plugins``, ``scorers`` names, a scorer's ``options``) keep their keys as written.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omninft.reward_servers.media import MediaLimits
from omninft.reward_servers.scorers.base import ScorerConfig

MiB = 1024 * 1024
# protobuf refuses messages of 2 GiB or more, so a larger gRPC limit could never be used.
MAX_PROTOBUF_BYTES = 2**31 - 1
AUTH_TOKEN_ENV = "OMNINFT_AUTH_TOKEN"


@dataclass
class TLSConfig:
    """Server-side TLS; mutual TLS when `client_ca_file` is set and `require_client_auth` is true."""

    # PEM server certificate chain; TLS is on when this and `key_file` are set.
    cert_file: str = ""
    # PEM private key of `cert_file`.
    key_file: str = ""
    # PEM CA bundle used to verify client certificates (mTLS).
    client_ca_file: str = ""
    # Reject clients that present no certificate signed by `client_ca_file`.
    require_client_auth: bool = False

    @property
    def enabled(self) -> bool:
        """True when a certificate and key are configured."""
        return bool(self.cert_file and self.key_file)


@dataclass
class ServerConfig:
    """Everything a reward server needs: network, limits, security, lifecycle and the scorers it hosts."""

    # Address to bind. 127.0.0.1 by default: exposing 0.0.0.0 should be a deliberate choice (with auth/TLS).
    host: str = "127.0.0.1"
    # gRPC port; 0 binds an ephemeral port (tests, embedded servers; see --port-file).
    port: int = 50051
    # Prometheus HTTP port; 0 = ephemeral, -1 = no metrics endpoint.
    metrics_port: int = 9400
    # Plaintext port serving only grpc.health.v1 (0 = ephemeral, -1 = off). Kubernetes' native gRPC probes
    # cannot speak TLS, so a TLS server exposes its health here; RewardService is never reachable on it.
    health_port: int = -1
    # Largest gRPC message, both directions. 256 MiB holds one raw 5 s clip at 480x854, 24 fps, uint8 RGB:
    # 120 frames x 480 x 854 x 3 B = 147,571,200 B (~141 MiB) plus its audio and framing, with headroom.
    # gRPC's own default is 4 MiB; protobuf caps any message below 2 GiB.
    max_message_bytes: int = 256 * MiB
    # Most samples accepted in one Score/Embed request (bigger requests: INVALID_ARGUMENT).
    max_samples_per_request: int = 64
    # Longest prompt / audio_prompt in characters (longer: per-sample INVALID_ARGUMENT).
    max_prompt_chars: int = 4096
    # Directories under which file:// URIs may point (after resolving symlinks); empty = no URIs.
    allowed_uri_roots: list[str] = field(default_factory=list)
    # Threads that decode media and run scorer preprocess/postprocess (CPU work, off the event loop).
    decode_workers: int = 2
    # Decoded media kept for later requests carrying the same file:// URI or container bytes (a benchmark sends
    # each sample in a Score and an Embed call: decoded once), bounded by decoded bytes; 0 = off.
    decode_cache_bytes: int = 512 * MiB
    # Frames per clip accepted after decoding (T).
    max_video_frames: int = MediaLimits.max_video_frames
    # Decoded pixels per clip, T x H x W (2**28 = 768 MiB of RGB).
    max_video_pixels: int = MediaLimits.max_video_pixels
    # Seconds of audio per clip.
    max_audio_seconds: float = MediaLimits.max_audio_seconds
    # Bearer token required on RewardService calls; empty = no auth (see also auth_token_file and the
    # OMNINFT_AUTH_TOKEN environment variable). Health and reflection never need it.
    auth_token: str = ""
    # File holding the bearer token (e.g. a mounted Kubernetes Secret); used when auth_token is empty.
    auth_token_file: str = ""
    # TLS / mTLS settings.
    tls: TLSConfig = field(default_factory=TLSConfig)
    # Close client connections after this many seconds so clients re-resolve and reach new replicas.
    max_connection_age_s: float = 300.0
    # Time granted to RPCs in flight on a connection closed for age; RPCs still running after it are cancelled,
    # so it must exceed the longest request (a big batch on a slow model). New calls go elsewhere meanwhile.
    max_connection_age_grace_s: float = 600.0
    # On SIGTERM: seconds in-flight requests get to finish after health turns NOT_SERVING.
    drain_grace_s: float = 20.0
    # Run one warm-up sample through every scorer before reporting SERVING.
    warmup: bool = True
    # Extra scorers: name -> "module:build" target, registered in the scorer registry before loading.
    plugins: dict[str, str] = field(default_factory=dict)
    # The scorers this server hosts: name -> how to build it.
    scorers: dict[str, ScorerConfig] = field(default_factory=dict)

    @property
    def media_limits(self) -> MediaLimits:
        """Decode bounds derived from this config."""
        return MediaLimits(
            max_video_frames=self.max_video_frames,
            max_video_pixels=self.max_video_pixels,
            max_audio_seconds=self.max_audio_seconds,
        )

    def resolve_auth_token(self, env: Mapping[str, str] | None = None) -> str:
        """The bearer token: `auth_token`, else the contents of `auth_token_file`, else $OMNINFT_AUTH_TOKEN."""
        if self.auth_token:
            return self.auth_token
        if self.auth_token_file:
            token = Path(self.auth_token_file).read_text().strip()
            if not token:
                raise ValueError(f"authTokenFile {self.auth_token_file} is empty")
            return token
        return (os.environ if env is None else env).get(AUTH_TOKEN_ENV, "").strip()

    def validate(self) -> ServerConfig:
        """Check value ranges and cross-field rules; returns self. Raises ValueError with the YAML key."""
        _check(0 <= self.port <= 65535, "port", "must be in 0..65535")
        _check(-1 <= self.metrics_port <= 65535, "metricsPort", "must be in -1..65535 (-1 = off)")
        _check(-1 <= self.health_port <= 65535, "healthPort", "must be in -1..65535 (-1 = off)")
        _check(
            self.health_port <= 0 or self.health_port not in (self.port, self.metrics_port),
            "healthPort",
            "must differ from port and metricsPort",
        )
        _check(
            0 < self.max_message_bytes <= MAX_PROTOBUF_BYTES,
            "maxMessageBytes",
            f"must be in 1..{MAX_PROTOBUF_BYTES} (protobuf's 2 GiB cap)",
        )
        for name in (
            "max_samples_per_request",
            "max_prompt_chars",
            "decode_workers",
            "max_video_frames",
            "max_video_pixels",
        ):
            _check(getattr(self, name) > 0, _camel(name), "must be positive")
        _check(self.decode_cache_bytes >= 0, "decodeCacheBytes", "must be >= 0 (0 = off)")
        for name in ("max_audio_seconds",):
            _check(getattr(self, name) > 0, _camel(name), "must be positive")
        for name in ("max_connection_age_s", "max_connection_age_grace_s", "drain_grace_s"):
            _check(getattr(self, name) >= 0, _camel(name), "must be >= 0")
        _check(bool(self.tls.cert_file) == bool(self.tls.key_file), "tls", "certFile and keyFile go together")
        _check(
            not self.tls.client_ca_file or self.tls.enabled, "tls.clientCaFile", "needs certFile and keyFile"
        )
        _check(
            not self.tls.require_client_auth or bool(self.tls.client_ca_file),
            "tls.requireClientAuth",
            "needs clientCaFile",
        )
        for name, target in self.plugins.items():
            _check(":" in target, f"plugins.{name}", f"must be 'module:function', got {target!r}")
        for name, sc in self.scorers.items():
            key = f"scorers.{name}"
            _check(sc.max_batch_size > 0, f"{key}.maxBatchSize", "must be positive")
            _check(sc.max_queue_delay_ms >= 0, f"{key}.maxQueueDelayMs", "must be >= 0")
            _check(
                sc.max_queue_size >= self.max_samples_per_request,
                f"{key}.maxQueueSize",
                f"must be >= maxSamplesPerRequest ({self.max_samples_per_request}) so a full request fits",
            )
            if name not in self.plugins:  # a plugin replacing a built-in takes its own options
                _check_options(name, sc)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The config as a YAML-ready mapping with camelCase keys (inverse of from_dict)."""
        out = _to_plain(self)
        assert isinstance(out, dict)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerConfig:
        """Build from a camelCase mapping; unknown keys and wrong types raise ValueError naming the key."""
        cfg = _from_mapping(cls, data, "")
        assert isinstance(cfg, ServerConfig)
        return cfg.validate()

    @classmethod
    def from_yaml(cls, path: str | Path) -> ServerConfig:
        """Load a YAML (or JSON) file."""
        import yaml

        text = Path(path).read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def with_overrides(
        self,
        *,
        scorers: Sequence[str] = (),
        scorer_overrides: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> ServerConfig:
        """A copy with CLI overrides merged in; None values mean "not given" and keep the current value.

        `overrides` are top-level fields by snake_case name (lists replace, not extend). `scorers`, when
        given, selects the hosted scorers: named ones keep their config or get defaults, others are dropped.
        `scorer_overrides` (weights, backend, device, max_batch_size, ...) apply to every hosted scorer.
        """
        cfg = copy.deepcopy(self)
        hints = typing.get_type_hints(ServerConfig)
        known = {f.name for f in dataclasses.fields(ServerConfig)}
        for name, value in overrides.items():
            if value is None:
                continue
            if name not in known or name in ("scorers", "tls"):
                raise ValueError(f"unknown server override {name!r}")
            setattr(cfg, name, _coerce(hints[name], value, _camel(name)))
        if scorers:
            cfg.scorers = {n: cfg.scorers.get(n, ScorerConfig()) for n in dict.fromkeys(scorers)}
        scorer_hints = typing.get_type_hints(ScorerConfig)
        for name, value in (scorer_overrides or {}).items():
            if value is None:
                continue
            if name not in scorer_hints:
                raise ValueError(f"unknown scorer override {name!r}")
            for sc in cfg.scorers.values():
                setattr(sc, name, _coerce(scorer_hints[name], value, _camel(name)))
        return cfg.validate()

    @classmethod
    def from_cli(
        cls,
        config_path: str | Path | None = None,
        *,
        scorers: Sequence[str] = (),
        scorer_overrides: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> ServerConfig:
        """Load `config_path` (or defaults) and merge CLI overrides on top (see with_overrides)."""
        base = cls.from_yaml(config_path) if config_path else cls()
        return base.with_overrides(scorers=scorers, scorer_overrides=scorer_overrides, **overrides)


def _check(ok: bool, key: str, why: str) -> None:
    """Raise ValueError('key: why') unless ok."""
    if not ok:
        raise ValueError(f"{key}: {why}")


def _check_options(name: str, sc: ScorerConfig) -> None:
    """A registered scorer's options against its Options dataclass (plugins without a spec are not checked)."""
    from omninft.reward_servers.scorers import registry

    if name in registry.specs():
        registry.spec(name).parse_options(sc.options)  # InvalidOptions (a ValueError) names the key


def _camel(name: str) -> str:
    """snake_case -> camelCase (max_queue_delay_ms -> maxQueueDelayMs)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _join(prefix: str, key: str) -> str:
    """Dotted key path for error messages."""
    return f"{prefix}.{key}" if prefix else key


def _from_mapping(cls: type, data: Any, prefix: str) -> Any:
    """Instantiate dataclass `cls` from a camelCase mapping with type checks and did-you-mean errors."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    by_key = {_camel(f.name): f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in by_key:
            raise ValueError(_unknown_key_message(key, by_key, prefix))
        kwargs[by_key[key]] = _coerce(hints[by_key[key]], value, _join(prefix, key))
    return cls(**kwargs)


def _unknown_key_message(key: str, by_key: Mapping[str, str], prefix: str) -> str:
    """'unknown key' with the likeliest intended key (snake_case spelling or a close match)."""
    guess = [_camel(key)] if _camel(key) in by_key else difflib.get_close_matches(key, list(by_key), n=3)
    hint = f" Did you mean {', '.join(repr(g) for g in guess)}?" if guess else ""
    scorer_keys = {_camel(f.name) for f in dataclasses.fields(ScorerConfig)}
    if not prefix and _camel(key) in scorer_keys:
        hint = f" {_camel(key)!r} is a per-scorer key: put it under scorers.<name>."
    return f"unknown key {_join(prefix, key)!r}.{hint} Known keys: {', '.join(sorted(by_key))}"


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against type hint `tp` (int accepted for float; bool never accepted as a number)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _from_mapping(tp, value, key)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{key}: expected a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping, got {type(value).__name__}")
        _, val_tp = typing.get_args(tp)
        return {str(k): _coerce(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(option, value, key)
            except ValueError:
                continue
        raise ValueError(f"{key}: {value!r} does not match {tp}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise ValueError(f"{key}: unsupported config type {tp}")
    raise ValueError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")


def _to_plain(obj: Any) -> Any:
    """Dataclasses -> camelCase dicts, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {_camel(f.name): _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    return obj
