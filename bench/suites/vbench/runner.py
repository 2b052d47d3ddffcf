"""Run VBench over a folder of generated videos through reward servers (embedded, remote, or routed).

The unit of work is a (video, condition text) pair: every dimension that sends the same text about the same
video is asked in one request, so a server decodes each video once per request (and, with its decode cache, once
per run). Outcomes go to the same resumable SQLite store as JavisBench, keyed by the pair and the scorer's
identity; aggregation reads only the store, so a resumed run gives the numbers of an uninterrupted one.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omninft.bench.runner import (
    STORE_NAME,
    BenchRunError,
    JavisBenchConfig,
    _call_failed,
    _embed_outcomes,
    _git_hash,
    _Group,
    _score_outcomes,
    open_session,
)
from omninft.bench.store import PERSISTENT_ERROR_CODES, Outcome, ResultStore, sample_key
from omninft.bench.suites.vbench.aggregate import (
    DroppedVideo,
    EmptyDimensionError,
    PerVideo,
    aggregate,
    per_video,
)
from omninft.bench.suites.vbench.conditions import ConditionError, condition_text
from omninft.bench.suites.vbench.dimensions import Dimension
from omninft.bench.suites.vbench.locate import Plan, Video

log = logging.getLogger(__name__)

PROTOCOL = "vbench-v1"


@dataclass
class VBenchConfig:
    """Where the videos are, what to evaluate and which servers score it."""

    videos: Path
    out: Path
    name: str = "results"
    mode: str = "vbench_standard"
    server: str = ""
    servers_file: Path | None = None
    weights: str = "tiny"
    backend: str = "torch"
    device: str = "cpu"
    batch_size: int = 8
    chunk_size: int = 16  # (video, condition) units per request round and store write
    timeout_s: float = 1800.0
    server_start_timeout_s: float = 600.0
    token: str | None = None
    progress: bool = True
    embedded_config: dict[str, Any] = field(default_factory=dict)
    send_uris: bool | None = None
    store_path: Path | None = None
    allowed_roots: tuple[Path, ...] = ()
    suite_path: Path | None = None  # provenance only
    suite_sha256: str = ""
    skipped: dict[str, str] = field(default_factory=dict)  # dimension -> why it is not run

    def session_config(self) -> JavisBenchConfig:
        """The server-session settings in the form the shared session code reads."""
        root = self.videos if self.videos.is_dir() else self.videos.parent
        return JavisBenchConfig(
            samples=root,
            prompts=self.suite_path or root,
            out=self.out,
            server=self.server,
            servers_file=self.servers_file,
            weights=self.weights,
            backend=self.backend,
            device=self.device,
            batch_size=self.batch_size,
            chunk_size=self.chunk_size,
            timeout_s=self.timeout_s,
            server_start_timeout_s=self.server_start_timeout_s,
            token=self.token,
            progress=self.progress,
            embedded_config=self.embedded_config,
            send_uris=self.send_uris,
            allowed_roots=self.allowed_roots,
        )


@dataclass(frozen=True)
class Unit:
    """One (video, condition) request unit and the dimensions that ask about it."""

    key: str
    path: Path
    text: str


@dataclass
class VideoError:
    """Why one video has no value in one dimension."""

    dimension: str
    video_path: str
    prompt: str
    index: int | None
    code: str
    message: str


@dataclass
class DimensionResult:
    """One dimension's aggregate (None when it could not be formed) and its per-video records."""

    name: str
    value: float | None
    videos: list[PerVideo]
    total: int  # videos located for it
    errors: list[VideoError]
    dropped: list[tuple[str, str]]  # (video path, reason): the reference leaves these out silently
    error: str = ""  # why there is no value (empty dimension)


