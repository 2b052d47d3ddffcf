"""Assemble and run a reward server: gRPC (+TLS, auth), health, reflection, metrics, scorers, batchers.

`create_server(cfg)` builds; `await server.start()` binds and returns the port at once while scorers load
and warm up in the background (health NOT_SERVING until then); `serve(cfg)` is the blocking entry point
with SIGTERM/SIGINT draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from tritonclient.grpc import service_pb2_grpc

from omninft.reward_servers.media import DecodedSample
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import Scorer, ScorerConfig, ScorerOutput
from omninft.reward_servers.serving.auth import BearerTokenInterceptor, server_credentials
from omninft.reward_servers.serving.batcher import MicroBatcher
from omninft.reward_servers.serving.config import ServerConfig
from omninft.reward_servers.serving.daemon_threads import run_in_daemon_thread
from omninft.reward_servers.serving.decode import DecodePolicy
from omninft.reward_servers.serving.decode_cache import DecodeCache
from omninft.reward_servers.serving.interceptors import (
    ParseRequestInterceptor,
    RequestContextInterceptor,
    use_request_id,
)
from omninft.reward_servers.serving.kserve import KServeServicer
from omninft.reward_servers.serving.maintenance import Maintenance
from omninft.reward_servers.serving.memory import IdleTrimmer, limit_arenas
from omninft.reward_servers.serving.metrics import ServerMetrics
from omninft.reward_servers.serving.servicer import RewardServicer, ServerIdentity
from omninft_client.v1 import reward_pb2_grpc

log = logging.getLogger(__name__)
GIT_HASH_ENV = "OMNINFT_GIT_HASH"
# Scorers loading weight files at the same time; more threads than cores still overlap disk reads and page faults.
LOAD_WORKERS = max(2, min(8, os.cpu_count() or 1))


def package_version() -> str:
    """Installed omninft version, or '0+unknown' when running from an uninstalled tree."""
    try:
        return importlib.metadata.version("omninft")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def git_hash() -> str:
    """$OMNINFT_GIT_HASH, else HEAD of the git checkout this package runs from, else '' (never raises)."""
    env = os.environ.get(GIT_HASH_ENV, "").strip()
    if env:
        return env
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2:
        return ""
    # An installed copy may sit inside some unrelated repository (a venv in a project): only trust the
    # hash when the checkout's reward_servers/ is this very package.
    if Path(lines[0]).resolve() / "reward_servers" != here.parent:
        return ""
    return lines[1]


def client_address(host: str, port: int) -> str:
    """host:port a local client can dial (wildcard binds map to loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


class RewardServer:
    """One gRPC reward server and everything it owns (executors, batchers, metrics endpoint)."""

    def __init__(self, cfg: ServerConfig, scorers: Mapping[str, Scorer] | None = None) -> None:
        self.cfg = cfg.validate()
        self._prebuilt = dict(scorers) if scorers is not None else None
        self._shared_keys: dict[str, list[object]] = {}  # scorer -> registry.sharing keys its build used
        self.metrics = ServerMetrics()
        self.decode_cache = DecodeCache(cfg.decode_cache_bytes)
        self.maintenance = Maintenance()
        self._cpu = ThreadPoolExecutor(max_workers=cfg.decode_workers, thread_name_prefix="omninft-cpu")
        # One forward thread per device, shared by every scorer on it: the GPU runs one batch at a time.
        self._device_pools: dict[str, ThreadPoolExecutor] = {}
        self.scorers: dict[str, Scorer] = {}
        self.batchers: dict[str, MicroBatcher] = {}
        self.servicer: RewardServicer | None = None
        self.kserve: KServeServicer | None = None
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.load_error: BaseException | None = None
        self._server: grpc.aio.Server | None = None
        self._health_server: grpc.aio.Server | None = None
        self.health_port: int | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._loaded: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._stopped = False
        self._trimmer: IdleTrimmer | None = None

    @property
    def address(self) -> str:
        """host:port for local clients (after start)."""
        if self.port is None:
            raise RuntimeError("server not started")
        return client_address(self.cfg.host, self.port)

    @property
    def serving(self) -> bool:
        """True once every scorer is loaded and warmed up."""
        return self.servicer is not None and self.servicer.ready

    async def start(self) -> int:
        """Bind and start serving health at once; scorers load and warm up in the background. Returns the port."""
        cfg = self.cfg
        self._loaded = asyncio.Event()
        self._force = asyncio.Event()
        identity = ServerIdentity(
            package_version=package_version(), git_hash=await asyncio.to_thread(git_hash)
        )
        self.servicer = RewardServicer(
            policy=DecodePolicy(
                limits=cfg.media_limits,
                allowed_roots=tuple(cfg.allowed_uri_roots),
                max_prompt_chars=cfg.max_prompt_chars,
                cache=self.decode_cache if self.decode_cache.enabled else None,
            ),
            max_samples_per_request=cfg.max_samples_per_request,
            max_message_bytes=cfg.max_message_bytes,
            cpu_executor=self._cpu,
            identity=identity,
            metrics=self.metrics,
        )
        interceptors: list[grpc.aio.ServerInterceptor] = [RequestContextInterceptor(self.metrics)]
        token = cfg.resolve_auth_token()
        if token:
            interceptors.append(BearerTokenInterceptor(token))
        interceptors.append(ParseRequestInterceptor())
        server = grpc.aio.server(interceptors=interceptors, options=self._grpc_options())
        reward_pb2_grpc.add_RewardServiceServicer_to_server(self.servicer, server)
        # KServe v2 / Open Inference Protocol on the same port, over the same pipeline.
        self.kserve = KServeServicer(self.servicer, version=identity.package_version, metrics=self.metrics)
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(self.kserve, server)
        self.maintenance.add_to_server(server)
        bind = _bind_address(cfg.host, cfg.port)
        try:
            if cfg.tls.enabled:
                port = server.add_secure_port(bind, server_credentials(cfg.tls))
            else:
                port = server.add_insecure_port(bind)
        except RuntimeError as exc:
            raise OSError(f"cannot bind gRPC address {bind}: {exc}") from None
        if not port:
            raise OSError(f"cannot bind gRPC address {bind}")
        await self.maintenance.set_serving(False)
        await server.start()
        self._server = server
        self.port = port
        try:
            self.health_port = await self._start_health_server()
            self.metrics_port = self.metrics.start_http(cfg.host, cfg.metrics_port)
        except OSError:
            await server.stop(0)
            if self._health_server is not None:
                await self._health_server.stop(0)
            raise
        log.info(
            "listening on %s (%s); health-only port %s; metrics %s; loading %d scorer(s)",
            self.address,
            "TLS" if cfg.tls.enabled else "plaintext",
            self.health_port if self.health_port is not None else "off",
            f"port {self.metrics_port}" if self.metrics_port else "off",
            len(self._prebuilt) if self._prebuilt is not None else len(cfg.scorers),
        )
        servicer = self.servicer
        assert servicer is not None
        self._trimmer = IdleTrimmer(lambda: servicer.calls, lambda: servicer.inflight)
        self._trimmer.start()
        self._load_task = asyncio.create_task(self._load(), name="omninft-load")
        return port

    async def _start_health_server(self) -> int | None:
        """The plaintext health-only server on `health_port` (for probes that cannot speak TLS), if enabled."""
        if self.cfg.health_port < 0:
            return None
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        # The same servicer object: both ports always report the same status.
        self.maintenance.add_health_only(server)
        bind = _bind_address(self.cfg.host, self.cfg.health_port)
        try:
            port = server.add_insecure_port(bind)
        except RuntimeError as exc:
            raise OSError(f"cannot bind health address {bind}: {exc}") from None
        if not port:
            raise OSError(f"cannot bind health address {bind}")
        await server.start()
        self._health_server = server
        return int(port)

    def _grpc_options(self) -> list[tuple[str, int]]:
        """Channel arguments: message limits, connection age (so new replicas get traffic), no port sharing."""
        cfg = self.cfg
        opts = [
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            ("grpc.max_receive_message_length", cfg.max_message_bytes),
            # Two servers silently sharing a fixed port would split traffic; fail the bind instead.
            ("grpc.so_reuseport", 0),
        ]
        if cfg.max_connection_age_s > 0:
            opts.append(("grpc.max_connection_age_ms", int(cfg.max_connection_age_s * 1000)))
            opts.append(("grpc.max_connection_age_grace_ms", int(cfg.max_connection_age_grace_s * 1000)))
        return opts

    async def _load(self) -> None:
        """Build scorers (off the event loop), create batchers, warm up, then report SERVING."""
        assert self.servicer is not None and self._loaded is not None
        try:
            t0 = time.monotonic()
            scorers = self._prebuilt if self._prebuilt is not None else await self._build_scorers()
            self._check_scorers(scorers)
            for name, scorer in scorers.items():
                info = scorer.info
                pool = self._device_pools.get(info.device)
                if pool is None:
                    pool = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix=f"omninft-forward-{info.device}"
                    )
                    self._device_pools[info.device] = pool
                sc = self.cfg.scorers.get(name, ScorerConfig())
                self.batchers[name] = MicroBatcher(
                    scorer,
                    max_batch_size=info.max_batch_size if info.max_batch_size > 0 else sc.max_batch_size,
                    max_queue_delay_ms=sc.max_queue_delay_ms,
                    max_queue_size=sc.max_queue_size,
                    executor=pool,
                    metrics=self.metrics,
                    name=name,
                )
                self.metrics.register_scorer(info)
            self.scorers = dict(scorers)
            self.servicer.attach(self.scorers, self.batchers)
            if self.cfg.warmup:
                await self._warmup()
            self.servicer.ready = True
            await self.maintenance.set_serving(True)
            log.info("SERVING %s after %.1f s", ", ".join(self.scorers), time.monotonic() - t0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.load_error = exc
            log.exception("loading scorers failed; the server stays NOT_SERVING")
        finally:
            self._loaded.set()

    async def _build_scorers(self) -> dict[str, Scorer]:
        """Register plugins and build each configured scorer in worker threads (daemon threads: a stop while
        loading does not wait for a half-done build).

        Scorers that read weight files load in parallel (file reads, unpickling and tensor copies release the
        GIL). Scorers with tiny/random weights and plugins are built first, one at a time: their seeded
        initialisation uses torch's global RNG and init functions, which a concurrent build could disturb, and
        transformers' loaders swap torch's init functions process-wide while they run.
        """
        for name, target in self.cfg.plugins.items():
            if name in registry.specs():
                log.warning(
                    "plugin %s replaces the built-in scorer %s (server config 'plugins')", target, name
                )
            registry.register(name, target, override=True)
        built: dict[str, Scorer] = {}

        def build_one(name: str, sc: ScorerConfig) -> Scorer:
            log.info(
                "building scorer %s (weights=%s, backend=%s, device=%s)",
                name,
                sc.weights,
                sc.backend,
                sc.device,
            )
            t0 = time.monotonic()
            with registry.recording() as keys:
                scorer = registry.build(name, sc)
            self._shared_keys[name] = list(keys)
            log.info("built scorer %s in %.1f s", name, time.monotonic() - t0)
            return scorer

        items = list(self.cfg.scorers.items())
        parallel = [(n, sc) for n, sc in items if _loads_files(n, sc, set(self.cfg.plugins))]
        serial = [(n, sc) for n, sc in items if (n, sc) not in parallel]
        # Scorers with the same weights (imagebind + imagebind_avh, hpsv3 + hpsv3_video) share one model copy.
        with registry.sharing():
            for name, sc in serial:
                built[name] = await run_in_daemon_thread(build_one, name, sc, name=f"omninft-load-{name}")
            if parallel:
                slots = asyncio.Semaphore(min(len(parallel), LOAD_WORKERS))

                async def load(name: str, sc: ScorerConfig) -> Scorer:
                    # each thread runs in a copy of this context: the same sharing() scope, its own recording()
                    async with slots:
                        return await run_in_daemon_thread(build_one, name, sc, name=f"omninft-load-{name}")

                results = await asyncio.gather(*(load(n, sc) for n, sc in parallel), return_exceptions=True)
                for (name, _), res in zip(parallel, results, strict=True):
                    if isinstance(res, BaseException):
                        raise res
                    built[name] = res
        return {name: built[name] for name, _ in items}

    @staticmethod
    def _check_scorers(scorers: Mapping[str, Scorer]) -> None:
        """Names match, the protocol is implemented, output names do not collide."""
        if not scorers:
            raise ValueError("no scorers configured")
        owner: dict[str, str] = {}
        for name, scorer in scorers.items():
            if not isinstance(scorer, Scorer):
                raise TypeError(
                    f"scorer {name!r} ({type(scorer).__name__}) does not implement the Scorer protocol"
                )
            if scorer.info.name != name:
                raise ValueError(f"scorer registered as {name!r} reports name {scorer.info.name!r}")
            for out in scorer.info.outputs:
                if out in owner:
                    raise ValueError(f"scorers {owner[out]!r} and {name!r} both produce output {out!r}")
                owner[out] = name

    async def _warmup(self) -> None:
        """Run each scorer's warm-up sample through preprocess -> batcher -> postprocess, all at once.

        A scorer whose every shared model (registry.sharing) an earlier scorer already warms up is skipped: the
        model's first-call costs are paid once. The warm-ups run concurrently, so one scorer's preprocessing
        overlaps another's forward; the forwards of a device still run one at a time on its thread.
        """
        assert self.servicer is not None
        warmed: set[object] = set()
        todo: list[str] = []
        for name in self.scorers:
            keys = self._shared_keys.get(name, [])
            if keys and all(k in warmed for k in keys):
                log.info("warm-up of %s skipped: its shared model is warmed up by another scorer", name)
                continue
            warmed.update(keys)
            todo.append(name)

        async def one(name: str) -> None:
            sample: DecodedSample = await asyncio.to_thread(self.scorers[name].warmup_sample)
            t0 = time.monotonic()
            (outcome,) = await self.servicer.run_scorer(name, [sample])  # type: ignore[union-attr]
            if not isinstance(outcome, ScorerOutput):
                raise RuntimeError(f"warm-up of scorer {name!r} failed: {outcome}")
            log.info("warmed up %s in %.2f s: %s", name, time.monotonic() - t0, outcome.scores)

        with use_request_id("warmup"):
            results = await asyncio.gather(*(one(n) for n in todo), return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                raise res

    async def wait_serving(self, timeout: float | None = None) -> None:
        """Wait until SERVING; raises RuntimeError if loading failed, TimeoutError on timeout."""
        if self._loaded is None:
            raise RuntimeError("server not started")
        await asyncio.wait_for(self._loaded.wait(), timeout)
        if self.load_error is not None:
            raise RuntimeError(
                f"reward server failed to load its scorers: {self.load_error}"
            ) from self.load_error

    def force_stop(self) -> None:
        """Cut a drain short (second SIGTERM/SIGINT)."""
        if self._force is not None:
            self._force.set()

    async def stop(self, grace: float | None = None) -> None:
        """Drain: NOT_SERVING, refuse new calls, let in-flight ones finish within `grace`, then shut down."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.cfg.drain_grace_s if grace is None else grace
        if self.servicer is not None:
            self.servicer.draining = True
        await self.maintenance.enter_graceful_shutdown()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        if self.servicer is not None and grace > 0 and self.servicer.inflight:
            assert self._force is not None
            force = asyncio.ensure_future(self._force.wait())
            idle = asyncio.ensure_future(self.servicer.wait_idle(grace))
            await asyncio.wait({force, idle}, return_when=asyncio.FIRST_COMPLETED)
            force.cancel()
            idle.cancel()
            log.info("drained: %d call(s) still in flight", self.servicer.inflight)
        if self._server is not None:
            # Anything still running past the grace is cancelled; its queued items are then skipped.
            await self._server.stop(0)
        if self._health_server is not None:
            await self._health_server.stop(0)
        for batcher in self.batchers.values():
            batcher.cancel_pending()
            try:
                await asyncio.wait_for(batcher.aclose(), timeout=max(grace, 1.0))
            except TimeoutError:
                log.warning("scorer %s: forward still running at shutdown", batcher.name)
        if self._trimmer is not None:
            await self._trimmer.stop()
        self.metrics.stop_http()
        self._cpu.shutdown(wait=False, cancel_futures=True)
        for pool in self._device_pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


def _loads_files(name: str, sc: ScorerConfig, plugins: set[str]) -> bool:
    """Whether a scorer's build reads weight files (so it may load in parallel with other such builds)."""
    return sc.weights not in ("tiny", "random") and name not in plugins and name in registry.specs()


def _bind_address(host: str, port: int) -> str:
    """host:port for binding, bracketing bare IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def create_server(cfg: ServerConfig, scorers: Mapping[str, Scorer] | None = None) -> RewardServer:
    """A server for `cfg`; pass prebuilt `scorers` (tests, embedding) or let it build cfg.scorers."""
    return RewardServer(cfg, scorers)


def write_port_file(path: str | Path, address: str) -> None:
    """Atomically write 'host:port\\n' (readers never see a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{address}\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


async def serve_async(
    cfg: ServerConfig,
    *,
    port_file: str | Path | None = None,
    on_serving: Callable[[RewardServer], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT, then drain; returns the process exit code (1 if scorers failed to load)."""
    limit_arenas()  # before the worker threads exist: fewer arenas keep less freed memory after bursts
    server = create_server(cfg)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signame: str) -> None:
        # Ctrl-C is what a person at a terminal pressed: name it so, and say how to skip the wait.
        label = "Ctrl-C (SIGINT)" if signame == "SIGINT" else signame
        again = "Ctrl-C again" if signame == "SIGINT" else f"{signame} again"
        inflight = server.servicer.inflight if server.servicer is not None else 0
        if stop.is_set():
            log.warning("%s: stopping now, without waiting for %d call(s) in flight", again, inflight)
            server.force_stop()
        else:
            log.info(
                "%s: draining: new calls are refused, %d call(s) in flight get up to %.0f s to finish "
                "(%s stops at once)",
                label,
                inflight,
                cfg.drain_grace_s,
                again,
            )
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        loaded = asyncio.ensure_future(server.wait_serving())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({loaded, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if loaded.done():
            if loaded.exception() is not None:
                stopping.cancel()
                await server.stop(0)
                return 1
            if port_file is not None:
                write_port_file(port_file, server.address)
            if on_serving is not None:
                on_serving(server)
        else:
            loaded.cancel()
        await stopping
        await server.stop(cfg.drain_grace_s)
        log.info("stopped")
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if port_file is not None:
            # The file announces a live server; a stale one would point the next reader at nothing.
            with contextlib.suppress(OSError):
                Path(port_file).unlink()


def serve(
    cfg: ServerConfig,
    *,
    port_file: str | Path | None = None,
    on_serving: Callable[[RewardServer], None] | None = None,
) -> int:
    """Blocking entry point (the CLI's): serve until a signal, then drain. Returns the exit code."""
    return asyncio.run(serve_async(cfg, port_file=port_file, on_serving=on_serving))
