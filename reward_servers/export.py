"""`omninft-export`: export a scorer's neural cores to ONNX (or TensorRT plans), check them, write a manifest.

Scorer modules opt in with a module-level function next to their registry `build` (first match wins):

    export_graphs(name: str, cfg: ScorerConfig) -> tuple[Mapping[str, GraphSpec], WeightsInfo]
    graphs_for(name: str, cfg: ScorerConfig) -> Mapping[str, GraphSpec]

With `graphs_for`, the weights identity comes from --weights alone (tiny flag; sha256 of a local file); every
graph's parameter hash is recorded either way. The output folder works as a server's `onnx_dir` (with an
empty cache key): each file carries fingerprints of its graph and weights, so a server notices when it no
longer matches its checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import (
    DEFAULT_OPSET,
    META_EXPORTER,
    META_STATE,
    CheckReport,
    ExportError,
    check_graph,
    compare_with_torch,
    ensure_onnx,
    export_graph,
    fingerprint_metadata,
    onnx_files,
    onnx_metadata,
)
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig, WeightsInfo

CHECK_BATCH_SIZES = (1, 3)
FORMATS = ("onnx", "tensorrt")


class ExportFailed(RuntimeError):
    """The scorer cannot be exported as asked (no exportable cores, no GPU, no TensorRT, ...)."""


@dataclass
class GraphResult:
    """What was written for one graph, and how well it matched torch."""

    graph: str
    files: list[Path]
    exporter: str
    state_sha256: str
    plan: Path | None = None
    check: CheckReport | None = None

    @property
    def size_bytes(self) -> int:
        """Total size of the written files."""
        return sum(p.stat().st_size for p in self.files + ([self.plan] if self.plan else []))


@dataclass
class ExportResult:
    """The outcome of one export run; `manifest` is what manifest.json holds."""

    out: Path
    weights: WeightsInfo
    graphs: list[GraphResult] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def ok(self, rtol: float) -> bool:
        """Whether every checked graph agrees with torch within `rtol`."""
        return all(g.check is None or g.check.ok(rtol) for g in self.graphs)


def scorer_graphs(scorer: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """The exportable graphs of `scorer` built with `cfg`, and the identity of the weights they hold."""
    # The spec names the scorer's module even when `build` itself is defined elsewhere.
    try:
        module_name = registry.spec(scorer).module
    except registry.UnknownScorerError:
        raise
    except KeyError:  # a plugin registered as a bare "module:function" target
        module_name = registry.target(scorer).split(":")[0]
    module = importlib.import_module(module_name)
    both = getattr(module, "export_graphs", None)
    only_graphs = getattr(module, "graphs_for", None)
    if callable(both):
        graphs, info = both(scorer, cfg)
    elif callable(only_graphs):
        graphs, info = only_graphs(scorer, cfg), weights_info_from_config(cfg)
    else:
        raise ExportFailed(
            f"scorer {scorer!r} has no exportable neural core: {module.__name__} defines neither "
            "`export_graphs(name, cfg)` nor `graphs_for(name, cfg)`"
        )
    graphs = dict(graphs)
    if not graphs:
        raise ExportFailed(f"scorer {scorer!r} returned no graphs to export")
    bad = [g for g, s in graphs.items() if not isinstance(s, GraphSpec)]
    if bad or not isinstance(info, WeightsInfo):
        raise ExportFailed(
            f"scorer {scorer!r}: graphs {bad or list(graphs)} / weights info have the wrong types"
        )
    return graphs, info


def _file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_info_from_config(cfg: ScorerConfig) -> WeightsInfo:
    """What the --weights value says by itself: the tiny flag, and the sha256 of a local checkpoint file."""
    source = cfg.weights
    sha = _file_sha256(Path(source)) if source not in ("tiny", "official") and Path(source).is_file() else ""
    return WeightsInfo(weights_id=source, sha256=sha, tiny=source == "tiny")


def _package_version() -> str:
    """Installed omninft version (provenance)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("omninft")
    except PackageNotFoundError:
        return "unknown"


