"""`omninft-bench run vbench`, `omninft-bench fetch-suite vbench` and `omninft-bench vbench static-filter`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from omninft.bench.suites.vbench.locate import CATEGORY, CUSTOM, MODES, STANDARD

LAYOUTS = ("auto", "flat", "folders")


def run_options(fn: Any) -> Any:
    """The options only `run vbench` reads (they reach the `run` command as extra keyword arguments)."""
    options = [
        click.option(
            "--videos",
            type=click.Path(path_type=Path, exists=True),
            help="vbench: the generated videos. vbench_standard: a folder of '<prompt>-<i>.mp4' (i = 0..4, "
            "one file per suite prompt and index); vbench_category: files named after the category's "
            "prompts; custom_input: any video files, or a single file.",
        ),
        click.option(
            "--mode",
            type=click.Choice(MODES),
            default=STANDARD,
            show_default=True,
            help="vbench: vbench_standard scores the official prompt suite (needs VBench_full_info.json); "
            "custom_input scores your own videos with prompts from their file names, --prompt-file "
            "or --prompt; vbench_category scores one content category (--category).",
        ),
        click.option(
            "--dimensions",
            multiple=True,
            help="vbench: dimensions to evaluate, e.g. subject_consistency,motion_smoothness (repeatable or "
            "comma list). Default: all 16 in vbench_standard; in the other modes the ones meaningful "
            "on arbitrary videos (the run names those left out).",
        ),
        click.option(
            "--full-info",
            type=click.Path(path_type=Path, dir_okay=False),
            help="vbench_standard: the prompt suite VBench_full_info.json (default: the copy `omninft-bench "
            "fetch-suite vbench` downloaded).",
        ),
        click.option(
            "--dimension-to-folder",
            type=click.Path(path_type=Path, dir_okay=False),
            help="vbench_standard: dimension_to_folder.json mapping each dimension to its sub-folder of "
            "--videos, for videos sampled per dimension (default: the fetched copy).",
        ),
        click.option(
            "--layout",
            type=click.Choice(LAYOUTS),
            default="auto",
            show_default=True,
            help="vbench_standard: 'flat' = every video directly in --videos; 'folders' = --videos/<folder>/ "
            "per dimension (see --dimension-to-folder); 'auto' = folders if such sub-folders exist.",
        ),
        click.option(
            "--category",
            default=None,
            help="vbench_category: the category to score: animal, architecture, food, human, lifestyle, "
            "plant, scenery or vehicles.",
        ),
        click.option(
            "--category-file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="vbench_category: the category's prompt list, one prompt per line (default: the fetched "
            "prompts_per_category/<category>.txt).",
        ),
        click.option(
            "--prompt-file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="custom_input: JSON object mapping each video path to its prompt (instead of prompts taken "
            "from file names).",
        ),
        click.option(
            "--prompt",
            "single_prompt",
            default=None,
            help="custom_input: the prompt of the single video given as --videos FILE.",
        ),
        click.option(
            "--name",
            "run_name",
            default="results",
            show_default=True,
            help="vbench: file name prefix of the reference-format outputs <name>_eval_results.json and "
            "<name>_full_info.json in --out.",
        ),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _plan(
    opts: dict[str, Any], dims: list[Any], full_info: Path | None
) -> tuple[Any, Path | None, str, list[str]]:
    """Locate the videos of every dimension; returns (plan, suite path, suite sha256, suite problems)."""
    from omninft.bench.suites.vbench import locate, suite

    videos: Path = opts["videos"]
    mode: str = opts["mode"]
    if mode == CUSTOM:
        return (
            locate.plan_custom(
                videos, dims, prompt_file=opts.get("prompt_file"), prompt=opts.get("single_prompt")
            ),
            None,
            "",
            [],
        )
    if not videos.is_dir():
        raise click.UsageError(f"--videos {videos}: {mode} needs a folder")
    if mode == CATEGORY:
        category = opts.get("category")
        if not category:
            raise click.UsageError(f"vbench_category needs --category (one of {', '.join(suite.CATEGORIES)})")
        path = opts.get("category_file") or suite.locate_official(f"prompts_per_category/{category}.txt")
        if path is None:
            raise click.UsageError(
                f"no prompt list for category {category!r}: pass --category-file, or run "
                "`omninft-bench fetch-suite vbench`"
            )
        return locate.plan_category(videos, dims, category, suite.load_prompt_lines(path)), Path(path), "", []
    path = full_info or suite.locate_official("VBench_full_info.json")
    if path is None:
        raise click.UsageError(
            "vbench_standard needs the prompt suite: pass --full-info VBench_full_info.json, or "
            "run `omninft-bench fetch-suite vbench` once"
        )
    loaded = suite.load_full_info(path)
    folders = None
    layout = opts.get("layout", "auto")
    mapping_path = opts.get("dimension_to_folder") or suite.locate_official("dimension_to_folder.json")
    if layout == "folders" or (layout == "auto" and mapping_path is not None):
        if mapping_path is None:
            raise click.UsageError("--layout folders needs --dimension-to-folder (or `fetch-suite vbench`)")
        mapping = suite.load_dimension_to_folder(mapping_path)
        if layout == "folders" or any((videos / f).is_dir() for f in set(mapping.values())):
            folders = mapping
    return (
        locate.plan_standard(loaded, videos, dims, folders=folders),
        Path(path),
        loaded.sha256,
        loaded.problems,
    )


def run_vbench_command(opts: dict[str, Any]) -> None:
    """The body of `omninft-bench run vbench` (options as the `run` command parsed them)."""
    from omninft.bench.cli import _embedded_scorers_available, _load_yaml
    from omninft.bench.runner import STORE_NAME, BenchRunError
    from omninft.bench.servers import load_routes
    from omninft.bench.suites.vbench.dimensions import resolve_dimensions
    from omninft.bench.suites.vbench.outputs import write_all
    from omninft.bench.suites.vbench.runner import VBenchConfig, provenance, run_plan
    from omninft.bench.suites.vbench.suite import SuiteError

    out_dir: Path = opts["out_dir"]
    try:
        dims = resolve_dimensions(list(opts.get("dimensions") or ()))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    requested = bool(opts.get("dimensions"))
    if not requested and opts.get("mode") in (CUSTOM, CATEGORY) and not opts.get("demo"):
        # Without the suite's auxiliary_info six dimensions cannot run; human_action needs "... person is <label>"
        # file names and temporal_flickering static-filtered videos, so neither is a default here.
        left_out = [
            d.name
            for d in dims
            if d.needs_auxiliary_info or d.name in ("human_action", "temporal_flickering")
        ]
        dims = [d for d in dims if d.name not in left_out]
        click.echo(
            f"{opts['mode']}: evaluating {', '.join(d.name for d in dims)} (name others with --dimensions; "
            f"not by default: {', '.join(left_out)})",
            err=True,
        )
    full_info = opts.get("full_info")
    weights = opts["weights"]
    if opts.get("demo"):
        from omninft.bench.suites.vbench.demo import write_demo_vbench

        folder = out_dir / "demo-videos"
        click.secho(
            "DEMO: generated videos scored with TINY RANDOM WEIGHTS (the numbers mean nothing)",
            fg="yellow",
            err=True,
        )
        full_info = write_demo_vbench(folder, per_prompt=5, seconds=opts.get("demo_seconds") or 1.0)
        opts = {**opts, "videos": folder, "mode": STANDARD, "layout": "flat"}
        weights = "tiny"
    if opts.get("videos") is None:
        raise click.UsageError("give --videos DIR (or --demo)")
    extra = _load_yaml(opts.get("embedded_config"))
    servers_file = opts.get("servers_file")
    routed = set(load_routes(servers_file)) if servers_file else set()
    skipped: dict[str, str] = {}
    if not opts.get("server"):
        avail = _embedded_scorers_available(
            [d.scorer for d in dims], routed, set(extra.get("plugins", {}) or {})
        )
        missing = [d for d in dims if not avail[d.scorer]]
        if missing and requested and not opts.get("demo"):
            raise click.UsageError(
                "not available in this installation (scorer not built yet): "
                + ", ".join(f"{d.name} (scorer {d.scorer})" for d in missing)
            )
        for d in missing:
            skipped[d.name] = f"not available: scorer {d.scorer!r} is not part of this installation"
    dims = [d for d in dims if d.name not in skipped]
    for k, why in skipped.items():
        click.echo(f"{k:>22}: skipped, {why}", err=True)
    if not dims:
        raise click.UsageError("no VBench dimension left to evaluate (see the skipped lines above)")
    try:
        plan, suite_path, suite_sha, problems = _plan(opts, dims, full_info)
    except (SuiteError, ValueError) as err:
        raise click.UsageError(str(err)) from None
    for p in problems:
        click.echo(f"suite: {p}", err=True)
    if plan.missing:
        click.echo(f"{len(plan.missing)} expected videos are missing (listed in report.md)", err=True)
    if opts.get("fresh"):
        for suffix in ("", "-wal", "-shm"):
            (out_dir / f"{STORE_NAME}{suffix}").unlink(missing_ok=True)
    cfg = VBenchConfig(
        videos=opts["videos"],
        out=out_dir,
        name=opts.get("run_name") or "results",
        mode=plan.mode,
        server=opts.get("server") or "",
        servers_file=servers_file,
        weights=weights,
        backend=opts["backend"],
        device=opts["device"],
        batch_size=opts["batch_size"],
        chunk_size=opts["chunk_size"],
        timeout_s=opts["timeout_s"],
        server_start_timeout_s=opts.get("server_start_timeout_s", 600.0),
        token=opts.get("token"),
        progress=not opts.get("no_progress"),
        embedded_config=extra,
        send_uris=opts.get("send_uris"),
        allowed_roots=(out_dir,) if opts.get("demo") else (),
        suite_path=suite_path,
        suite_sha256=suite_sha,
        skipped=skipped,
    )
    decodes: float | None = None
    try:
        if cfg.server or servers_file:
            run = run_plan(cfg, plan, dims)
        else:
            run, decodes = _run_embedded(cfg, plan, dims)
    except (BenchRunError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: finished chunks are saved in {out_dir / STORE_NAME}; rerun the same command "
            "to resume",
            err=True,
        )
        sys.exit(130)
    prov = provenance(cfg, run)
    n_videos = int(prov["sample_counts"]["videos"])
    if decodes is not None:
        prov["decodes"] = {
            "video_decodes": decodes,
            "videos": n_videos,
            "per_video": decodes / n_videos if n_videos else None,
        }
    doc = write_all(run, out_dir, cfg.name, prov, skipped)
    if prov["tiny_weights"]:
        click.secho("TINY RANDOM WEIGHTS: numbers below mean nothing about quality", fg="yellow", err=True)
    for res in run.dimensions:
        value = "n/a" if res.value is None else f"{100 * res.value:.2f}%"
        click.echo(
            f"{res.name:>22} = {value}   ({len(res.videos)}/{res.total} scored"
            + (f", {len(res.dropped)} dropped" if res.dropped else "")
            + ")"
        )
    scores = doc["vbench"]["scores"]
    for key in ("quality", "semantic", "total"):
        v = scores[key]
        if v is not None:
            click.echo(f"{key.capitalize():>22} = {100 * v:.2f}%")
    if scores["total"] is None:
        click.echo(
            f"{'Total':>22}: not computed, needs {', '.join(scores['missing'].get('Total', []))}", err=True
        )
    if decodes is not None and n_videos:
        click.echo(
            f"decodes per video = {decodes / n_videos:.2f}   ({decodes:.0f} video decodes by the embedded server "
            f"for {n_videos} videos)"
        )
    click.echo(
        f"results: {out_dir / 'results.json'}  report: {out_dir / 'report.html'}  reference files: "
        f"{out_dir / doc['vbench']['files']['eval_results']} (computed {run.computed}, reused {run.reused})"
    )
    empty = [d for d in run.dimensions if d.error]
    # Tiny random weights may name no target object in any demo video, so the reference's own rule drops them all:
    # that shows the rule at work, not a broken pipeline, and the demo still exits 0.
    demo_drops = [r for r in empty if opts.get("demo") and r.dropped and len(r.dropped) == r.total]
    for r in demo_drops:
        click.echo(f"{r.name}: no value in the demo ({r.error})", err=True)
    failed = [r for r in empty if all(r is not x for x in demo_drops)]
    if failed:
        raise click.ClickException("; ".join(r.error for r in failed))


def _run_embedded(cfg: Any, plan: Any, dims: list[Any]) -> tuple[Any, float | None]:
    """run_plan on the embedded server, reading its decode counter before it stops: (run, video decodes or None)."""
    import socket
    from dataclasses import replace

    from omninft.bench.runner import open_session
    from omninft.bench.suites.vbench.runner import run_plan

    port = int(cfg.embedded_config.get("metricsPort") or 0)
    if port <= 0:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        cfg = replace(cfg, embedded_config={**cfg.embedded_config, "metricsPort": port})
    with open_session(cfg.session_config(), tuple(sorted({d.scorer for d in dims}))) as session:
        run = run_plan(cfg, plan, dims, session=session)
        try:
            return run, _video_decodes(port)
        except (OSError, ValueError):  # metrics are a report extra: never fail the run over them
            return run, None


def _video_decodes(port: int) -> float:
    """omninft_decodes_total{modality="video"} of the server whose metrics listen on 127.0.0.1:port."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "omninft_decodes_total" and s.labels.get("modality") == "video"
    )


