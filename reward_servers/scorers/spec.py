"""`ScorerSpec`: everything static about a reward, declared next to its code.

A scorer module declares ``SCORERS = (ScorerSpec(...), ...)`` at module level; the registry finds it by
scanning the scorers package, so adding a reward touches its own files and nothing central. From the spec
come the registry entry, the typed options checked when a server config loads, the files `fetch-weights`
brings (through the model families it names), the benchmark routes, the ListScorers description and the
Helm schema of the scorer's ``options``. A spec costs nothing to declare: heavy imports (transformers) stay
inside the build function.

Example::

    @dataclass(frozen=True)
    class Options(ModelOptions):
        num_frames: int = 8  # frames sampled per clip


    SCORERS = (
        ScorerSpec(
            name="my_score",
            build=build,
            version="1.0.0",
            outputs=("my_score",),
            modalities=("video", "prompt"),
            options=Options,
            families=("my_family",),
        ),
    )
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerInfo,
    WeightsInfo,
)

if TYPE_CHECKING:
    from omninft.reward_servers.scorers.base import Scorer

__all__ = [
    "BenchMetric",
    "NO_WEIGHTS",
    "InvalidOptions",
    "ModelOptions",
    "NoOptions",
    "ScorerSpec",
    "finite",
    "options_schema",
    "known_options",
    "model_options",
    "parse_options",
    "scorer_options",
]

OptionsT = TypeVar("OptionsT")
_NONE_WORDS = ("", "none", "null")


class InvalidOptions(ValueError):
    """A scorer's `options` mapping does not match its Options dataclass (the message names the key)."""


@dataclass(frozen=True)
class NoOptions:
    """Options of a scorer that takes none."""


@dataclass(frozen=True)
class ModelOptions:
    """Options every model-backed scorer accepts (backend selection); scorer Options inherit these."""

    # onnxruntime on a GPU: put ORT's TensorRT execution provider first (None = the backend's default).
    ort_tensorrt_ep: bool | None = None


@dataclass(frozen=True)
class BenchMetric:
    """A benchmark metric this scorer produces: a per-sample `output`, or a set-level metric on an `embedding`.

    `omninft-bench` never imports reward servers, so these are written into each suite's generated route
    table (scripts/gen_bench_routes.py) and read from there.
    """

    suite: str  # "javisbench", "vbench", ...
    key: str  # the suite's official metric name
    output: str = ""  # per-sample metric: mean over valid samples of this output
    embedding: str = ""  # set-level metric over this embedding
    reference: str = ""  # set-level: key of the reference feature cache ("video", "audio")
    kind: str = ""  # set-level: "frechet" | "mmd"
    scale: float = 1.0
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if bool(self.output) == bool(self.embedding):
            raise ValueError(f"BenchMetric {self.suite}.{self.key}: give exactly one of output or embedding")
        if self.embedding and self.kind not in ("frechet", "mmd"):
            raise ValueError(f"BenchMetric {self.suite}.{self.key}: kind must be 'frechet' or 'mmd'")


@dataclass(frozen=True)
class ScorerSpec:
    """Static description of one registered scorer (see the module docstring)."""

    name: str
    # build(name, cfg) -> Scorer. Called only when a server builds the scorer.
    build: Callable[[str, ScorerConfig], Scorer]
    version: str
    outputs: tuple[str, ...]
    # Modalities every sample must carry: "video", "audio", "prompt", "audio_prompt".
    modalities: tuple[str, ...]
    embeddings: tuple[str, ...] = ()
    # Named protocols; the first is the default. Results record which one produced them.
    protocols: tuple[str, ...] = ("v1",)
    # Frozen dataclass of the scorer's options (ScorerConfig.options is checked against it at config load).
    options: type = NoOptions
    # Model families (packages under reward_servers/models/) whose official weights the scorer loads.
    families: tuple[str, ...] = ()
    # Names of the families' WeightSpecs it needs; empty = all of them.
    weights: tuple[str, ...] = ()
    bench: tuple[BenchMetric, ...] = ()
    summary: str = ""
    # Per-item tolerance of the conformance tester's batch-vs-one-by-one check (0 = bit-identical).
    batch_rtol: float = 0.0
    # Module that defines export_graphs(name, cfg) for omninft-export; empty = the build function's module.
    export_module: str = ""

    def __post_init__(self) -> None:
        if not self.protocols:
            raise ValueError(f"scorer {self.name!r}: at least one protocol")
        if not (dataclasses.is_dataclass(self.options) and isinstance(self.options, type)):
            raise TypeError(f"scorer {self.name!r}: options must be a dataclass type, got {self.options!r}")
        if not self.outputs and not self.embeddings:
            raise ValueError(f"scorer {self.name!r}: declare outputs or embeddings")

    @property
    def default_protocol(self) -> str:
        """The protocol used when a config names none."""
        return self.protocols[0]

    @property
    def module(self) -> str:
        """Module holding the scorer's code (and its export hook)."""
        return self.export_module or self.build.__module__

    def protocol(self, cfg: ScorerConfig) -> str:
        """cfg.protocol, or the default; ValueError naming the choices for an unknown one."""
        protocol = cfg.protocol or self.default_protocol
        if protocol not in self.protocols:
            raise ValueError(
                f"unknown protocol {protocol!r} for {self.name}; choose one of {', '.join(self.protocols)}"
            )
        return protocol

    def parse_options(self, raw: Mapping[str, Any], where: str = "") -> Any:
        """The typed Options instance for a raw options mapping (InvalidOptions names the bad key)."""
        return parse_options(self.options, raw, where or f"scorers.{self.name}.options")

    def info(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        weights: WeightsInfo,
        backend: str,
        device: str,
        input_spec: InputSpec | None = None,
        family: str = "",
        outputs: tuple[str, ...] | None = None,
    ) -> ScorerInfo:
        """The ScorerInfo of a scorer built from this spec (input_spec defaults to the declared modalities)."""
        return ScorerInfo(
            name=name,
            model_family=family or (self.families[0] if self.families else self.name),
            version=self.version,
            outputs=self.outputs if outputs is None else outputs,
            embeddings=self.embeddings,
            input_spec=input_spec or InputSpec(modalities=self.modalities),
            protocol=self.protocol(cfg),
            weights=weights,
            backend=backend,
            device=device,
            max_batch_size=cfg.max_batch_size,
        )


