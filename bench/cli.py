"""`omninft-bench`: run benchmark suites, write the demo set, load-test a reward server."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from omninft.bench.suites.vbench.cli import fetch_suite, run_options, vbench_group

SUITES = ("javisbench",)


class _Main(click.Group):
    """The command group; an unexpected error is one line unless --debug asks for the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; turn an unexpected exception into one line (traceback with --debug)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except ModuleNotFoundError:  # the console script names the extra to install
            raise
        except Exception as err:
            if debug_enabled():
                raise
            raise click.ClickException(
                f"{type(err).__name__}: {err} (rerun with --debug for the traceback)"
            ) from None


def debug_enabled() -> bool:
    """True when the root command got --debug (re-raise instead of one-line errors)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and (ctx.find_root().obj or {}).get("debug"))


def _version() -> str:
    from omninft_client import __version__

    return __version__


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="omninft-bench")
@click.option("-v", "--verbose-log", is_flag=True, help="Debug logging.")
@click.option("--debug", is_flag=True, help="Show the Python traceback of any error (for bug reports).")
@click.pass_context
def main(ctx: click.Context, verbose_log: bool, debug: bool) -> None:
    """omninft benchmarks: JavisBench over generated samples, and a gRPC load generator."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(
        level=logging.DEBUG if verbose_log else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@main.command("demo-data")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder to write into."
)
@click.option("--n", default=32, show_default=True, help="Number of samples.")
@click.option("--seconds", default=4.0, show_default=True, help="Clip length in seconds.")
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic content.")
def demo_data(out_dir: Path, n: int, seconds: float, seed: int) -> None:
    """Write a synthetic sounding-video set in the official JavisBench layout plus its prompt CSV."""
    from omninft.bench.demo_data import write_demo_set

    csv_path = write_demo_set(out_dir, n=n, seconds=seconds, seed=seed)
    click.echo(f"wrote {n} samples to {out_dir} (prompts: {csv_path})")


def _load_yaml(path: Path | None) -> dict[str, Any]:
    """A YAML mapping from a file (empty when no file)."""
    if path is None:
        return {}
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise click.UsageError(f"{path}: expected a mapping at the top level")
    return data


# Full-size models on a small CPU can take many minutes to load and warm up; a cluster may want to fail faster.
_START_TIMEOUT_OPTION = click.option(
    "--server-start-timeout-s",
    default=600.0,
    show_default=True,
    envvar="OMNINFT_SERVER_START_TIMEOUT_S",
    help="How long the embedded server may take to load and warm up its models before the run gives up.",
)