@dataclass
class VBenchRun:
    """Everything a run produced before rendering."""

    plan: Plan
    dimensions: list[DimensionResult]
    infos: dict[str, Any]
    servers: dict[str, list[str]]
    computed: int
    reused: int
    started: str


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from omninft.bench.progress import progress_bar

    return progress_bar(total, initial, enabled, desc="vbench (video, condition)", unit="pair")


def plan_units(plan: Plan, dims: list[Dimension]) -> tuple[dict[tuple[str, int], Unit], list[VideoError]]:
    """Per (dimension, position in its video list): the unit to score; condition failures become errors."""
    units: dict[tuple[str, int], Unit] = {}
    errors: list[VideoError] = []
    by_pair: dict[tuple[str, str], Unit] = {}
    for d in dims:
        for pos, v in enumerate(plan.videos[d.name]):
            try:
                text = condition_text(d.name, v.prompt, v.auxiliary_info, str(v.path))
            except ConditionError as err:
                errors.append(
                    VideoError(d.name, str(v.path), v.prompt, v.index, "INVALID_ARGUMENT", str(err))
                )
                continue
            pair = (str(v.path), text)
            if pair not in by_pair:
                try:
                    size = v.path.stat().st_size
                except OSError as err:
                    errors.append(VideoError(d.name, str(v.path), v.prompt, v.index, "NOT_FOUND", str(err)))
                    continue
                if size == 0:
                    errors.append(
                        VideoError(
                            d.name, str(v.path), v.prompt, v.index, "INVALID_ARGUMENT", "empty file (0 bytes)"
                        )
                    )
                    continue
                # The folder is part of the key: the per-dimension layout repeats file names across folders.
                stem = f"{v.path.parent.name}/{v.path.name}"
                by_pair[pair] = Unit(sample_key(stem, text, "", [v.path]), v.path, text)
            units[(d.name, pos)] = by_pair[pair]
    return units, errors


def _client_sample(unit: Unit, as_uri: bool) -> Any:
    from omninft_client import Sample, media

    return Sample(id=unit.key, prompt=unit.text, video=media.video_file(unit.path, as_uri=as_uri))


@dataclass
class _Collected:
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict)  # scorer -> unit key -> outcome
    computed: int = 0
    reused: int = 0


def _compute(
    cfg: VBenchConfig,
    groups: list[_Group],
    kinds: dict[str, str],
    asks: dict[str, set[str]],
    units: dict[str, Unit],
    store: ResultStore,
) -> _Collected:
    """Fill the store unit chunk by unit chunk; `asks` maps unit key -> scorers that need it."""
    from omninft_client import RewardError

    col = _Collected()
    keys = sorted(units, key=lambda k: (str(units[k].path), units[k].text))  # one video's units back to back
    for g in groups:
        for n in g.group.scorers:
            wanted = [k for k in keys if n in asks[k]]
            col.outcomes[n] = store.get(wanted, g.keys[n], kinds[n])
            col.reused += len(col.outcomes[n])
    pending = [k for k in keys if any(k not in col.outcomes[n] for n in asks[k])]
    bar = _progress(len(keys), len(keys) - len(pending), cfg.progress)
    pool = ThreadPoolExecutor(max_workers=max(1, 2 * len(groups)), thread_name_prefix="vbench")
    try:
        for start in range(0, len(pending), cfg.chunk_size):
            chunk = pending[start : start + cfg.chunk_size]
            calls = []
            for g in groups:
                for kind in ("score", "embed"):
                    names = tuple(n for n in g.group.scorers if kinds[n] == kind)
                    need: dict[tuple[str, ...], list[str]] = {}
                    for k in chunk:
                        miss = tuple(n for n in names if n in asks[k] and k not in col.outcomes[n])
                        if miss:
                            need.setdefault(miss, []).append(k)
                    for miss, ks in need.items():
                        sent: list[str] = []
                        samples = []
                        for k in ks:
                            try:
                                samples.append(_client_sample(units[k], g.as_uri))
                                sent.append(k)
                            except (OSError, ValueError) as exc:  # unreadable now: fail it here, keep the run
                                for n in miss:
                                    col.outcomes[n][k] = Outcome(
                                        error_code="INVALID_ARGUMENT", error_message=str(exc)
                                    )
                        if sent:
                            fn = g.client.score if kind == "score" else g.client.embed
                            calls.append((g, kind, miss, sent, pool.submit(fn, samples, miss)))
            failure: BenchRunError | None = None
            for g, kind, names, ks, fut in calls:
                try:
                    results = fut.result()
                except RewardError as err:
                    failure = failure or _call_failed(g, err, store)
                    continue
                got = (
                    _score_outcomes(g, names, results, ks)
                    if kind == "score"
                    else _embed_outcomes(names, results, ks)
                )
                for n, items in got.items():
                    keep = {s: o for s, o in items.items() if o.ok or o.error_code in PERSISTENT_ERROR_CODES}
                    store.put(g.keys[n], kind, keep)
                    col.outcomes[n].update(items)
                    col.computed += len(items)
            if failure is not None:
                raise failure
            bar.update(len(chunk))
    finally:
        bar.close()
        pool.shutdown(wait=False, cancel_futures=True)
    return col