NO_WEIGHTS = WeightsInfo(weights_id="none", sha256="", tiny=False)


def finite(value: float, what: str) -> float:
    """`value` as a float; InvalidSample when it is NaN or infinite (fails that sample only)."""
    v = float(value)
    if not math.isfinite(v):
        raise InvalidSample(f"{what} is not finite ({v}) for this sample")
    return v


# ---------------------------------------------------------------------------------------------- options


def parse_options(cls: type[OptionsT], raw: Mapping[str, Any], where: str) -> OptionsT:
    """Instantiate Options dataclass `cls` from `raw`, checking names and types.

    "none"/"null"/"" strings mean None for optional fields (CLI and env overrides arrive as strings).
    """
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, Mapping):
        raise InvalidOptions(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = (
                f"; did you mean {close[0]}?"
                if close
                else (
                    f"; known options: {', '.join(sorted(fields))}"
                    if fields
                    else "; this scorer takes no options"
                )
            )
            raise InvalidOptions(f"{where}.{key}: unknown option{hint}")
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # __post_init__ range checks
        raise InvalidOptions(f"{where}: {exc}") from None


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check one option value against its type hint (int accepted for float; numeric strings accepted)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)
        ):
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except InvalidOptions as exc:
                errors.append(str(exc))
        raise InvalidOptions(f"{key}: {value!r} does not match {_type_name(tp)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise InvalidOptions(f"{key}: {value!r} is not one of {', '.join(map(repr, choices))}")
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise InvalidOptions(f"{key}: expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise InvalidOptions(f"{key}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise InvalidOptions(f"{key}: unsupported option type {tp}")
    raise InvalidOptions(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def options_schema(cls: type) -> dict[str, Any]:
    """JSON schema of an Options dataclass (field comments are not available here: types and defaults)."""
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = _json_type(hints[f.name])
        if f.default is not dataclasses.MISSING and _jsonable(f.default):
            schema["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
        props[f.name] = schema
    return {"type": "object", "additionalProperties": False, "properties": props}


def _jsonable(v: Any) -> bool:
    return (
        v is None
        or isinstance(v, bool | int | float | str)
        or (isinstance(v, tuple) and all(isinstance(x, bool | int | float | str) for x in v))
    )


def _json_type(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        # None is also spelled "none"/"null" in strings, so optional fields accept strings too.
        parts = [_json_type(a) for a in typing.get_args(tp)]
        return {"anyOf": parts}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (tuple, list):
        args = typing.get_args(tp)
        return {"type": "array", "items": _json_type(args[0]) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object"}
    if tp is type(None):
        return {"type": "null"}
    return {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
    }.get(tp, {})


def scorer_options(cls: type[OptionsT], name: str, cfg: ScorerConfig) -> OptionsT:
    """cfg.options of scorer `name` as Options dataclass `cls` (InvalidOptions names the key)."""
    return parse_options(cls, cfg.options, f"scorers.{name}.options")


def known_options(cls: type[OptionsT], cfg: ScorerConfig) -> OptionsT:
    """The fields of Options dataclass `cls` found in cfg.options, typed; other keys are left to their scorer.

    For helpers shared by several scorers (the whole mapping is checked against the scorer's own class).
    """
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return parse_options(cls, {k: v for k, v in cfg.options.items() if k in fields}, "options")


def model_options(cfg: ScorerConfig) -> ModelOptions:
    """The ModelOptions fields of cfg.options, typed (shared helpers read these; the rest is the scorer's)."""
    return known_options(ModelOptions, cfg)
