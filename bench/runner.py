"""Run a benchmark suite over a folder of generated samples through reward servers (embedded or remote)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omninft.bench.embedded import EmbeddedServer, EmbeddedServerSpec
from omninft.bench.results import BenchResult, SampleError, category_means, mean_or_nan, to_markdown
from omninft.bench.suites.javisbench.metrics import MetricRoute, resolve_metrics
from omninft.bench.suites.javisbench.prompts import SampleFiles, load_prompts, locate_samples, sample_stem

log = logging.getLogger(__name__)

CATEGORY_SIZES = (5, 3, 5, 3, 3)
PROTOCOL = "javisbench-v1"


@dataclass
class JavisBenchConfig:
    """Everything `omninft-bench run javisbench` needs."""

    samples: Path
    prompts: Path
    out: Path
    metrics: list[str] = field(default_factory=list)
    limit: int | None = None
    server: str = ""  # empty: start an embedded local server
    weights: str = "tiny"
    backend: str = "torch"
    device: str = "cpu"
    batch_size: int = 8
    timeout_s: float = 600.0
    token: str | None = None
    verbose: bool = False
    progress: bool = True


def _git_hash() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def _server(cfg: JavisBenchConfig, scorers: tuple[str, ...]) -> Iterator[str]:
    if cfg.server:
        yield cfg.server
        return
    spec = EmbeddedServerSpec(
        scorers=scorers, weights=cfg.weights, backend=cfg.backend, device=cfg.device,
        max_batch_size=cfg.batch_size, allowed_roots=(str(cfg.samples.resolve()),),
    )
    cfg.out.mkdir(parents=True, exist_ok=True)
    with EmbeddedServer(spec, log_path=cfg.out / "server.log") as server:
        yield server.address


def _to_client_sample(files: SampleFiles, *, as_uri: bool):
    from omninft_client import Sample, media

    video = media.video_file(files.video, as_uri=as_uri) if files.video else None
    audio = media.audio_file(files.audio, as_uri=as_uri) if files.audio else None
    return Sample(id=sample_stem(files.row.index), prompt=files.row.text, audio_prompt=files.row.audio_text,
                  video=video, audio=audio)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="sample", disable=not enabled, dynamic_ncols=True, desc="javisbench")


def run_javisbench(cfg: JavisBenchConfig) -> BenchResult:
    """Score every sample, aggregate the official keys, write results.json / report.md / per_sample.jsonl."""
    from omninft_client import RewardClient

    routes: list[MetricRoute] = resolve_metrics(cfg.metrics)
    scorers = tuple(sorted({r.scorer for r in routes}))
    rows = load_prompts(cfg.prompts, limit=cfg.limit)
    located = locate_samples(cfg.samples, rows)
    per_sample: dict[str, list[float | None]] = {r.key: [None] * len(rows) for r in routes}
    errors: list[SampleError] = []
    for f in located:
        if f.problem:
            errors += [SampleError(f.row.index, sample_stem(f.row.index), r.key, "NOT_FOUND", f.problem) for r in routes]
    todo = [f for f in located if not f.problem]
    with _server(cfg, scorers) as address, RewardClient(address, timeout_s=cfg.timeout_s, token=cfg.token) as client:
        description = client.wait_ready(timeout_s=cfg.timeout_s)
        bar = _progress(len(todo), cfg.progress)
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            samples = [_to_client_sample(f, as_uri=not cfg.server) for f in chunk]
            results = client.score(samples, scorers)
            for files, res in zip(chunk, results, strict=True):
                i = files.row.index
                for route in routes:
                    if route.output in res.scores:
                        per_sample[route.key][i] = res.scores[route.output]
                        continue
                    err = res.error or res.scorer_errors.get(route.scorer)
                    code, msg = (err.code, err.message) if err else ("INTERNAL", f"server returned no {route.output}")
                    errors.append(SampleError(i, sample_stem(i), route.key, code, msg))
            bar.update(len(chunk))
        bar.close()
    scorer_infos = [s for s in description.scorers if s.name in scorers]
    tiny = any(s.tiny_weights for s in scorer_infos)
    means = {r.key: mean_or_nan(per_sample[r.key]) for r in routes}
    counts = {
        r.key: {"total": len(rows), "scored": sum(v is not None for v in per_sample[r.key]),
                "failed": sum(v is None for v in per_sample[r.key])}
        for r in routes
    }
    from omninft_client import __version__

    provenance: dict[str, Any] = {
        "package_version": __version__,
        "git_hash": _git_hash(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "server_address": address if cfg.server else "embedded",
        "server_version": description.package_version,
        "prompts": str(cfg.prompts),
        "samples": str(cfg.samples),
        "scorers": [
            {"name": s.name, "version": s.version, "weights_id": s.weights_id, "weights_sha256": s.weights_sha256,
             "tiny_weights": s.tiny_weights, "backend": s.backend, "device": s.device, "protocol": s.protocol}
            for s in scorer_infos
        ],
    }
    cats = [r.categories for r in rows]
    result = BenchResult(
        suite="javisbench", protocol=PROTOCOL, results=means, per_sample=per_sample, counts=counts,
        errors=errors, provenance=provenance, tiny_weights=tiny,
        categories={k: category_means(v, cats, CATEGORY_SIZES) for k, v in per_sample.items()},
    )
    write_outputs(result, cfg.out, verbose=cfg.verbose)
    return result


def write_outputs(result: BenchResult, out: Path, *, verbose: bool) -> None:
    """results.json, report.md and per_sample.jsonl under `out` (atomic replace)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "results.json": json.dumps(result.to_json(verbose=verbose), indent=2, allow_nan=True) + "\n",
        "report.md": to_markdown(result),
        "per_sample.jsonl": "".join(
            json.dumps({"index": i, "sample": sample_stem(i), **{k: v[i] for k, v in result.per_sample.items()}}) + "\n"
            for i in range(len(next(iter(result.per_sample.values()), [])))
        ),
    }
    for name, text in files.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