def _io_description(spec: GraphSpec) -> dict[str, Any]:
    """Inputs with dtype and symbolic shape, outputs by name (for the manifest)."""
    inputs = {}
    for name in spec.input_names:
        ex = np.asarray(spec.example_inputs[name])
        axes = {0: "batch", **spec.dynamic_axes.get(name, {})}
        inputs[name] = {
            "dtype": str(ex.dtype),
            "shape": [axes.get(i, int(n)) for i, n in enumerate(ex.shape)],
        }
    return {"inputs": inputs, "outputs": list(spec.output_names)}


def _export_one_onnx(
    graph: str, spec: GraphSpec, out: Path, *, opset: int, dynamo: bool | None, check: bool
) -> GraphResult:
    """Export and (optionally) check one graph as `<out>/<graph>.onnx`."""
    meta = fingerprint_metadata(spec, opset=opset, with_state=True)
    path = export_graph(spec, out / f"{graph}.onnx", opset=opset, dynamo=dynamo, metadata=meta)
    stored = onnx_metadata(path)
    report = check_graph(spec, path, batch_sizes=CHECK_BATCH_SIZES) if check else None
    return GraphResult(graph, onnx_files(path), stored[META_EXPORTER], stored[META_STATE], check=report)


def _export_one_tensorrt(
    graph: str,
    spec: GraphSpec,
    out: Path,
    *,
    opset: int,
    dynamo: bool | None,
    check: bool,
    fp16: bool,
    max_batch_size: int,
    device: str,
) -> GraphResult:
    """Export one graph to ONNX, build its TensorRT plan next to it and (optionally) check the engine."""
    from omninft.reward_servers.backends.tensorrt_backend import (
        TensorRTBackend,
        ensure_engine,
        import_tensorrt,
    )

    trt = import_tensorrt()
    onnx_path, _ = ensure_onnx(spec, out / f"{graph}.onnx", opset=opset, dynamo=dynamo, verify_state=True)
    plan = ensure_engine(
        graph,
        spec,
        onnx_path,
        device=device,
        trt_version=trt.__version__,
        max_batch_size=max_batch_size,
        fp16=fp16,
        opset=opset,
        dynamo=dynamo,
        verify_state=True,
    )
    stored = onnx_metadata(onnx_path)
    report = None
    if check:
        backend = TensorRTBackend({graph: plan}, device=device)
        sizes = tuple(b for b in CHECK_BATCH_SIZES if b <= max_batch_size) or (1,)
        report = compare_with_torch(spec, lambda x: backend.run(graph, x), path=plan, batch_sizes=sizes)
    files = onnx_files(onnx_path)
    half = out / f"{graph}.fp16.onnx"
    if half.exists():
        files += onnx_files(half)
    return GraphResult(graph, files, stored[META_EXPORTER], stored[META_STATE], plan=plan, check=report)


