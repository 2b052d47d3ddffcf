"""`omninft-serve` and `omninft-export`: thin CLIs (parse -> typed config -> library call).

Logging is configured here and nowhere else.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from omninft.reward_servers.backends import BACKENDS

log = logging.getLogger("omninft.serve")

_BANNER_WIDTH = 80


def _configure_logging(level: str) -> None:
    """Plain timestamped logs on stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def tiny_banner(names: list[str]) -> str:
    """The loud warning printed when any hosted scorer runs tiny random weights."""
    lines = [
        "TINY RANDOM WEIGHTS: scores are meaningless",
        f"scorer(s): {', '.join(names)}",
        "Use --weights official (or a checkpoint path) for real numbers.",
    ]
    inner = _BANNER_WIDTH - 6
    rule = "#" * _BANNER_WIDTH
    body = [f"#  {line[:inner]:<{inner}s}  #" for line in lines]
    return "\n".join(["", rule, *body, rule, ""])


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="Server YAML (camelCase keys).")
@click.option("--scorer", "scorers", multiple=True, help="Scorer to host (repeatable); selects scorers from --config.")
@click.option("--weights", default=None, help="tiny | random | official | PATH, for every hosted scorer (tiny/random: random init, meaningless scores).")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="Backend for every hosted scorer.")
@click.option("--device", default=None, help="cpu | cuda:0 ..., for every hosted scorer.")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="gRPC port; 0 = ephemeral (see --port-file).")
@click.option("--metrics-port", type=int, default=None, help="Prometheus port; 0 = ephemeral, -1 = off.")
@click.option("--max-batch-size", type=int, default=None, help="Per-scorer batch limit.")
@click.option("--max-queue-delay-ms", type=float, default=None, help="Longest wait to fill a batch.")
@click.option("--allow-root", "allow_roots", multiple=True, type=click.Path(file_okay=False),
              help="Directory file:// URIs may point into (repeatable; replaces allowedUriRoots).")
@click.option("--port-file", type=click.Path(dir_okay=False), default=None,
              help="Once SERVING, atomically write 'host:port' here.")
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
            metrics_port=metrics_port,
            allowed_uri_roots=[str(Path(r).resolve()) for r in allow_roots] or None,
        )
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    if not cfg.scorers:
        raise click.UsageError("no scorers: pass --scorer NAME or a --config with a 'scorers' section")

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
    ctx.exit(code)


@serve_main.command("fetch-weights")
@click.option("--scorer", "name", required=True, help="Scorer whose official weights to download and verify.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Weights cache directory.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def fetch_weights(name: str, cache_dir: str | None, log_level: str) -> None:
    """Download (or verify) a scorer's official weights into the cache, e.g. for an init container."""
    _configure_logging(log_level)
    from omninft.reward_servers import weights

    try:
        result = weights.fetch(name, cache_dir)
    except (OSError, ValueError, KeyError) as exc:  # unreachable hub, sha256 mismatch, unknown scorer
        raise click.ClickException(str(exc)) from None
    click.echo(f"{result.weights_id}  sha256 {result.sha256}  at {result.path}")


def export_main() -> None:
    """`omninft-export`: the export command lives in omninft.reward_servers.export."""
    from omninft.reward_servers.export import main

    main()


if __name__ == "__main__":
    serve_main(prog_name="omninft-serve")