@click.command("fetch-suite")
@click.argument("suite_name", metavar="SUITE", type=click.Choice(["vbench"]))
@click.option(
    "--dest",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder to write into (default: ~/.cache/omninft/bench/vbench/<commit>).",
)
def fetch_suite(suite_name: str, dest: Path | None) -> None:
    """Download the official VBench prompt suite files (pinned commit, sha256-checked)."""
    from omninft.bench.suites.vbench.suite import REFERENCE_COMMIT, SuiteError, fetch_official

    try:
        got = fetch_official(dest)
    except (OSError, SuiteError) as err:
        raise click.ClickException(
            f"could not fetch the VBench suite ({err}); offline? pass --full-info instead"
        ) from None
    for name, path in got.items():
        click.echo(f"{name}: {path}")
    click.echo(f"VBench suite at {REFERENCE_COMMIT[:12]}: {len(got)} files verified")


@click.group("vbench")
def vbench_group() -> None:
    """VBench tools: the temporal_flickering static filter."""


@vbench_group.command("static-filter")
@click.option(
    "--videos",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="Folder of candidate videos ({prompt}-{i}.mp4; sample ~25-40 per prompt).",
)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("filter_results"), show_default=True
)
@click.option(
    "--scope",
    default="temporal_flickering",
    show_default=True,
    help="temporal_flickering (prompts of that suite, 5 static per prompt), all, or a JSON list of names.",
)
@click.option(
    "--full-info",
    type=click.Path(path_type=Path, dir_okay=False),
    help="VBench_full_info.json (default: the fetched one).",
)
@click.option("--server", default="", help="Reward server hosting vbench_static_filter.")
@click.option("--servers", "servers_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--weights", default="tiny", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--timeout-s", default=1800.0, show_default=True)
@click.option("--token", envvar="OMNINFT_AUTH_TOKEN", default=None)
def static_filter(
    videos: Path,
    out_dir: Path,
    scope: str,
    full_info: Path | None,
    server: str,
    servers_file: Path | None,
    weights: str,
    device: str,
    timeout_s: float,
    token: str | None,
) -> None:
    """Keep the static videos (RAFT flow) per prompt: filtered_videos/<prompt>-<i>.mp4 + filtered_static_video.json."""
    import json

    from omninft.bench.runner import BenchRunError
    from omninft.bench.suites.vbench.filter_run import judge_with_servers
    from omninft.bench.suites.vbench.static_filter import (
        STATIC_PER_PROMPT,
        candidates,
        select_static,
        write_filtered,
    )
    from omninft.bench.suites.vbench.suite import SuiteError, load_full_info, locate_official

    prompts: list[str] | None
    if scope == "temporal_flickering":
        path = full_info or locate_official("VBench_full_info.json")
        if path is None:
            raise click.UsageError("--scope temporal_flickering needs --full-info (or `fetch-suite vbench`)")
        try:
            prompts = [e.prompt_en for e in load_full_info(path).for_dimension("temporal_flickering")]
        except SuiteError as err:
            raise click.UsageError(str(err)) from None
    elif scope == "all":
        prompts = None
    else:
        from omninft.bench.suites.vbench.locate import prompt_from_filename

        names = json.loads(Path(scope).read_text())
        prompts = [prompt_from_filename(str(n)) for n in names]
    paths = candidates(videos, prompts)
    if not paths:
        raise click.UsageError(f"no candidate *.mp4 in {videos} for scope {scope}")
    try:
        with judge_with_servers(
            videos,
            out_dir,
            server=server,
            servers_file=servers_file,
            weights=weights,
            device=device,
            timeout_s=timeout_s,
            token=token,
        ) as judge:
            result = select_static(
                paths,
                prompts,
                judge,
                per_prompt=STATIC_PER_PROMPT if scope == "temporal_flickering" else None,
            )
    except BenchRunError as err:
        raise click.ClickException(str(err)) from None
    target = write_filtered(result, out_dir)
    short = [p for p, v in result.prompts.items() if len(v) < STATIC_PER_PROMPT]
    if short and scope == "temporal_flickering":
        click.echo(
            f"{len(short)} prompts have fewer than {STATIC_PER_PROMPT} static videos (sample more, e.g. 40 "
            "per prompt): " + "; ".join(short[:10]) + (" ..." if len(short) > 10 else ""),
            err=True,
        )
    for video, why in result.errors.items():
        click.echo(f"{video}: not tested: {why}", err=True)
    kept = sum(len(v) for v in result.prompts.values())
    click.echo(f"kept {kept} static of {result.tested} tested videos -> {target}")