def export_scorer(
    scorer: str,
    *,
    weights: str = "tiny",
    out: Path,
    fmt: str = "onnx",
    opset: int = DEFAULT_OPSET,
    dynamo: bool | None = None,
    fp16: bool = False,
    max_batch_size: int = 16,
    check: bool = True,
    device: str = "",
    progress: Callable[[str], None] = lambda _: None,
) -> ExportResult:
    """Export every graph of `scorer` into `out`, check each against torch, and write `out/manifest.json`."""
    if fmt not in FORMATS:
        raise ExportFailed(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    device = device or ("cuda:0" if fmt == "tensorrt" else "cpu")
    if fmt == "tensorrt":
        from omninft.reward_servers.backends.tensorrt_backend import cuda_index, import_tensorrt

        try:
            import_tensorrt()
            cuda_index(device)
        except (ValueError, RuntimeError) as exc:
            raise ExportFailed(f"--format tensorrt: {exc}") from exc
    cfg = ScorerConfig(weights=weights, backend="torch", device="cpu", max_batch_size=max_batch_size)
    graphs, info = scorer_graphs(scorer, cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out=out, weights=info)
    for graph, spec in graphs.items():
        progress(f"exporting {scorer}/{graph} ...")
        t0 = time.perf_counter()
        if fmt == "onnx":
            row = _export_one_onnx(graph, spec, out, opset=opset, dynamo=dynamo, check=check)
        else:
            row = _export_one_tensorrt(
                graph,
                spec,
                out,
                opset=opset,
                dynamo=dynamo,
                check=check,
                fp16=fp16,
                max_batch_size=max_batch_size,
                device=device,
            )
        progress(f"  done in {time.perf_counter() - t0:.1f} s")
        result.graphs.append(row)
    result.manifest = _manifest(
        scorer, result, graphs, fmt=fmt, opset=opset, dynamo=dynamo, fp16=fp16, max_batch_size=max_batch_size
    )
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(result.manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out / "manifest.json")
    return result


def _manifest(
    scorer: str,
    result: ExportResult,
    graphs: Mapping[str, GraphSpec],
    *,
    fmt: str,
    opset: int,
    dynamo: bool | None,
    fp16: bool,
    max_batch_size: int,
) -> dict[str, Any]:
    """Provenance of an export run: what was exported, from which weights, with which tools, how accurate."""
    import onnx
    import onnxruntime
    import torch

    tools = {
        "omninft": _package_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    if fmt == "tensorrt":
        from omninft.reward_servers.backends.tensorrt_backend import import_tensorrt

        tools["tensorrt"] = import_tensorrt().__version__
    entries = {}
    for row in result.graphs:
        entry: dict[str, Any] = {
            "files": [p.name for p in row.files],
            "size_bytes": row.size_bytes,
            "exporter": row.exporter,
            "state_sha256": row.state_sha256,
            **_io_description(graphs[row.graph]),
            "check": row.check.as_dict() if row.check else None,
        }
        if row.plan:
            entry["plan"] = row.plan.name
        entries[row.graph] = entry
    return {
        "scorer": scorer,
        "format": fmt,
        "weights": {
            "id": result.weights.weights_id,
            "sha256": result.weights.sha256,
            "tiny": result.weights.tiny,
        },
        "tiny": result.weights.tiny,
        "opset": opset,
        "exporter_requested": {None: "auto", True: "dynamo", False: "torchscript"}[dynamo],
        "fp16": fp16,
        "max_batch_size": max_batch_size,
        "check_batch_sizes": list(CHECK_BATCH_SIZES),
        "graphs": entries,
        "versions": tools,
        "package_version": tools["omninft"],
        "created_unix": int(time.time()),
    }


def format_table(result: ExportResult) -> str:
    """A fixed-width table: graph, path, size, batch sizes checked, errors, exporter."""
    header = ("graph", "path", "size MB", "batches", "max abs err", "max rel err", "exporter")
    rows = [header]
    for g in result.graphs:
        path = g.plan or g.files[0]
        batches = ",".join(map(str, g.check.batch_sizes)) if g.check else "-"
        abs_err = f"{g.check.max_abs:.2e}" if g.check else "-"
        rel_err = f"{g.check.max_rel:.2e}" if g.check else "-"
        rows.append((g.graph, str(path), f"{g.size_bytes / 1e6:.2f}", batches, abs_err, rel_err, g.exporter))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


TINY_BANNER = (
    "!!! TINY RANDOM WEIGHTS: scorer {scorer!r} was exported with randomly initialised tiny weights.\n"
    "!!! These graphs are for tests and demos only; their scores mean nothing. Use --weights official|PATH."
)


def _export_triton(
    scorers: Sequence[str],
    weights: str,
    out: Path,
    config_path: Path | None,
    max_batch_size: int,
    device: str,
    provenance: bool = True,
) -> None:
    """`--format triton`: one Python-backend model per scorer (see serving/triton_repo.py)."""
    from omninft.reward_servers.serving.config import ServerConfig
    from omninft.reward_servers.serving.triton_repo import export_repository

    cfg = ServerConfig.from_yaml(config_path) if config_path else ServerConfig()
    for name in scorers:
        if name not in cfg.scorers:
            if name not in registry.available() and name not in cfg.plugins:
                raise click.BadParameter(registry.unknown_scorer_message(name), param_hint="--scorer")
            cfg.scorers[name] = ScorerConfig(
                weights=weights, max_batch_size=max_batch_size, device=device or "cpu"
            )
    try:
        models = export_repository(out, cfg, scorers, provenance=provenance)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for model in models:
        sc = cfg.scorers[model.name]
        click.echo(
            f"{model.name}: inputs {', '.join(model.schema.inputs)}; outputs {', '.join(model.schema.all_outputs)}; "
            f"max_batch_size {model.schema.max_batch_size}; weights {sc.weights} -> {model.config_path}"
        )
        if sc.weights in ("tiny", "random"):
            click.secho(
                f"!!! {model.name}: weights={sc.weights} are randomly initialised; its scores mean nothing.",
                fg="yellow",
                bold=True,
                err=True,
            )


@click.command(name="omninft-export", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omninft", prog_name="omninft-export")
@click.option(
    "--scorer",
    "scorers",
    multiple=True,
    help="Registered scorer name (e.g. clap, clip); --format triton takes several (default: --config's).",
)
@click.option(
    "--weights", default="tiny", show_default=True, help="tiny | random | official | PATH to a checkpoint."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "triton")),
    default="onnx",
    show_default=True,
    help="onnx | tensorrt: the scorer's neural cores; triton: a Triton model repository of whole scorers.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder [default: exported/<scorer>, or triton-repo for --format triton].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="--format triton: server YAML whose scorer configs, plugins and limits the models use.",
)
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True)
@click.option(
    "--dynamo/--no-dynamo",
    default=None,
    help="Force the dynamo or the TorchScript exporter [default: dynamo, falling back to TorchScript].",
)
@click.option("--fp16", is_flag=True, help="TensorRT: build fp16 engines.")
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="TensorRT: largest batch of the optimisation profile.",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Compare every exported graph with torch eager on random inputs.",
)
@click.option(
    "--rtol",
    type=float,
    default=1e-3,
    show_default=True,
    help="Fail when an output's max error exceeds this fraction of its largest magnitude.",
)
@click.option("--device", default="", help="TensorRT build device [default: cuda:0].")
@click.option(
    "--provenance/--no-provenance",
    default=True,
    show_default=True,
    help="--format triton: build each scorer once (on the CPU) to record its version and weights sha256 in "
    "config.pbtxt; --no-provenance exports without the weights (clients then cannot key results by them).",
)
def main(
    scorers: tuple[str, ...],
    weights: str,
    fmt: str,
    out: Path | None,
    config_path: Path | None,
    opset: int,
    dynamo: bool | None,
    fp16: bool,
    max_batch_size: int,
    check: bool,
    rtol: float,
    device: str,
    provenance: bool,
) -> None:
    """Export a scorer's neural cores to ONNX or TensorRT and check them against PyTorch, or a Triton repository."""
    if fmt == "triton":
        _export_triton(
            scorers, weights, out or Path("triton-repo"), config_path, max_batch_size, device, provenance
        )
        return
    if len(scorers) != 1:
        raise click.BadParameter("--format onnx|tensorrt exports exactly one scorer", param_hint="--scorer")
    (scorer,) = scorers
    if scorer not in registry.available():
        raise click.BadParameter(registry.unknown_scorer_message(scorer), param_hint="--scorer")
    out = out or Path("exported") / scorer
    try:
        result = export_scorer(
            scorer,
            weights=weights,
            out=out,
            fmt=fmt,
            opset=opset,
            dynamo=dynamo,
            fp16=fp16,
            max_batch_size=max_batch_size,
            check=check,
            device=device,
            progress=lambda msg: click.echo(msg, err=True),
        )
    except (ExportFailed, ExportError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
    if result.weights.tiny:
        click.secho(TINY_BANNER.format(scorer=scorer), fg="yellow", bold=True, err=True)
    click.echo(format_table(result))
    click.echo(f"manifest: {out / 'manifest.json'}")
    if not result.ok(rtol):
        failed: Sequence[str] = [g.graph for g in result.graphs if g.check and not g.check.ok(rtol)]
        raise click.ClickException(f"numerical check failed (rtol {rtol:g}) for graphs: {', '.join(failed)}")