def _server_options(fn: Any) -> Any:
    """Options shared by `run` and `reference build`: where the scorers run and with what."""
    options = [
        click.option("--server", default="", help="One reward server address for every scorer."),
        click.option(
            "--servers",
            "servers_file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="routes.yaml: scorer -> address or list of addresses (round robin); others go to --server "
            "or the embedded server.",
        ),
        click.option(
            "--weights",
            default=None,
            help="Embedded server weights: official (default; fetch them first) | tiny | random | PATH. "
            "tiny/random give meaningless numbers; --demo always uses tiny.",
        ),
        click.option(
            "--backend",
            default="auto",
            show_default=True,
            type=click.Choice(["auto", "torch", "onnxruntime", "tensorrt"]),
            help="Embedded server backend; auto: each scorer's faster one on this device (torch for tiny "
            "weights; VBench: torch).",
        ),
        click.option(
            "--device", default="cpu", show_default=True, help="Embedded server device (cpu, cuda:0, ...)."
        ),
        click.option("--batch-size", default=8, show_default=True, help="Embedded server max batch size."),
        click.option(
            "--chunk-size", default=16, show_default=True, help="Samples per request round and store write."
        ),
        click.option(
            "--embedded-config",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="YAML merged into the embedded server config (plugins, scorers.<name>.options, ...).",
        ),
        click.option(
            "--send-uris/--send-bytes",
            default=None,
            help="Send file:// URIs or file bytes (default: URIs to the embedded server, bytes to others).",
        ),
        click.option(
            "--token", envvar="OMNINFT_AUTH_TOKEN", default=None, help="Bearer token for remote servers."
        ),
        click.option(
            "--timeout-s", default=1800.0, show_default=True, help="Deadline of one request round (chunk)."
        ),
        click.option(
            "--connect-timeout-s",
            default=10.0,
            show_default=True,
            help="How long to try reaching each remote server before giving up.",
        ),
        _START_TIMEOUT_OPTION,
        click.option("--no-progress", is_flag=True, help="No progress bars (logs and CI)."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _embedded_scorers_available(scorers: list[str], routed: set[str], plugins: set[str]) -> dict[str, bool]:
    """Availability of scorers the embedded server would host (routed and plugin scorers count as present)."""
    from omninft.bench.availability import installed_scorers

    local = [s for s in scorers if s not in routed and s not in plugins]
    found = installed_scorers(local)
    return {s: found.get(s, True) for s in scorers}


# Options only one suite reads; given to the other they would be ignored silently.
_JAVISBENCH_ONLY = (
    "samples",
    "prompts",
    "metrics",
    "limit",
    "reference_cache",
    "verbose",
    "protocol",
    "demo_n",
    "allow_failures",
)
_VBENCH_ONLY = (
    "videos",
    "mode",
    "dimensions",
    "full_info",
    "dimension_to_folder",
    "layout",
    "category",
    "category_file",
    "prompt_file",
    "single_prompt",
    "run_name",
)


def _refuse_other_suite_options(suite: str) -> None:
    """A usage error naming any option given on the command line that `suite` does not read."""
    ctx = click.get_current_context()
    foreign = _VBENCH_ONLY if suite != "vbench" else _JAVISBENCH_ONLY
    given = [
        p
        for p in ctx.command.params
        if p.name in foreign and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        other = "vbench" if suite != "vbench" else "javisbench"
        flags = ", ".join(p.opts[0] for p in given)
        hint = (
            " (vbench reads --videos)" if suite == "vbench" and "samples" in {p.name for p in given} else ""
        )
        raise click.UsageError(f"{flags}: {other} option(s), not read by `run {suite}`{hint}")


@main.command("run")
@click.argument("suite", type=click.Choice(SUITES + ("vbench",)))
@click.option(
    "--samples",
    type=click.Path(path_type=Path, file_okay=False),
    help="javisbench: folder of generated samples (sample_0000.mp4/.wav, ...).",
)
@click.option(
    "--prompts",
    type=click.Path(path_type=Path, dir_okay=False),
    help="javisbench: prompt CSV (row i -> sample_{i:04d}).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("omninft-results"),
    show_default=True,
    help="Folder for results.json, the reports and the resume store.",
)
@click.option(
    "--metrics",
    multiple=True,
    help="javisbench: official metric keys (repeatable or comma list); default: all 15.",
)
@click.option("--limit", type=int, default=None, help="javisbench: only the first N CSV rows.")
@click.option(
    "--reference-cache",
    type=click.Path(path_type=Path, dir_okay=False),
    help="javisbench: GT features for fvd/kvd/fad: official JavisBench*-vanilla-max4s.pt or `reference build` "
    "output.",
)
@click.option("--verbose", is_flag=True, help="javisbench: official per-category result structure.")
@click.option(
    "--fresh",
    is_flag=True,
    help="Forget stored per-sample results (default: resume from <out>/store.sqlite).",
)
@click.option("--demo", is_flag=True, help="Generate the demo set and score it with tiny weights (offline).")
@click.option(
    "--protocol",
    default="javisbench-v1",
    show_default=True,
    type=click.Choice(
        ["javisbench-v1", "javisbench-v1-fd64", "javisbench-v1-rawkvd", "javisbench-v1-corrected"]
    ),
    help="javisbench: set-level arithmetic: javisbench-v1 (as the reference: float32 FD, KVD on mean-centred "
    "features), javisbench-v1-fd64, javisbench-v1-rawkvd, javisbench-v1-corrected.",
)
@click.option("--demo-n", default=8, show_default=True, help="javisbench: demo set size.")
@click.option("--demo-seconds", default=2.0, show_default=True, help="Demo clip length (s).")
@click.option(
    "--allow-failures",
    is_flag=True,
    help="javisbench: exit 0 even when some samples could not be scored (default: exit 1 and say how many).",
)
@_server_options
@run_options
def run(
    suite: str,
    samples: Path | None,
    prompts: Path | None,
    out_dir: Path,
    metrics: tuple[str, ...],
    limit: int | None,
    reference_cache: Path | None,
    verbose: bool,
    fresh: bool,
    demo: bool,
    demo_n: int,
    demo_seconds: float,
    protocol: str,
    allow_failures: bool,
    server: str,
    servers_file: Path | None,
    weights: str | None,
    backend: str,
    device: str,
    batch_size: int,
    chunk_size: int,
    embedded_config: Path | None,
    send_uris: bool | None,
    token: str | None,
    timeout_s: float,
    connect_timeout_s: float,
    server_start_timeout_s: float,
    no_progress: bool,
    **vbench_opts: Any,
) -> None:
    """Run SUITE over --samples/--prompts, or vbench over --videos (or --demo): results.json, reports, per-sample JSONL."""
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"--out {out_dir} is a file; give a folder (created if missing)")
    _refuse_other_suite_options(suite)
    if suite == "vbench":
        from omninft.bench.suites.vbench.cli import run_vbench_command

        if weights is None:
            weights = "tiny"  # the VBench runner keeps its own default
        if backend == "auto":  # no per-scorer backend choice for VBench yet: its scorers run torch only
            backend = "torch"
        run_vbench_command({**locals(), **vbench_opts})
        return
    if weights is None:
        weights = "tiny" if demo else "official"
    from omninft.bench.planning import (
        PlanError,
        drop_unavailable,
        parse_metric_args,
        require_keys,
        resolve_keys,
        split_set_metrics,
    )
    from omninft.bench.report.markdown import fmt
    from omninft.bench.runner import STORE_NAME, BenchRunError, JavisBenchConfig, open_session, run_javisbench
    from omninft.bench.servers import check_route_names, load_routes
    from omninft.bench.store import is_usable, set_aside
    from omninft.bench.suites.javisbench.metrics import resolve_metrics, route_for, scorers_of

    try:
        plan = resolve_keys(parse_metric_args(metrics))
    except PlanError as err:
        raise click.UsageError(str(err)) from None
    extra = _load_yaml(embedded_config)
    try:
        routes = load_routes(servers_file) if servers_file else {}
        known = set(scorers_of(resolve_metrics(None))) | set(extra.get("plugins", {}) or {})
        check_route_names(routes, known, str(servers_file))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    routed = set(routes)
    plugins = set(extra.get("plugins", {}) or {})
    if not server:  # scorers the embedded server would host must exist in this installation
        try:
            plan = drop_unavailable(
                plan, demo=demo, available=lambda names: _embedded_scorers_available(names, routed, plugins)
            )
        except PlanError as err:
            raise click.UsageError(str(err)) from None
    if demo:
        from omninft.bench.demo_data import write_demo_set

        samples = out_dir / "demo-data"
        click.secho(
            "DEMO: synthetic samples scored with TINY RANDOM WEIGHTS (the numbers mean nothing)",
            fg="yellow",
            err=True,
        )
        click.echo(f"writing {demo_n} demo samples to {samples} ...", err=True)
        prompts = write_demo_set(samples, n=demo_n, seconds=demo_seconds)
        weights = "tiny"
    if samples is None or prompts is None:
        raise click.UsageError("give --samples and --prompts, or --demo")
    if not samples.is_dir():
        raise click.UsageError(f"--samples {samples}: no such folder")
    if not prompts.is_file():
        raise click.UsageError(f"--prompts {prompts}: no such file")
    try:
        plan = split_set_metrics(plan, has_reference=reference_cache is not None, demo=demo)
        for k, why in plan.skipped.items():
            click.echo(f"{k:>14}: skipped, {why}", err=True)
        require_keys(plan)
    except PlanError as err:
        raise click.UsageError(str(err)) from None
    keys, skipped, set_keys = plan.keys, plan.skipped, plan.set_keys
    store_file = out_dir / STORE_NAME
    if not is_usable(store_file):
        if not fresh:
            raise click.ClickException(
                f"{store_file} is not a usable result store (not SQLite, damaged, or another "
                "layout); rerun with --fresh to start over (the damaged file is kept aside)"
            )
        click.echo(f"{store_file} was damaged; kept as {set_aside(store_file)}", err=True)
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            (out_dir / f"{STORE_NAME}{suffix}").unlink(missing_ok=True)
    cfg = JavisBenchConfig(
        samples=samples,
        prompts=prompts,
        out=out_dir,
        metrics=keys,
        limit=limit,
        server=server,
        servers_file=servers_file,
        weights=weights,
        backend=backend,
        device=device,
        batch_size=batch_size,
        chunk_size=chunk_size,
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        server_start_timeout_s=server_start_timeout_s,
        token=token,
        verbose=verbose,
        progress=not no_progress,
        reference_cache=reference_cache,
        embedded_config=extra,
        send_uris=send_uris,
        skipped=skipped,
        allowed_roots=(out_dir,) if demo else (),
        protocol=protocol,
    )
    try:
        with ExitStack() as stack:
            session = None
            if demo:  # one embedded server for the demo reference and the run
                scorers = scorers_of([route_for(k) for k in keys])
                session = stack.enter_context(open_session(cfg, scorers))
            if plan.demo_reference:
                cfg.reference_cache = _demo_reference(cfg, demo_n, demo_seconds, set_keys, session)
            result = run_javisbench(cfg, session=session)
    except ValueError as err:
        if debug_enabled():
            raise
        raise click.UsageError(str(err)) from None
    except (BenchRunError, FileNotFoundError) as err:
        if debug_enabled():
            raise
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: every scored sample is saved in {out_dir / STORE_NAME}; rerun the same command "
            "to resume",
            err=True,
        )
        sys.exit(130)
    if result.tiny_weights:
        click.secho("TINY RANDOM WEIGHTS: numbers below mean nothing about quality", fg="yellow", err=True)
    for key, value in result.results.items():
        c = result.counts[key]
        click.echo(f"{key:>14} = {fmt(value)}   ({c['scored']}/{c['total']} scored)")
    store = result.provenance["store"]
    click.echo(
        f"results: {out_dir / 'results.json'}  report: {out_dir / 'report.html'}  "
        f"(computed {store['outcomes_computed']}, reused {store['outcomes_reused']} stored outcomes)"
    )
    failed = {k: c["failed"] for k, c in result.counts.items() if c["failed"]}
    if failed:
        n_samples = len({e.index for e in result.errors})
        line = (
            f"{n_samples} sample(s) failed for {len(failed)} metric(s) "
            f"({', '.join(f'{k} {v}' for k, v in failed.items())}); reasons per sample: "
            f"{out_dir / 'report.md'} (Sample errors) and 'errors' in {out_dir / 'results.json'}"
        )
        if not allow_failures:
            raise click.ClickException(line + "; pass --allow-failures to exit 0 anyway")
        click.echo(line, err=True)


def _demo_reference(cfg: Any, n: int, seconds: float, set_keys: list[str], session: Any) -> Path:
    """A stand-in GT cache for the demo: a second synthetic set (another seed) through the same Embed path."""
    from dataclasses import replace

    from omninft.bench.demo_data import write_demo_set
    from omninft.bench.reference_build import build_reference
    from omninft.bench.suites.javisbench.prompts import load_prompts, locate_samples

    folder = cfg.out / "demo-reference"
    csv_path = write_demo_set(folder, n=n, seconds=seconds, seed=1)
    out_file = cfg.out / "demo-reference.pt"
    modalities = tuple(dict.fromkeys("audio" if k == "fad" else "video" for k in set_keys))
    click.echo(f"building the demo reference features ({', '.join(modalities)}) from {folder} ...", err=True)
    ref_cfg = replace(
        cfg,
        samples=folder,
        prompts=csv_path,
        store_path=cfg.out / "demo-reference.store.sqlite",
        progress_label="reference features",
    )
    build_reference(ref_cfg, locate_samples(folder, load_prompts(csv_path)), out_file, modalities, session)
    return out_file


@main.group("reference")
def reference() -> None:
    """Ground-truth feature caches for FVD/KVD/FAD."""


@reference.command("build")
@click.option(
    "--samples",
    type=click.Path(path_type=Path, file_okay=False),
    help="GT media in the official layout (sample_{i:04d}.mp4 / .wav).",
)
@click.option(
    "--videos",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder the CSV's 'path' / 'audio_path' columns are relative to.",
)
@click.option("--prompts", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Cache to write (.pt: official torch format; .npz also accepted).",
)
@click.option("--limit", type=int, default=None)
@click.option(
    "--modalities", default="video,audio", show_default=True, help="video (I3D) and/or audio (AudioCLIP)."
)
@_server_options
def reference_build(
    samples: Path | None,
    videos: Path | None,
    prompts: Path,
    out_file: Path,
    limit: int | None,
    modalities: str,
    server: str,
    servers_file: Path | None,
    weights: str | None,
    backend: str,
    device: str,
    batch_size: int,
    chunk_size: int,
    embedded_config: Path | None,
    send_uris: bool | None,
    token: str | None,
    timeout_s: float,
    connect_timeout_s: float,
    server_start_timeout_s: float,
    no_progress: bool,
) -> None:
    """Compute {'video': [N,400], 'audio': [N,1024]} in CSV row order from ground-truth media."""
    from omninft.bench.reference_build import build_reference
    from omninft.bench.runner import BenchRunError, JavisBenchConfig
    from omninft.bench.suites.javisbench.prompts import load_prompts, locate_ground_truth, locate_samples

    if (samples is None) == (videos is None):
        raise click.UsageError(
            "give exactly one of --samples DIR (official layout) or --videos DIR (CSV 'path')"
        )
    rows = load_prompts(prompts, limit=limit)
    try:
        located = locate_samples(samples, rows) if samples else locate_ground_truth(prompts, rows, videos)  # type: ignore[arg-type]
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    root = samples or videos
    assert root is not None
    cfg = JavisBenchConfig(
        samples=root,
        prompts=prompts,
        out=out_file.parent,
        server=server,
        servers_file=servers_file,
        weights=weights or "official",
        backend=backend,
        device=device,
        batch_size=batch_size,
        chunk_size=chunk_size,
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        server_start_timeout_s=server_start_timeout_s,
        token=token,
        progress=not no_progress,
        embedded_config=_load_yaml(embedded_config),
        send_uris=send_uris,
        progress_label="reference features",
    )
    mods = tuple(m.strip() for m in modalities.split(",") if m.strip())
    try:
        feats = build_reference(cfg, located, out_file, mods)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    except BenchRunError as err:
        raise click.ClickException(str(err)) from None
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feats.items())
    click.echo(f"wrote {out_file} ({shapes})")