@contextmanager
def _session(
    cfg: VBenchConfig, scorers: tuple[str, ...], session: list[_Group] | None
) -> Iterator[list[_Group]]:
    if session is not None:
        yield session
        return
    with open_session(cfg.session_config(), scorers) as groups:
        yield groups


def _values(dim: Dimension, oc: Outcome) -> dict[str, Any] | str:
    """The scorer's per-video values, or why they are unusable."""
    have: dict[str, Any] = dict(oc.scores or {}) if dim.rpc == "score" else dict(oc.embeddings or {})
    lacking = [w for w in dim.wire_outputs if w not in have]
    if lacking:
        return f"{dim.scorer} returned no {', '.join(lacking)}"
    return {field: have[w] for field, w in zip(dim.outputs, dim.wire_outputs, strict=True)}


def run_plan(
    cfg: VBenchConfig, plan: Plan, dims: list[Dimension], session: list[_Group] | None = None
) -> VBenchRun:
    """Score every located video of every dimension and aggregate; nothing is written here."""
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    units_by_pos, pre_errors = plan_units(plan, dims)
    units: dict[str, Unit] = {u.key: u for u in units_by_pos.values()}
    asks: dict[str, set[str]] = {k: set() for k in units}
    for (dim_name, _), u in units_by_pos.items():
        asks[u.key].add(f"vbench_{dim_name}")
    scorers = tuple(sorted({d.scorer for d in dims}))
    kinds = {d.scorer: d.rpc for d in dims}
    store_path = cfg.store_path or cfg.out / STORE_NAME
    col = _Collected()
    infos: dict[str, Any] = {}
    labels: dict[str, list[str]] = {}
    if units:
        with ExitStack() as stack:
            store = stack.enter_context(ResultStore(store_path))
            groups = stack.enter_context(_session(cfg, scorers, session))
            hosted = {n for g in groups for n in g.group.scorers}
            if not set(scorers) <= hosted:
                raise BenchRunError(f"the session hosts no {', '.join(sorted(set(scorers) - hosted))}")
            groups = [
                replace(g, group=replace(g.group, scorers=tuple(n for n in g.group.scorers if n in scorers)))
                for g in groups
            ]
            groups = [g for g in groups if g.group.scorers]
            for g in groups:
                for n in g.group.scorers:
                    want = "outputs" if kinds[n] == "score" else "embeddings"
                    declared = set(getattr(g.infos[n], want))
                    lacking = [
                        o for o in next(d for d in dims if d.scorer == n).wire_outputs if o not in declared
                    ]
                    if lacking:
                        raise BenchRunError(
                            f"scorer {n} on {g.group.label} declares no {want} {', '.join(lacking)} "
                            "(see the VBench scorer contract in omninft.bench.suites.vbench)"
                        )
            col = _compute(cfg, groups, kinds, asks, units, store)
            infos = {n: g.infos[n] for g in groups for n in g.group.scorers}
            labels = {
                g.group.label if g.embedded is None else "embedded": list(g.group.scorers) for g in groups
            }
    results: list[DimensionResult] = []
    for d in dims:
        videos: list[PerVideo] = []
        errors = [e for e in pre_errors if e.dimension == d.name]
        dropped: list[tuple[str, str]] = []
        for pos, v in enumerate(plan.videos[d.name]):
            unit = units_by_pos.get((d.name, pos))
            if unit is None:
                continue  # its error is in pre_errors
            oc = col.outcomes.get(d.scorer, {}).get(unit.key)
            err = _video_error(d, v, oc)
            if isinstance(err, VideoError):
                errors.append(err)
                continue
            try:
                videos.append(per_video(d.name, str(v.path), err))
            except DroppedVideo as drop:
                dropped.append((str(v.path), str(drop)))
            except (ValueError, KeyError, TypeError) as bad:
                errors.append(
                    VideoError(d.name, str(v.path), v.prompt, v.index, "INVALID_ARGUMENT", str(bad))
                )
        value: float | None = None
        why = ""
        try:
            value = aggregate(d.name, videos)
        except EmptyDimensionError as empty:
            why = str(empty)
            if not plan.videos[d.name]:
                why += " (no video of this dimension was found)"
            elif dropped:
                why += f" ({len(dropped)} dropped by the reference's rule: no frame showed the target object)"
        results.append(DimensionResult(d.name, value, videos, len(plan.videos[d.name]), errors, dropped, why))
    return VBenchRun(plan, results, infos, labels, col.computed, col.reused, started)


