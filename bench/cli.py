"""`omninft-bench`: run benchmark suites, write the demo set, load-test a reward server."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import click

SUITES = ("javisbench",)


@click.group()
@click.option("-v", "--verbose-log", is_flag=True, help="Debug logging.")
def main(verbose_log: bool) -> None:
    """omninft benchmarks: JavisBench over generated samples, and a gRPC load generator."""
    logging.basicConfig(level=logging.DEBUG if verbose_log else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command("demo-data")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder to write into.")
@click.option("--n", default=32, show_default=True, help="Number of samples.")
@click.option("--seconds", default=4.0, show_default=True)
@click.option("--seed", default=0, show_default=True)
def demo_data(out_dir: Path, n: int, seconds: float, seed: int) -> None:
    """Write a synthetic sounding-video set in the official JavisBench layout plus its prompt CSV."""
    from omninft.bench.demo_data import write_demo_set

    csv_path = write_demo_set(out_dir, n=n, seconds=seconds, seed=seed)
    click.echo(f"wrote {n} samples to {out_dir} (prompts: {csv_path})")


@main.command("run")
@click.argument("suite", type=click.Choice(SUITES + ("vbench",)))
@click.option("--samples", type=click.Path(path_type=Path, file_okay=False), help="Folder of generated samples.")
@click.option("--prompts", type=click.Path(path_type=Path, dir_okay=False), help="Prompt CSV (row i -> sample_{i:04d}).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("omninft-results"), show_default=True)
@click.option("--metrics", multiple=True, help="Official metric keys (repeatable); default: all available.")
@click.option("--limit", type=int, default=None, help="Only the first N rows.")
@click.option("--server", default="", help="Address of a running reward server; default: start an embedded one.")
@click.option("--weights", default="tiny", show_default=True, help="Embedded server weights: tiny | random | official | PATH.")
@click.option("--backend", default="torch", show_default=True, type=click.Choice(["torch", "onnxruntime", "tensorrt"]))
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", default=8, show_default=True)
@click.option("--token", envvar="OMNINFT_AUTH_TOKEN", default=None, help="Bearer token for a remote server.")
@click.option("--verbose", is_flag=True, help="Official per-category result structure.")
@click.option("--demo", is_flag=True, help="Generate the demo set and score it with tiny weights (offline).")
@click.option("--demo-n", default=16, show_default=True, help="Demo set size.")
@click.option("--no-progress", is_flag=True)
def run(suite: str, samples: Path | None, prompts: Path | None, out_dir: Path, metrics: tuple[str, ...],
        limit: int | None, server: str, weights: str, backend: str, device: str, batch_size: int,
        token: str | None, verbose: bool, demo: bool, demo_n: int, no_progress: bool) -> None:
    """Run SUITE over --samples/--prompts (or --demo) and write results.json, report.md, per_sample.jsonl."""
    if suite == "vbench":
        raise click.UsageError("the VBench suite is not available in this version; see the README roadmap")
    from omninft.bench.runner import JavisBenchConfig, run_javisbench

    if demo:
        from omninft.bench.demo_data import write_demo_set

        samples = out_dir / "demo-data"
        click.echo(f"writing {demo_n} demo samples to {samples} ...", err=True)
        prompts = write_demo_set(samples, n=demo_n)
        weights = "tiny"
    if samples is None or prompts is None:
        raise click.UsageError("give --samples and --prompts, or --demo")
    cfg = JavisBenchConfig(samples=samples, prompts=prompts, out=out_dir, metrics=list(metrics), limit=limit,
                           server=server, weights=weights, backend=backend, device=device, batch_size=batch_size,
                           token=token, verbose=verbose, progress=not no_progress)
    try:
        result = run_javisbench(cfg)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    if result.tiny_weights:
        click.secho("TINY RANDOM WEIGHTS: numbers below mean nothing about quality", fg="yellow", err=True)
    for key, value in result.results.items():
        c = result.counts[key]
        shown = "nan" if math.isnan(value) else f"{value:.4f}"
        click.echo(f"{key:>12} = {shown}   ({c['scored']}/{c['total']} scored)")
    click.echo(f"results: {out_dir / 'results.json'}  report: {out_dir / 'report.md'}")


@main.command("perf")
@click.option("--target", required=True, help="Server address (host:port, dns:///host:port, or comma list).")
@click.option("--scorer", "scorers", multiple=True, help="Scorer(s) to call (repeatable); default: all.")
@click.option("--concurrency", default="1,4,16", show_default=True, help='Levels: "1,4,16" or "1:32:x2".')
@click.option("--duration-s", default=10.0, show_default=True, help="Measured seconds per level.")
@click.option("--count", default=0, help="Fixed request count per level instead of a duration.")
@click.option("--warmup-s", default=1.0, show_default=True)
@click.option("--samples-per-request", default=1, show_default=True)
@click.option("--payload", type=click.Choice(["raw", "container", "uri"]), default="raw", show_default=True)
@click.option("--uri-dir", default="", help="With --payload uri: a folder the server allows.")
@click.option("--modalities", default="video,audio", show_default=True, help='Media to send; "" = prompts only.')
@click.option("--rpc", type=click.Choice(["score", "embed"]), default="score", show_default=True)
@click.option("--unique-prompts", is_flag=True, help="Make every prompt unique (defeats server text caches).")
@click.option("--seconds", default=4.0, show_default=True)
@click.option("--size", default="240x426", show_default=True, help="HxW of generated video.")
@click.option("--fps", default=24.0, show_default=True)
@click.option("--sample-rate", default=16000, show_default=True)
@click.option("--timeout-s", default=60.0, show_default=True)
@click.option("--token", envvar="OMNINFT_AUTH_TOKEN", default=None)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write results as JSON.")
def perf(target: str, scorers: tuple[str, ...], concurrency: str, duration_s: float, count: int, warmup_s: float,
         samples_per_request: int, payload: str, uri_dir: str, modalities: str, rpc: str, unique_prompts: bool,
         seconds: float, size: str,
         fps: float, sample_rate: int, timeout_s: float, token: str | None, json_out: Path | None) -> None:
    """Sweep concurrency against a running server: throughput, p50/p90/p99 latency, errors per status code."""
    from omninft.bench.perf.loadgen import LoadConfig, levels_to_json, parse_concurrency, run_load
    from omninft.bench.perf.stats import format_table

    height, width = (int(x) for x in size.lower().split("x"))
    targets = target.split(",")
    cfg = LoadConfig(target=targets[0] if len(targets) == 1 else targets, scorers=scorers,  # type: ignore[arg-type]
                     concurrency=parse_concurrency(concurrency), duration_s=duration_s, count=count,
                     warmup_s=warmup_s, samples_per_request=samples_per_request, payload=payload,
                     modalities=tuple(m for m in modalities.split(",") if m), seconds=seconds, height=height,
                     width=width, fps=fps, sample_rate=sample_rate, timeout_s=timeout_s, token=token, uri_dir=uri_dir,
                     rpc=rpc, unique_prompts=unique_prompts)
    levels = run_load(cfg, progress=lambda lv: click.echo(
        f"concurrency {lv.concurrency}: {lv.throughput_sps:.2f} samples/s, p99 {lv.latency_ms['p99']:.1f} ms", err=True))
    click.echo(format_table(levels))
    if json_out:
        json_out.write_text(json.dumps(levels_to_json(cfg, levels), indent=2) + "\n")
    if all(lv.requests == 0 for lv in levels):
        sys.exit(1)