@main.command("serve-local")
@click.argument("suite", type=click.Choice(SUITES))
@click.option("--metrics", multiple=True, help="Only the scorers of these metric keys (default: every key).")
@click.option(
    "--weights",
    default="official",
    show_default=True,
    help="official (fetch them first) | tiny | random | PATH, as for `run`.",
)
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "torch", "onnxruntime", "tensorrt"]),
    help="As for `run`: auto = each scorer's faster backend on this device.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda:0, ...")
@click.option("--batch-size", default=8, show_default=True, help="Max batch size of each scorer.")
@click.option(
    "--embedded-config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="YAML merged into the server config, as for `run`.",
)
@click.option(
    "--allow-root",
    "allow_roots",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Folder the server may read through file:// URIs (repeatable); then `run --send-uris` sends paths, "
    "not bytes.",
)
@click.option(
    "--address-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write host:port here once the server is ready (for scripts).",
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Server log (default: a temporary file, printed at start).",
)
@_START_TIMEOUT_OPTION
def serve_local(
    suite: str,
    metrics: tuple[str, ...],
    weights: str,
    backend: str,
    device: str,
    batch_size: int,
    embedded_config: Path | None,
    allow_roots: tuple[Path, ...],
    address_file: Path | None,
    log_file: Path | None,
    server_start_timeout_s: float,
) -> None:
    """Start the suite's local reward server once and keep it warm for many `run --server ADDRESS` calls.

    The server is the one `run` would embed (same scorers, weights, backends and config) on 127.0.0.1; it
    stops on Ctrl-C or SIGTERM, and with this command if that is killed.
    """
    import signal
    import time

    from omninft.bench.embedded import EmbeddedServer
    from omninft.bench.runner import embedded_spec
    from omninft.bench.suites.javisbench.metrics import resolve_metrics, scorers_of

    try:
        scorers = scorers_of(resolve_metrics(list(metrics) or None))
    except KeyError as err:
        raise click.UsageError(str(err).strip("'\"")) from None
    spec = embedded_spec(
        scorers,
        weights=weights,
        backend=backend,
        device=device,
        batch_size=batch_size,
        allowed_roots=allow_roots,
        embedded_config=_load_yaml(embedded_config),
        startup_timeout_s=server_start_timeout_s,
    )
    server = EmbeddedServer(spec, log_path=log_file)
    click.echo(f"starting {suite} reward server ({', '.join(scorers)}; log {server.log_path}) ...", err=True)
    t0 = time.monotonic()
    try:
        address = server.start()
    except (RuntimeError, TimeoutError) as err:
        raise click.ClickException(str(err)) from None

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    with server:  # stops the child and removes its temporary files on the way out
        try:
            if address_file is not None:
                address_file.write_text(address + "\n")
            uris = " --send-uris" if allow_roots else ""
            click.echo(f"ready in {time.monotonic() - t0:.1f} s at {address}", err=True)
            click.echo(
                f"run against it: omninft-bench run {suite} --server {address}{uris} "
                "--samples DIR --prompts CSV --out OUT",
                err=True,
            )
            click.echo("Ctrl-C stops it.", err=True)
            click.echo(address)
            while server.returncode is None:
                time.sleep(0.5)
            raise click.ClickException(
                f"the reward server exited with code {server.returncode}:\n{server.log_tail(2000)}"
            )
        except KeyboardInterrupt:
            click.echo("stopping the reward server ...", err=True)
        finally:
            if address_file is not None:
                address_file.unlink(missing_ok=True)


