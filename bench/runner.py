"""Run JavisBench over a folder of generated samples through reward servers (embedded, remote, or routed).

Per chunk of samples: one Score call per server group with every per-sample scorer that still lacks a
value, one Embed call with every embedding scorer (I3D, AudioCLIP) that does; each outcome goes to the
resumable store before the next chunk. Aggregation (means, Fréchet/MMD against the reference cache,
per-category values) reads only the store, so a resumed run gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import math
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from omninft.bench.embedded import EmbeddedServer, EmbeddedServerSpec
from omninft.bench.metrics import set_math
from omninft.bench.reference import ReferenceFeatures, load_reference
from omninft.bench.report import to_html, to_markdown
from omninft.bench.results import (
    MIN_SET_SAMPLES,
    BenchResult,
    SampleError,
    category_apply,
    category_indices,
    category_means,
    mean_or_nan,
    set_metric_na_reason,
)
from omninft.bench.server_stats import free_local_port, merge_server_stats, scrape_server_stats
from omninft.bench.servers import (
    ServerGroup,
    load_route_protocols,
    load_routes,
    plan_groups,
    unreachable_reason,
)
from omninft.bench.store import PERSISTENT_ERROR_CODES, Outcome, ResultStore, ScorerKey, sample_key
from omninft.bench.suites.javisbench.backends import embedded_backend
from omninft.bench.suites.javisbench.categories import CATEGORY_SIZES
from omninft.bench.suites.javisbench.metrics import (
    MetricRoute,
    Route,
    SetMetricRoute,
    resolve_metrics,
    scorers_of,
)
from omninft.bench.suites.javisbench.prompts import SampleFiles, load_prompts, locate_samples, sample_stem

log = logging.getLogger(__name__)

PROTOCOL = "javisbench-v1"
STORE_NAME = "store.sqlite"


class BenchRunError(RuntimeError):
    """A run could not finish (a server died or refused); what was computed is kept in the store."""


@dataclass
class JavisBenchConfig:
    """Everything `omninft-bench run javisbench` needs."""

    samples: Path
    prompts: Path
    out: Path
    metrics: list[str] = field(default_factory=list)
    limit: int | None = None
    server: str = ""  # one address for every scorer; empty: routes or an embedded local server
    servers_file: Path | None = None  # routes.yaml: scorer -> address or list of addresses
    weights: str = "tiny"
    backend: str = "torch"
    device: str = "cpu"
    batch_size: int = 8
    chunk_size: int = 16  # samples per request round and store write
    timeout_s: float = 1800.0
    connect_timeout_s: float = (
        10.0  # TCP reachability of each remote address, checked before waiting for readiness
    )
    server_start_timeout_s: float = 600.0  # embedded server: load + warm-up before the run gives up
    token: str | None = None
    verbose: bool = False
    progress: bool = True
    reference_cache: Path | None = None
    embedded_config: dict[str, Any] = field(default_factory=dict)  # merged into the embedded server's config
    send_uris: bool | None = (
        None  # None: file:// URIs for the embedded server, container bytes for remote ones
    )
    store_path: Path | None = None  # default: <out>/store.sqlite
    allowed_roots: tuple[
        Path, ...
    ] = ()  # folders the embedded server may read via file:// (default: samples)
    skipped: dict[str, str] = field(default_factory=dict)  # metrics left out before the run, and why
    protocol: str = (
        PROTOCOL  # set-level arithmetic (bench.metrics.protocols): reference or a corrected variant
    )
    progress_label: str = "scoring samples"  # the sample progress bar's label


def _git_hash() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _to_client_sample(files: SampleFiles, *, as_uri: bool, sample_id: str = "") -> Any:
    """The wire sample of a row (file:// URIs, or the files' bytes)."""
    from omninft_client import Sample, media

    video = media.video_file(files.video, as_uri=as_uri) if files.video else None
    audio = media.audio_file(files.audio, as_uri=as_uri) if files.audio else None
    return Sample(
        id=sample_id or sample_stem(files.row.index),
        prompt=files.row.text,
        audio_prompt=files.row.audio_text,
        video=video,
        audio=audio,
    )


def _progress(
    total: int, initial: int, enabled: bool, desc: str = "scoring samples", unit: str = "sample"
) -> Any:
    from omninft.bench.progress import progress_bar

    return progress_bar(total, initial, enabled, desc=desc, unit=unit)


@dataclass
class _Group:
    """A server group with its open client and the identities of its scorers."""

    group: ServerGroup
    client: Any
    keys: dict[str, ScorerKey]
    outputs: dict[str, tuple[str, ...]]
    infos: dict[str, Any]
    embedded: EmbeddedServer | None = None
    as_uri: bool = False


def _describe(
    group: ServerGroup, addresses: tuple[str, ...], cfg: JavisBenchConfig
) -> tuple[dict[str, Any], Any]:
    """Wait for every address of a group, check it hosts the group's scorers with one identity each."""
    from omninft_client import RewardClient, RewardError

    infos: dict[str, Any] = {}
    first_desc = None
    for addr in addresses:
        why = unreachable_reason(addr, cfg.connect_timeout_s)
        if why is not None:
            raise BenchRunError(f"reward server {addr}: {why}")
        try:
            with RewardClient(
                addr, timeout_s=cfg.timeout_s, token=cfg.token, protocol=group.protocol
            ) as probe:
                desc = probe.wait_ready(timeout_s=cfg.timeout_s)
        except RewardError as err:
            raise BenchRunError(f"reward server {addr} is not reachable or not ready: {err}") from None
        first_desc = first_desc or desc
        for name in group.scorers:
            if name not in desc.names:
                raise BenchRunError(
                    f"reward server {addr} does not host scorer {name!r} (it hosts: "
                    f"{', '.join(desc.names) or 'nothing'})"
                )
            info = desc.scorer(name)
            seen = infos.setdefault(name, info)
            if (seen.version, seen.weights_sha256, seen.protocol) != (
                info.version,
                info.weights_sha256,
                info.protocol,
            ):
                raise BenchRunError(
                    f"servers {group.label} disagree on scorer {name!r}: version/weights/protocol "
                    f"{seen.version}/{seen.weights_sha256[:12]}/{seen.protocol} vs "
                    f"{info.version}/{info.weights_sha256[:12]}/{info.protocol}"
                )
    return infos, first_desc


def embedded_spec(
    scorers: tuple[str, ...],
    *,
    weights: str,
    backend: str,
    device: str,
    batch_size: int,
    allowed_roots: tuple[Path, ...],
    embedded_config: dict[str, Any],
    startup_timeout_s: float = 600.0,
) -> EmbeddedServerSpec:
    """The local server a JavisBench run embeds (`run`) or keeps warm (`serve-local`).

    backend "auto" picks each scorer's faster backend for these weights (suites.javisbench.backends); a
    backend named in the embedded config's `scorers.<name>` wins over it.
    """
    extra = dict(embedded_config)
    per_scorer = {k: dict(v) for k, v in (extra.pop("scorers", {}) or {}).items() if isinstance(v, dict)}
    if backend == "auto":
        for name in scorers:
            own = per_scorer.get(name, {})
            chosen = embedded_backend(name, str(own.get("weights", weights)), str(own.get("device", device)))
            per_scorer[name] = {"backend": chosen, **own}
        backend = "torch"
    return EmbeddedServerSpec(
        scorers=scorers,
        weights=weights,
        backend=backend,
        device=device,
        max_batch_size=batch_size,
        allowed_roots=tuple(str(r.resolve()) for r in allowed_roots),
        extra_scorer_options=per_scorer,
        extra_config=extra,
        startup_timeout_s=startup_timeout_s,
    )


@contextmanager
def open_session(cfg: JavisBenchConfig, scorers: tuple[str, ...]) -> Iterator[list[_Group]]:
    """Start the embedded server if any scorer needs it, open one client per group, describe the scorers.

    A session can serve several `collect` calls (e.g. the demo's reference build and its run).
    """
    from omninft_client import RetryPolicy, RewardClient

    routes = load_routes(cfg.servers_file) if cfg.servers_file else {}
    protocols = load_route_protocols(cfg.servers_file) if cfg.servers_file else {}
    groups = plan_groups(scorers, routes, cfg.server, protocols)
    retry = RetryPolicy(max_attempts=5, initial_backoff_s=0.2, max_backoff_s=4.0)
    with ExitStack() as stack:
        opened: list[_Group] = []
        for g in groups:
            embedded = None
            addresses = g.addresses
            if not addresses:
                cfg.out.mkdir(parents=True, exist_ok=True)
                extra = dict(cfg.embedded_config)
                if "metricsPort" not in extra:  # read once before it stops: decodes and stage seconds
                    extra["metricsPort"] = free_local_port()
                # A one-shot run's first batch pays the first-call costs a warm-up would; the warm-up sample's own
                # forward (a full padded window for Synchformer/ImageBind) would be pure overhead. Long-lived
                # servers (serve-local, omninft-serve) still warm up before SERVING; `warmup: true` restores it.
                extra.setdefault("warmup", False)
                spec = embedded_spec(
                    g.scorers,
                    weights=cfg.weights,
                    backend=cfg.backend,
                    device=cfg.device,
                    batch_size=cfg.batch_size,
                    allowed_roots=cfg.allowed_roots or (cfg.samples,),
                    embedded_config=extra,
                    startup_timeout_s=cfg.server_start_timeout_s,
                )
                embedded = EmbeddedServer(spec, log_path=cfg.out / "server.log")
                try:
                    stack.enter_context(embedded)
                except (RuntimeError, TimeoutError) as err:
                    raise BenchRunError(
                        _embedded_failure(g.scorers, str(err), cfg.out / "server.log")
                    ) from None
                addresses = (embedded.address,)
            infos, _ = _describe(g, addresses, cfg)
            client = stack.enter_context(
                RewardClient(
                    list(addresses) if len(addresses) > 1 else addresses[0],
                    timeout_s=cfg.timeout_s,
                    token=cfg.token,
                    retry=retry,
                    protocol=g.protocol,
                )
            )
            keys = {n: ScorerKey(n, i.version, i.weights_sha256, i.protocol) for n, i in infos.items()}
            as_uri = cfg.send_uris if cfg.send_uris is not None else embedded is not None
            opened.append(
                _Group(g, client, keys, {n: i.outputs for n, i in infos.items()}, infos, embedded, as_uri)
            )
        yield opened


def _embedded_failure(scorers: tuple[str, ...], detail: str, log_path: Path) -> str:
    """One line for an embedded server that did not start: the server's own 'Error:' line when it printed one."""
    said = [ln.removeprefix("Error: ").strip() for ln in detail.splitlines() if ln.startswith("Error: ")]
    if said:
        return f"the embedded reward server for {', '.join(scorers)} did not start: {said[-1]}"
    return f"the embedded reward server for {', '.join(scorers)} did not start (log: {log_path}): {detail}"


def _call_failed(g: _Group, err: Exception, store: ResultStore) -> BenchRunError:
    """A clear message for a server that failed a whole call (dead, refusing, overloaded past retries)."""
    where = f"reward server {g.group.label} (scorers {', '.join(g.group.scorers)})"
    extra = ""
    if g.embedded is not None and g.embedded.returncode is not None:
        where = f"the embedded reward server (scorers {', '.join(g.group.scorers)}) exited with code {g.embedded.returncode}"
        extra = f"\n--- server log tail ---\n{g.embedded.log_tail()}"
    return BenchRunError(
        f"{where} failed: {err}. Every finished chunk is saved in {store.path}; rerun the same "
        f"command to resume.{extra}"
    )


def _score_outcomes(
    g: _Group, names: tuple[str, ...], results: list[Any], ids: list[str]
) -> dict[str, dict[str, Outcome]]:
    out: dict[str, dict[str, Outcome]] = {n: {} for n in names}
    for sid, res in zip(ids, results, strict=True):
        for n in names:
            err = res.error or res.scorer_errors.get(n)
            if err is not None:
                out[n][sid] = Outcome(error_code=err.code, error_message=err.message)
            else:
                out[n][sid] = Outcome(scores={o: res.scores[o] for o in g.outputs[n] if o in res.scores})
    return out


def _embed_outcomes(
    names: tuple[str, ...], results: list[Any], ids: list[str]
) -> dict[str, dict[str, Outcome]]:
    out: dict[str, dict[str, Outcome]] = {n: {} for n in names}
    for sid, res in zip(ids, results, strict=True):
        for n in names:
            err = res.error or res.scorer_errors.get(n)
            if err is not None:
                out[n][sid] = Outcome(error_code=err.code, error_message=err.message)
                continue
            prefix = f"{n}."
            embs = {k[len(prefix) :]: v for k, v in res.embeddings.items() if k.startswith(prefix)}
            out[n][sid] = Outcome(embeddings=embs)
    return out


@dataclass
class _Collected:
    """Every outcome of the run, per (scorer, kind): stored ones plus this run's transient failures."""

    outcomes: dict[tuple[str, str], dict[str, Outcome]] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    server_stats: dict[str, Any] | None = None  # the embedded server's decodes and stage seconds


def _compute(
    cfg: JavisBenchConfig,
    groups: list[_Group],
    score_scorers: set[str],
    embed_scorers: set[str],
    todo: list[SampleFiles],
    skeys: dict[int, str],
    store: ResultStore,
) -> _Collected:
    """Fill the store chunk by chunk; returns all outcomes for the listed samples."""
    from omninft_client import RewardError

    col = _Collected()
    plan = [
        (
            g,
            tuple(n for n in g.group.scorers if n in score_scorers),
            tuple(n for n in g.group.scorers if n in embed_scorers),
        )
        for g in groups
    ]
    ids_all = [skeys[f.row.index] for f in todo]
    for g, s_names, e_names in plan:
        for kind, names in (("score", s_names), ("embed", e_names)):
            for n in names:
                found = store.get(ids_all, g.keys[n], kind)
                col.outcomes[(n, kind)] = found
                col.reused += len(found)
    pending = [
        f
        for f in todo
        if any(
            skeys[f.row.index] not in col.outcomes[(n, k)]
            for g, s, e in plan
            for k, names in (("score", s), ("embed", e))
            for n in names
        )
    ]
    bar = _progress(len(todo), len(todo) - len(pending), cfg.progress, desc=cfg.progress_label)
    pool = ThreadPoolExecutor(
        max_workers=max(1, 2 * len(groups)) * max(1, cfg.chunk_size), thread_name_prefix="javisbench"
    )
    try:
        for start in range(0, len(pending), cfg.chunk_size):
            chunk = pending[start : start + cfg.chunk_size]
            ids = [skeys[f.row.index] for f in chunk]
            by_id = dict(zip(ids, chunk, strict=True))
            built: dict[bool, dict[str, Any]] = {}

            def client_samples(
                sids: list[str],
                as_uri: bool,
                by_id: dict[str, SampleFiles] = by_id,
                built: dict[bool, dict[str, Any]] = built,
            ) -> list[Any]:
                cache = built.setdefault(as_uri, {})
                for sid in sids:
                    if sid not in cache:
                        # The store key, not the stem, is the wire id so results map back unambiguously.
                        cache[sid] = _to_client_sample(by_id[sid], as_uri=as_uri, sample_id=sid)
                return [cache[sid] for sid in sids]

            calls = []
            for g, s_names, e_names in plan:
                for kind, names in (("score", s_names), ("embed", e_names)):
                    if not names:
                        continue
                    need: dict[frozenset[str], list[str]] = {}
                    for sid in ids:
                        miss = frozenset(n for n in names if sid not in col.outcomes[(n, kind)])
                        if miss:
                            need.setdefault(miss, []).append(sid)
                    for miss, sids in need.items():
                        ordered = tuple(n for n in names if n in miss)
                        fn = g.client.score if kind == "score" else g.client.embed
                        # One call per sample, all in flight at once: the server's micro-batcher still batches
                        # them, and each sample is stored as soon as it is scored (Ctrl-C keeps it).
                        for sid in sids:
                            fut = pool.submit(fn, client_samples([sid], g.as_uri), ordered)
                            calls.append((g, kind, ordered, [sid], fut))
            left = {sid: 0 for sid in ids}
            for *_, sids, _fut in calls:
                for sid in sids:
                    left[sid] += 1
            bar.update(sum(1 for v in left.values() if v == 0))
            by_future = {c[-1]: c for c in calls}
            failure: BenchRunError | None = None
            for fut in as_completed(by_future):
                g, kind, names, sids, _ = by_future[fut]
                try:
                    results = fut.result()
                except RewardError as err:
                    # Keep collecting: the calls that did finish are stored before the run stops.
                    failure = failure or _call_failed(g, err, store)
                    continue
                got = (
                    _score_outcomes(g, names, results, sids)
                    if kind == "score"
                    else _embed_outcomes(names, results, sids)
                )
                for n, items in got.items():
                    keep = {s: o for s, o in items.items() if o.ok or o.error_code in PERSISTENT_ERROR_CODES}
                    store.put(g.keys[n], kind, keep)
                    col.outcomes[(n, kind)].update(items)
                    col.computed += len(items)
                for sid in sids:
                    left[sid] -= 1
                    if left[sid] == 0:
                        bar.update(1)
            if failure is not None:
                raise failure
    finally:
        bar.close()
        # On failure or Ctrl-C do not wait for calls in flight; closing the clients cancels them.
        pool.shutdown(wait=False, cancel_futures=True)
    return col


def collect(
    cfg: JavisBenchConfig,
    todo: list[SampleFiles],
    score_scorers: set[str],
    embed_scorers: set[str],
    store_path: Path,
    session: list[_Group] | None = None,
) -> tuple[_Collected, dict[int, str], dict[str, Any], dict[str, list[str]]]:
    """Fill the store for `todo` (in `session`, or in servers opened for this call); returns outcomes, store
    keys, scorer infos and server labels."""
    skeys = {
        f.row.index: sample_key(sample_stem(f.row.index), f.row.text, f.row.audio_text, [f.video, f.audio])
        for f in todo
    }
    scorers = tuple(sorted(score_scorers | embed_scorers))
    with ExitStack() as stack:
        store = stack.enter_context(ResultStore(store_path))
        groups = session if session is not None else stack.enter_context(open_session(cfg, scorers))
        hosted = {n for g in groups for n in g.group.scorers}
        if not set(scorers) <= hosted:
            raise BenchRunError(f"the session hosts no {', '.join(sorted(set(scorers) - hosted))}")
        groups = [
            replace(g, group=replace(g.group, scorers=tuple(n for n in g.group.scorers if n in scorers)))
            for g in groups
        ]
        groups = [g for g in groups if g.group.scorers]
        col = _compute(cfg, groups, score_scorers, embed_scorers, todo, skeys, store)
        col.server_stats = _embedded_stats(groups)
        infos = {n: g.infos[n] for g in groups for n in g.group.scorers}
        labels = {g.group.label if g.embedded is None else "embedded": list(g.group.scorers) for g in groups}
    return col, skeys, infos, labels


def _embedded_stats(groups: list[_Group]) -> dict[str, Any] | None:
    """Decodes, stage seconds and ready time of the embedded servers of `groups` (None when none has metrics).

    Counters are cumulative over the server's life: in a session shared by several `collect` calls they cover
    every call so far.
    """
    parts = []
    for g in groups:
        if g.embedded is None:
            continue
        port = int(g.embedded.spec.extra_config.get("metricsPort") or 0)
        if port <= 0:
            continue
        try:
            stats = scrape_server_stats(port)
        except (OSError, ValueError) as err:  # stats are a report extra: never fail the run over them
            log.warning("could not read the embedded server's metrics on port %d: %s", port, err)
            continue
        stats["ready_s"] = g.embedded.ready_s
        parts.append(stats)
    return merge_server_stats(parts) if parts else None


def _set_metric(route: SetMetricRoute, fake: np.ndarray, real: np.ndarray, protocol: str = PROTOCOL) -> float:
    """One set-level value under `protocol` (NaN when fewer than MIN_SET_SAMPLES features on either side)."""
    if fake.shape[0] < MIN_SET_SAMPLES or real.shape[0] < MIN_SET_SAMPLES:
        return float("nan")
    math_ = set_math(protocol)
    # One BLAS thread: LAPACK's SVD on a machine whose cores are busy runs several times faster single-threaded
    # (threads spin waiting for each other), and the result does not depend on the thread count (tested).
    with threadpool_limits(1):
        if route.kind == "frechet":
            return route.scale * math_.frechet(fake, real)
        return route.scale * math_.kvd(fake, real)


@functools.lru_cache(maxsize=1)
def _set_math_source_digest() -> str:
    """sha256 of the set-level math's source: a stored value is reused only while that code is unchanged."""
    from omninft.bench.metrics import frechet, mmd, protocols

    h = hashlib.sha256()
    for module in (frechet, mmd, protocols):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()


def set_value_digest(route: SetMetricRoute, protocol: str, fake: np.ndarray, real: np.ndarray) -> str:
    """Identity of one set-level value: its metric, protocol, the set math's code and both feature matrices."""
    h = hashlib.sha256(
        json.dumps([route.key, route.kind, route.scale, protocol, _set_math_source_digest()]).encode()
    )
    for feats in (fake, real):
        a = np.ascontiguousarray(feats)
        h.update(json.dumps([a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class _SetMetricProgress:
    """A one-line progress report for the set metrics (they run after the sample bar has finished)."""

    def __init__(self, total: int, reused: int, enabled: bool, key: str) -> None:
        # Nothing to show when every value is reused (a resumed run); otherwise count the reused ones as done.
        self.bar = _progress(
            total, reused, enabled and reused < total, desc=f"set metrics ({key})", unit="set"
        )

    def step(self, label: str) -> None:
        """One set computed."""
        self.bar.set_postfix_str(label, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        """Finish the line."""
        self.bar.close()


def run_javisbench(
    cfg: JavisBenchConfig, routes: list[Route] | None = None, session: list[_Group] | None = None
) -> BenchResult:
    """Score every sample, aggregate the official keys, write results.json, report.md/html, per_sample.jsonl."""
    routes = routes if routes is not None else resolve_metrics(cfg.metrics)
    if not routes:
        raise ValueError("no metric to compute")
    set_math(cfg.protocol)  # an unknown protocol fails before any scoring
    score_routes = [r for r in routes if isinstance(r, MetricRoute)]
    set_routes = [r for r in routes if isinstance(r, SetMetricRoute)]
    reference: ReferenceFeatures | None = None
    if set_routes:
        if cfg.reference_cache is None:
            raise ValueError(
                f"{', '.join(r.key for r in set_routes)} need the ground-truth feature cache: pass "
                "--reference-cache FILE (official JavisBench-*-vanilla-max4s.pt, or one made by "
                "`omninft-bench reference build`)"
            )
        reference = load_reference(cfg.reference_cache)
        for set_route in set_routes:
            if set_route.reference not in reference.features:
                raise ValueError(
                    f"{set_route.key} needs {set_route.reference!r} features; {cfg.reference_cache} has "
                    f"{sorted(reference.features)}"
                )
    rows = load_prompts(cfg.prompts, limit=cfg.limit)
    if not rows:
        raise ValueError(f"{cfg.prompts} has no rows")
    located = locate_samples(cfg.samples, rows)
    todo = [f for f in located if not f.problem]
    scorers = scorers_of(routes)
    store_path = cfg.store_path or cfg.out / STORE_NAME
    col, skeys, infos, server_labels = collect(
        cfg, todo, {r.scorer for r in score_routes}, {r.scorer for r in set_routes}, store_path, session
    )
    n = len(rows)
    errors: list[SampleError] = []
    per_sample: dict[str, list[float | None]] = {}
    for f in located:
        if f.problem:
            errors += [
                SampleError(f.row.index, sample_stem(f.row.index), r.key, "NOT_FOUND", f.problem)
                for r in routes
            ]
    for route in score_routes:
        values: list[float | None] = [None] * n
        got = col.outcomes[(route.scorer, "score")]
        for f in todo:
            i = f.row.index
            oc = got.get(skeys[i])
            if oc is None:
                errors.append(
                    SampleError(i, sample_stem(i), route.key, "INTERNAL", "no result (interrupted?)")
                )
            elif not oc.ok:
                errors.append(SampleError(i, sample_stem(i), route.key, oc.error_code, oc.error_message))
            elif oc.scores is None or route.output not in oc.scores:
                errors.append(
                    SampleError(
                        i, sample_stem(i), route.key, "INTERNAL", f"server returned no {route.output}"
                    )
                )
            else:
                v = float(oc.scores[route.output])
                values[i] = v if math.isfinite(v) else None
                if not math.isfinite(v):
                    errors.append(
                        SampleError(
                            i,
                            sample_stem(i),
                            route.key,
                            "INVALID_ARGUMENT",
                            f"{route.output} is not finite for this sample (too short?)",
                        )
                    )
        per_sample[route.key] = values
    cats = [r.categories for r in rows]
    results: dict[str, float] = {}
    categories: dict[str, dict[str, list[float | None]]] = {}
    category_notes: dict[str, dict[str, list[str | None]]] = {}
    category_counts: dict[str, dict[str, list[int]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for r in routes:
        if isinstance(r, MetricRoute):
            vals = per_sample[r.key]
            results[r.key] = mean_or_nan(vals)
            categories[r.key] = category_means(vals, cats, CATEGORY_SIZES)
            category_counts[r.key] = {
                a: [sum(vals[i] is not None for i in idx) for idx in per]
                for a, per in category_indices(cats, CATEGORY_SIZES).items()
            }
            scored = sum(v is not None for v in vals)
        else:
            assert reference is not None
            feats: dict[int, np.ndarray] = {}
            got = col.outcomes[(r.scorer, "embed")]
            for f in todo:
                i = f.row.index
                oc = got.get(skeys[i])
                if oc is None or not oc.ok or not oc.embeddings or r.embedding not in oc.embeddings:
                    code, msg = (
                        ("INTERNAL", "no embedding (interrupted?)")
                        if oc is None
                        else (
                            (oc.error_code, oc.error_message)
                            if not oc.ok
                            else ("INTERNAL", f"server returned no {r.embedding_key}")
                        )
                    )
                    errors.append(SampleError(i, sample_stem(i), r.key, code, msg))
                    continue
                feats[i] = np.asarray(oc.embeddings[r.embedding], np.float64).reshape(-1)
            if feats and reference.rows(r.reference) < max(feats) + 1:
                raise ValueError(
                    f"{cfg.reference_cache} has {reference.rows(r.reference)} {r.reference} rows but the "
                    f"CSV row {max(feats)} needs one (the cache is indexed by CSV row)"
                )
            valid = sorted(feats)
            fake_all = np.stack([feats[i] for i in valid]) if valid else np.zeros((0, 1))
            real_all = reference.take(r.reference, valid).astype(np.float64)
            if valid and fake_all.shape[1] != real_all.shape[1]:
                raise ValueError(
                    f"{r.key}: sample features have {fake_all.shape[1]} dims, the reference "
                    f"{r.reference} features {real_all.shape[1]}"
                )
            pos = {i: p for p, i in enumerate(valid)}
            # Several aspects' categories can hold the same samples (and the whole set): each distinct set once.
            cat_sets = {
                tuple(sorted(i for i in idx if i in pos))
                for per in category_indices(cats, CATEGORY_SIZES).values()
                for idx in per
            }
            todo_sets = sorted(cs for cs in cat_sets | {tuple(valid)} if len(cs) >= MIN_SET_SAMPLES)
            digests = {
                cs: set_value_digest(
                    r, cfg.protocol, fake_all[[pos[i] for i in cs]], real_all[[pos[i] for i in cs]]
                )
                for cs in todo_sets
            }
            memo: dict[tuple[int, ...], float] = {}
            with ResultStore(store_path) as store:
                # A resumed run reuses the values of unchanged sets (same features, same math): no square roots.
                stored = store.get_set_values(list(digests.values()))
                memo.update({cs: stored[d] for cs, d in digests.items() if d in stored})
                progress = _SetMetricProgress(len(todo_sets), len(memo), cfg.progress, r.key)
                try:
                    for cs in todo_sets:
                        if cs in memo:
                            continue
                        sel = [pos[i] for i in cs]
                        memo[cs] = _set_metric(r, fake_all[sel], real_all[sel], cfg.protocol)
                        store.put_set_value(digests[cs], memo[cs])
                        progress.step(f"{r.key} on {len(cs)} samples")
                finally:
                    progress.close()
            results[r.key] = memo.get(tuple(valid), float("nan"))
            na: dict[str, list[str | None]] = {}

            def per_cat(
                idx: list[int], memo: dict[tuple[int, ...], float] = memo, pos: dict[int, int] = pos
            ) -> float:
                return memo.get(tuple(sorted(i for i in idx if i in pos)), float("nan"))

            categories[r.key] = category_apply(per_cat, cats, CATEGORY_SIZES)
            for aspect, per in category_indices(cats, CATEGORY_SIZES).items():
                na[aspect] = [
                    None
                    if sum(i in pos for i in idx) >= MIN_SET_SAMPLES
                    else set_metric_na_reason(sum(i in pos for i in idx))
                    for idx in per
                ]
            category_notes[r.key] = na
            category_counts[r.key] = {
                a: [sum(i in pos for i in idx) for idx in per]
                for a, per in category_indices(cats, CATEGORY_SIZES).items()
            }
            scored = len(valid)
        counts[r.key] = {"total": n, "scored": scored, "failed": n - scored}
    errors.sort(key=lambda e: (e.index, e.metric))
    used = [infos[s] for s in scorers]
    from omninft_client import __version__

    provenance: dict[str, Any] = {
        "package_version": __version__,
        "git_hash": _git_hash(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "servers": server_labels,
        "prompts": str(cfg.prompts),
        "samples": str(cfg.samples),
        "sample_counts": {"rows": n, "found": len(todo), "missing": n - len(todo)},
        "store": {"path": str(store_path), "outcomes_reused": col.reused, "outcomes_computed": col.computed},
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
    if col.server_stats is not None:
        provenance["server_stats"] = col.server_stats
    if reference is not None:
        provenance["reference"] = {
            "path": reference.path,
            "sha256": reference.sha256,
            "rows": {k: reference.rows(k) for k in reference.features},
        }
    result = BenchResult(
        suite="javisbench",
        protocol=cfg.protocol,
        results=results,
        per_sample=per_sample,
        counts=counts,
        errors=errors,
        provenance=provenance,
        tiny_weights=provenance["tiny_weights"],
        categories=categories,
        set_metrics=tuple(r.key for r in set_routes),
        skipped=dict(cfg.skipped),
        higher_is_better={r.key: r.higher_is_better for r in routes},
        category_notes=category_notes,
        category_counts=category_counts,
    )
    write_outputs(result, cfg.out, verbose=cfg.verbose)
    return result


def write_outputs(result: BenchResult, out: Path, *, verbose: bool) -> None:
    """results.json, report.md, report.html and per_sample.jsonl under `out` (atomic replace)."""
    out.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(result.per_sample.values()), []))
    files = {
        "results.json": json.dumps(result.to_json(verbose=verbose), indent=2) + "\n",
        "report.md": to_markdown(result),
        "report.html": to_html(result),
        "per_sample.jsonl": "".join(
            json.dumps(
                {"index": i, "sample": sample_stem(i), **{k: v[i] for k, v in result.per_sample.items()}}
            )
            + "\n"
            for i in range(n)
        ),
    }
    for name, text in files.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
