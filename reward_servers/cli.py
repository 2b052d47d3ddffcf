"""`omninft-serve` and `omninft-export`: thin CLIs (parse -> typed config -> library call).

Logging is configured here and nowhere else.
"""

from __future__ import annotations

import difflib
import gc
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from omninft.reward_servers.backends import BACKENDS

log = logging.getLogger(__name__)

_BANNER_WIDTH = 80


def _configure_logging(level: str) -> None:
    """Plain timestamped logs on stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


WEIGHT_KEYWORDS = ("tiny", "random", "official")


def unknown_scorer_problem(name: str, known: list[str]) -> str:
    """'unknown scorer' with a did-you-mean that also catches a case slip (CLAP -> clap)."""
    lowered = {k.lower(): k for k in known}
    close = (
        [lowered[name.lower()]]
        if name.lower() in lowered
        else difflib.get_close_matches(name.lower(), known, n=3)
    )
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return f"unknown scorer {name!r}.{hint} Available: {', '.join(known)}"


def weights_problem(value: str) -> str | None:
    """Why a --weights value can never resolve (a typo of a keyword, a missing path), or None."""
    from omninft.reward_servers import weights

    if value in WEIGHT_KEYWORDS or weights.source_kind(value) != "missing":
        return None
    close = difflib.get_close_matches(value, WEIGHT_KEYWORDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"--weights {value!r} is not tiny | random | official, an existing checkpoint path, a Hugging Face id "
        f"(org/name) or a URL.{hint}"
    )


def preflight(cfg: Any) -> None:
    """Check scorer names, weights values and offline official weights before any port is bound.

    Raises click.UsageError for a mistake in the command, click.ClickException for missing weights.
    """
    from omninft.reward_servers import weights
    from omninft.reward_servers.scorers import registry

    known = sorted({*registry.available(), *cfg.plugins})
    for name in cfg.scorers:
        if name not in known:
            raise click.UsageError(unknown_scorer_problem(name, known))
    for name, sc in cfg.scorers.items():
        problem = weights_problem(sc.weights)
        if problem:
            raise click.UsageError(f"{name}: {problem}")
    for name, sc in cfg.scorers.items():
        if sc.weights != "official" or name in cfg.plugins:
            continue
        try:
            specs = registry.official_weights(name)
        except KeyError:
            continue
        for spec in specs:
            try:
                weights.resolve(spec, cache_dir=sc.weights_dir or None, offline=True)
            except FileNotFoundError:
                raise click.ClickException(
                    f"{name}: official weights {spec.display} are not fetched yet. Run: omninft-serve fetch-weights "
                    f"--scorer {name}"
                    + (f" --cache-dir {sc.weights_dir}" if sc.weights_dir else "")
                    + " (where a hub is reachable), or pass --weights tiny for an offline smoke test"
                ) from None
            except weights.WeightsIntegrityError as exc:
                raise click.ClickException(f"{name}: {exc}") from None


def tiny_banner(names: list[str]) -> str:
    """The loud warning printed when any hosted scorer runs tiny random weights."""
    lines = [
        "TINY RANDOM WEIGHTS: scores are meaningless",
        f"scorer(s): {', '.join(names)}",
        "Use --weights official (or a checkpoint path) for real numbers.",
    ]
    inner = _BANNER_WIDTH - 6
    rule = "#" * _BANNER_WIDTH
    # Wrapped, never cut: a long scorer list must stay complete.
    wrapped = [part for line in lines for part in textwrap.wrap(line, inner, break_on_hyphens=False)]
    body = [f"#  {line:<{inner}s}  #" for line in wrapped]
    return "\n".join(["", rule, *body, rule, ""])


def _version() -> str:
    from omninft_client import __version__

    return __version__


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="omninft-serve")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Server YAML (camelCase keys).",
)
@click.option(
    "--scorer", "scorers", multiple=True, help="Scorer to host (repeatable); selects scorers from --config."
)
@click.option(
    "--weights",
    default=None,
    help="tiny | random | official | PATH, for every hosted scorer (tiny/random: random init, meaningless scores).",
)
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="Backend for every hosted scorer.")
@click.option("--device", default=None, help="cpu | cuda:0 ..., for every hosted scorer.")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="gRPC port; 0 = ephemeral (see --port-file).")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Prometheus port; 0 = any free port (logged; the default without --config), -1 = off.",
)
@click.option("--max-batch-size", type=int, default=None, help="Per-scorer batch limit.")
@click.option("--max-queue-delay-ms", type=float, default=None, help="Longest wait to fill a batch.")
@click.option(
    "--allow-root",
    "allow_roots",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Directory file:// URIs may point into (repeatable; replaces allowedUriRoots).",
)
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Once SERVING, atomically write 'host:port' here.",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@click.pass_context
def serve_main(
    ctx: click.Context,
    config_path: str | None,
    scorers: tuple[str, ...],
    weights: str | None,
    backend: str | None,
    device: str | None,
    host: str | None,
    port: int | None,
    metrics_port: int | None,
    max_batch_size: int | None,
    max_queue_delay_ms: float | None,
    allow_roots: tuple[str, ...],
    port_file: str | None,
    log_level: str,
) -> None:
    """Serve reward scorers over gRPC (omninft.v1.RewardService) until SIGTERM/SIGINT, then drain."""
    if ctx.invoked_subcommand is not None:
        return
    _configure_logging(log_level)
    from omninft.reward_servers.serving.lifeline import tie_to_parent

    tie_to_parent()  # an embedded server dies with the benchmark that launched it
    from omninft.reward_servers.serving.app import serve
    from omninft.reward_servers.serving.config import ServerConfig

    try:
        cfg = ServerConfig.from_cli(
            config_path,
            scorers=scorers,
            scorer_overrides={
                "weights": weights,
                "backend": backend,
                "device": device,
                "max_batch_size": max_batch_size,
                "max_queue_delay_ms": max_queue_delay_ms,
            },
            host=host,
            port=port,
            # A local/dev server takes any free metrics port (logged) so two of them coexist; a --config
            # (a deployment, the Helm chart) keeps its metricsPort.
            metrics_port=metrics_port if metrics_port is not None or config_path else 0,
            allowed_uri_roots=[str(Path(r).resolve()) for r in allow_roots] or None,
        )
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    if not cfg.scorers:
        raise click.UsageError("no scorers: pass --scorer NAME or a --config with a 'scorers' section")
    preflight(cfg)

    def on_serving(server: Any) -> None:
        tiny = [name for name, s in server.scorers.items() if s.info.weights.tiny]
        if tiny:
            click.echo(tiny_banner(tiny), err=True)
        log.info("SERVING on %s", server.address)

    try:
        code = serve(cfg, port_file=port_file, on_serving=on_serving)
    except (OSError, ValueError) as exc:
        # Bind failures, unreadable TLS/token files: a one-line message, not a traceback.
        raise click.ClickException(str(exc)) from None
    # The server has stopped and the process ends now: keep the interpreter's final cyclic GC from walking every
    # model object (it took 3-8 s after a clean stop, which every embedded benchmark run waited for).
    gc.freeze()
    ctx.exit(code)


@serve_main.command("fetch-weights")
@click.option("--scorer", "names", multiple=True, help="Scorer whose official weights to fetch (repeatable).")
@click.option(
    "--family",
    "families",
    multiple=True,
    help="Model family whose official weights and companion files to fetch (repeatable).",
)
@click.option(
    "--suite",
    "suites",
    multiple=True,
    help="Benchmark suite (vbench, javisbench): the official weights of every scorer it uses (repeatable).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Server YAML: fetch for every hosted scorer whose weights are 'official'.",
)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Weights cache directory.")
@click.option(
    "--mirror",
    default=None,
    help="Download URL weights from MIRROR/<host>/<path> (http(s):// or file://; default "
    "$OMNINFT_WEIGHTS_MIRROR). Hugging Face ids follow $HF_ENDPOINT.",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def fetch_weights(
    names: tuple[str, ...],
    families: tuple[str, ...],
    suites: tuple[str, ...],
    config_path: str | None,
    cache_dir: str | None,
    mirror: str | None,
    log_level: str,
) -> None:
    """Download (or verify) official weights into the cache, e.g. in a Helm pre-install Job or init container."""
    _configure_logging(log_level)
    from omninft.reward_servers import weights
    from omninft.reward_servers.models._family import family_weights
    from omninft.reward_servers.scorers import registry

    wanted = list(dict.fromkeys(names))
    for suite in suites:
        try:
            members = registry.suite_scorers(suite)
        except KeyError as exc:
            raise click.UsageError(str(exc.args[0])) from None
        wanted += [n for n in members if n not in wanted and registry.official_weights(n)]
    if config_path:
        from omninft.reward_servers.serving.config import ServerConfig

        try:
            cfg = ServerConfig.from_yaml(config_path)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        wanted += [n for n, sc in cfg.scorers.items() if sc.weights == "official" and n not in wanted]
    if not wanted and not families:
        raise click.UsageError(
            "nothing to fetch: give --scorer NAME, --family NAME, --suite NAME or a --config with "
            "official weights"
        )
    plan: list[tuple[str, list[weights.WeightSpec]]] = []
    for name in wanted:
        try:
            specs = registry.official_weights(name)
        except KeyError as exc:  # unknown scorer, or a plugin without a spec
            raise click.ClickException(str(exc)) from None
        if not specs:
            raise click.ClickException(f"{name}: this scorer loads no official weights")
        plan.append((name, specs))
    for family in families:
        try:
            plan.append((family, list(family_weights(family))))
        except ImportError:
            raise click.ClickException(f"unknown model family {family!r}") from None
    done: set[str] = set()
    for name, specs in plan:
        for spec in specs:
            if spec.name in done:  # shared by several scorers of a suite: fetched once
                continue
            done.add(spec.name)
            try:
                result = weights.fetch(spec, cache_dir, mirror=mirror)
            except (OSError, ValueError) as exc:  # unreachable hub, sha256 mismatch
                raise click.ClickException(f"{name}: {spec.name}: {exc}") from None
            if isinstance(result, Path):
                click.echo(f"{name}: {spec.name} at {result}")
            else:
                click.echo(
                    f"{name}: {spec.name} {result.weights_id}  sha256 {result.sha256}  at {result.path}"
                )


@serve_main.command("health")
@click.option(
    "--server",
    "--address",
    "address",
    default="127.0.0.1:50051",
    show_default=True,
    help="host:port of the server (--address is the old name).",
)
@click.option(
    "--service", default="", help="Health service name ('' = server, omninft.v1.RewardService = ready)."
)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA bundle: connect with TLS.",
)
@click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True)
def health(address: str, service: str, tls_ca: str | None, timeout_s: float) -> None:
    """Exit 0 if the server reports SERVING (container HEALTHCHECK / exec probes)."""
    import grpc
    from grpc_health.v1 import health_pb2

    if tls_ca:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(Path(tls_ca).read_bytes()))
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        try:
            # The method itself, not HealthStub: the stub's Check is set in __init__, which its type stubs omit.
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            resp = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise click.ClickException(f"{address}: {exc.code().name}: {exc.details()}") from None
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    click.echo(f"{address} {service or '(server)'}: {status}")
    if resp.status != health_pb2.HealthCheckResponse.SERVING:
        sys.exit(1)


def export_main() -> None:
    """`omninft-export`: the export command lives in omninft.reward_servers.export."""
    from omninft.reward_servers.export import main

    main()


if __name__ == "__main__":
    serve_main(prog_name="omninft-serve")