@main.command("fetch-weights")
@click.argument("suite", type=click.Choice(SUITES))
@click.option("--cache-dir", default=None, help="Weights cache directory (passed to omninft-serve).")
@click.option("--metrics", multiple=True, help="Only the scorers of these metric keys.")
def fetch_weights(suite: str, cache_dir: str | None, metrics: tuple[str, ...]) -> None:
    """Download and verify the official weights of every scorer SUITE needs (`omninft-serve fetch-weights`)."""
    import subprocess

    from omninft.bench.planning import parse_metric_args
    from omninft.bench.suites.javisbench.metrics import resolve_metrics, scorers_of

    keys = parse_metric_args(metrics)
    try:
        names = scorers_of(resolve_metrics(keys or None))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", "omninft.reward_servers.cli", "fetch-weights", "--scorer", name]
        if cache_dir:
            cmd += ["--cache-dir", cache_dir]
        click.echo(f"fetching {name} ...", err=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            click.echo(f"{name}: {proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else 'ok'}")
        else:
            reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            click.echo(f"{name}: FAILED: {reason}", err=True)
            failed.append(name)
    if failed:
        done = [n for n in names if n not in failed]
        raise click.ClickException(
            f"could not fetch the weights of {', '.join(failed)} (offline? behind a proxy? "
            f"see the lines above); cached: {', '.join(done) or 'none'}"
        )


main.add_command(fetch_suite)
main.add_command(vbench_group)


@main.command("perf")
@click.option(
    "--server",
    "--target",
    "target",
    required=True,
    help="Server address (host:port, dns:///host:port, or comma list); --target is the old name.",
)
@click.option("--scorer", "scorers", multiple=True, help="Scorer(s) to call (repeatable); default: all.")
@click.option("--concurrency", default="1,4,16", show_default=True, help='Levels: "1,4,16" or "1:32:x2".')
@click.option("--duration-s", default=10.0, show_default=True, help="Measured seconds per level.")
@click.option("--count", default=0, help="Fixed request count per level instead of a duration.")
@click.option("--warmup-s", default=1.0, show_default=True, help="Unmeasured seconds before each level.")
@click.option("--samples-per-request", default=1, show_default=True, help="Samples in one request.")
@click.option(
    "--payload",
    type=click.Choice(["raw", "container", "uri"]),
    default="raw",
    show_default=True,
    help="How media travel: decoded arrays, encoded file bytes, or file:// URIs.",
)
@click.option("--uri-dir", default="", help="With --payload uri: a folder the server allows.")
@click.option(
    "--modalities", default="video,audio", show_default=True, help='Media to send; "" = prompts only.'
)
@click.option(
    "--rpc",
    type=click.Choice(["score", "embed"]),
    default="score",
    show_default=True,
    help="Which RPC to call.",
)
@click.option("--unique-prompts", is_flag=True, help="Make every prompt unique (defeats server text caches).")
@click.option("--seconds", default=4.0, show_default=True, help="Length of the generated clips.")
@click.option("--size", default="240x426", show_default=True, help="HxW of generated video.")
@click.option("--fps", default=24.0, show_default=True, help="Frame rate of the generated video.")
@click.option("--sample-rate", default=16000, show_default=True, help="Sample rate of the generated audio.")
@click.option("--timeout-s", default=60.0, show_default=True, help="Deadline of one request.")
@click.option(
    "--connect-timeout-s", default=5.0, show_default=True, help="How long to try reaching the server."
)
@click.option("--token", envvar="OMNINFT_AUTH_TOKEN", default=None, help="Bearer token.")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write results as JSON."
)
def perf(
    target: str,
    scorers: tuple[str, ...],
    concurrency: str,
    duration_s: float,
    count: int,
    warmup_s: float,
    samples_per_request: int,
    payload: str,
    uri_dir: str,
    modalities: str,
    rpc: str,
    unique_prompts: bool,
    seconds: float,
    size: str,
    fps: float,
    sample_rate: int,
    timeout_s: float,
    connect_timeout_s: float,
    token: str | None,
    json_out: Path | None,
) -> None:
    """Sweep concurrency against a running server: throughput, p50/p90/p99 latency, errors per status code."""
    from omninft.bench.perf.loadgen import LoadConfig, levels_to_json, parse_concurrency, run_load
    from omninft.bench.perf.stats import format_table
    from omninft.bench.servers import unreachable_reason

    try:
        height, width = (int(x) for x in size.lower().split("x"))
        levels_spec = parse_concurrency(concurrency)
    except ValueError as err:
        raise click.UsageError(f"--size {size!r} / --concurrency {concurrency!r}: {err}") from None
    targets = target.split(",")
    for t in targets:
        why = unreachable_reason(t, connect_timeout_s)
        if why is not None:
            raise click.ClickException(f"reward server {t}: {why}")
    cfg = LoadConfig(
        target=targets[0] if len(targets) == 1 else targets,  # type: ignore[arg-type]
        scorers=scorers,  # type: ignore[arg-type]
        concurrency=levels_spec,
        duration_s=duration_s,
        count=count,
        warmup_s=warmup_s,
        samples_per_request=samples_per_request,
        payload=payload,
        modalities=tuple(m for m in modalities.split(",") if m),
        seconds=seconds,
        height=height,
        width=width,
        fps=fps,
        sample_rate=sample_rate,
        timeout_s=timeout_s,
        token=token,
        uri_dir=uri_dir,
        rpc=rpc,
        unique_prompts=unique_prompts,
    )
    levels = run_load(
        cfg,
        progress=lambda lv: click.echo(
            f"concurrency {lv.concurrency}: {lv.throughput_sps:.2f} samples/s, p99 {lv.latency_ms['p99']:.1f} ms",
            err=True,
        ),
    )
    click.echo(format_table(levels))
    if json_out:
        json_out.write_text(json.dumps(levels_to_json(cfg, levels), indent=2) + "\n")
    if all(lv.requests == 0 for lv in levels):
        sys.exit(1)