def _video_error(d: Dimension, v: Video, oc: Outcome | None) -> VideoError | dict[str, Any]:
    if oc is None:
        return VideoError(d.name, str(v.path), v.prompt, v.index, "INTERNAL", "no result (interrupted?)")
    if not oc.ok:
        return VideoError(d.name, str(v.path), v.prompt, v.index, oc.error_code, oc.error_message)
    got = _values(d, oc)
    if isinstance(got, str):
        return VideoError(d.name, str(v.path), v.prompt, v.index, "INTERNAL", got)
    return got


def provenance(cfg: VBenchConfig, run: VBenchRun) -> dict[str, Any]:
    """Where the numbers came from: package, git, servers, scorers (weights sha256, protocol), suite, store."""
    from omninft_client import __version__

    used = list(run.infos.values())
    return {
        "package_version": __version__,
        "git_hash": _git_hash(),
        "date": run.started,
        "mode": run.plan.mode,
        "videos": str(cfg.videos),
        "suite": {"path": str(cfg.suite_path) if cfg.suite_path else None, "sha256": cfg.suite_sha256},
        "servers": run.servers,
        "sample_counts": {
            "videos": len({v.path for vs in run.plan.videos.values() for v in vs}),
            "video_dimension_pairs": sum(len(vs) for vs in run.plan.videos.values()),
            "missing": len(run.plan.missing),
            "unusable_files": len(run.plan.unusable),
        },
        "store": {
            "path": str(cfg.store_path or cfg.out / STORE_NAME),
            "outcomes_reused": run.reused,
            "outcomes_computed": run.computed,
        },
        "scorer_options": cfg.embedded_config.get("scorers", {}),  # e.g. a motion_smoothness scale setting
        "tiny_weights": any(s.tiny_weights for s in used),
        "scorers": [
            {
                "name": s.name,
                "version": s.version,
                "weights_id": s.weights_id,
                "weights_sha256": s.weights_sha256,
                "tiny_weights": s.tiny_weights,
                "backend": s.backend,
                "device": s.device,
                "protocol": s.protocol,
            }
            for s in used
        ],
    }
