"""``omninft-train``: run OmniNFT / DiffusionNFT training from a YAML config (``--set key=value`` overrides)."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from omninft.trainer.config import ConfigError, load_config, to_dict

_SHOWN = (
    "reward/",
    "sign_disagreement_rate",
    "route_fallback/",
    "loss_policy/",
    "surgery_grad_ratio",
    "region_w_mean",
    "epoch_s",
)


def _fmt(rec: dict[str, Any]) -> str:
    parts = [f"epoch {rec['epoch']}"]
    for k, v in rec.items():
        if any(k.startswith(p) for p in _SHOWN) and isinstance(v, int | float):
            parts.append(f"{k}={v:.4g}" if math.isfinite(float(v)) else f"{k}=nan")
    return "  ".join(parts)


def fallback_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """Epochs in which each branch fell back to the summed-reward advantage (routed mode)."""
    out: dict[str, int] = {}
    for rec in records:
        for k, v in rec.items():
            if k.startswith("route_fallback/"):
                out[k.split("/", 1)[1]] = out.get(k.split("/", 1)[1], 0) + int(v)
    return out


def _version() -> str:
    from omninft_client import __version__

    return __version__


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="omninft-train")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Run YAML (see trainer/config.py for the keys).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, e.g. --set advantage.mode=gdpo (repeatable; value parsed as YAML).",
)
@click.option("--resume", default=None, help="auto (newest checkpoint in out_dir) or a checkpoint path.")
@click.option("--overwrite", is_flag=True, help="Delete an existing run in out_dir and start over.")
@click.option("--print-config", is_flag=True, help="Print the resolved config and exit.")
@click.option("--quiet", is_flag=True, help="No per-epoch lines on stdout.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    help="Logging level on stderr.",
)
def main(
    config_path: Path | None,
    overrides: tuple[str, ...],
    resume: str | None,
    overwrite: bool,
    print_config: bool,
    quiet: bool,
    log_level: str,
) -> None:
    """Train a joint audio-video policy against remote reward servers (toy policy by default)."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    data: dict[str, Any] = {}
    if config_path is not None:
        loaded = yaml.safe_load(config_path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise click.UsageError(f"{config_path}: expected a mapping at the top level")
        data = loaded
    try:
        cfg = load_config(data, list(overrides))
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if print_config:
        click.echo(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return
    if resume is not None and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    out_dir = Path(cfg.out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and resume is None:
        if not overwrite:
            raise click.UsageError(
                f"{out_dir} already holds a run; pass --resume auto to continue it, --overwrite "
                "to delete it and start over, or --set out_dir=ANOTHER_DIR"
            )
        click.echo(f"--overwrite: deleting the previous run in {out_dir}", err=True)
        shutil.rmtree(out_dir)
    elif out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"out_dir {out_dir} is a file; give a folder")
    from omninft.trainer.loop import Trainer

    def show(rec: dict[str, Any]) -> None:
        if not quiet:
            click.echo(_fmt(rec))

    try:
        trainer = Trainer(cfg)
        records = trainer.run(resume=resume, on_epoch=show)
    except (RuntimeError, TimeoutError, ValueError, FileNotFoundError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    summary = {
        "epochs_run": len(records),
        "epoch": trainer.epoch,
        "step": trainer.step,
        "route_fallback_epochs": fallback_counts(records),
        "log": str(trainer.log.path),
        "tensorboard": trainer.log.tensorboard,
    }
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    main()
