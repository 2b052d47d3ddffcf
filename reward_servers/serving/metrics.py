"""Prometheus metrics of one reward server, in its own registry (several servers may share a process)."""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from omninft.reward_servers.scorers.base import ScorerInfo

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_QUEUE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    """All metrics of one server plus its optional HTTP exposition endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "omninft_requests", "RPCs by method and final status code", ["method", "code"], registry=r
        )
        self.request_latency = Histogram(
            "omninft_request_latency_seconds", "RPC latency", ["method"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.queue_time = Histogram(
            "omninft_queue_time_seconds",
            "Time an item waited in a scorer's batch queue",
            ["scorer"],
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "omninft_batch_size", "Items per forward call", ["scorer"], buckets=_BATCH_BUCKETS, registry=r
        )
        self.queue_depth = Gauge(
            "omninft_queue_depth", "Items waiting in a scorer's queue", ["scorer"], registry=r
        )
        self.samples = Counter(
            "omninft_samples",
            "Items per scorer by outcome (ok, invalid, error, deadline)",
            ["scorer", "outcome"],
            registry=r,
        )
        # Triton-style cumulative counters: an HPA rule divides their rates to get the mean queue time
        # per request, like nv_inference_queue_duration_us / nv_inference_request_success.
        self.queue_duration_us = Counter(
            "omninft_queue_duration_us",
            "Cumulative queue time of successfully scored items, microseconds",
            ["scorer"],
            registry=r,
        )
        self.request_success = Counter(
            "omninft_request_success", "Successfully scored items", ["scorer"], registry=r
        )
        # Where the time goes (perf breakdown: decode / preprocess / forward / postprocess) and how often
        # media is decoded (each sample once per request, shared by every scorer in it).
        self.stage_seconds = Counter(
            "omninft_stage_seconds",
            "Seconds spent per scorer and stage (preprocess, forward, postprocess); decode has scorer=''",
            ["scorer", "stage"],
            registry=r,
        )
        self.decodes = Counter(
            "omninft_decodes", "Media streams decoded, by modality", ["modality"], registry=r
        )
        self.decode_reuses = Counter(
            "omninft_decode_cache_hits",
            "Media streams served from the decode cache, by modality",
            ["modality"],
            registry=r,
        )
        self.scorer_info = Gauge(
            "omninft_scorer_info",
            "Loaded scorers (value 1) with version and weights identity",
            ["scorer", "version", "weights_sha256", "tiny"],
            registry=r,
        )
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self.port: int | None = None

    def observe_request(self, method: str, code: str, seconds: float) -> None:
        """Count one finished RPC and its latency."""
        self.requests.labels(method=method, code=code).inc()
        self.request_latency.labels(method=method).observe(seconds)

    def observe_batch(self, scorer: str, size: int) -> None:
        """Record one forward call of `size` items."""
        self.batch_size.labels(scorer=scorer).observe(size)

    def observe_queue(self, scorer: str, seconds: float) -> None:
        """Record how long one item waited before its batch started."""
        self.queue_time.labels(scorer=scorer).observe(seconds)

    def set_queue_depth(self, scorer: str, depth: int) -> None:
        """Current number of queued items of a scorer."""
        self.queue_depth.labels(scorer=scorer).set(depth)

    def count_sample(self, scorer: str, outcome: str, queue_seconds: float = 0.0) -> None:
        """Count one item's outcome; successful ones also feed the Triton-style queue counters."""
        self.samples.labels(scorer=scorer, outcome=outcome).inc()
        if outcome == "ok":
            self.queue_duration_us.labels(scorer=scorer).inc(queue_seconds * 1e6)
            self.request_success.labels(scorer=scorer).inc()

    def observe_stage(self, scorer: str, stage: str, seconds: float) -> None:
        """Add time spent in one pipeline stage."""
        self.stage_seconds.labels(scorer=scorer, stage=stage).inc(seconds)

    def count_decode(self, modality: str, *, reused: bool = False) -> None:
        """Count one media stream: decoded now, or reused from the decode cache."""
        (self.decode_reuses if reused else self.decodes).labels(modality=modality).inc()

    def register_scorer(self, info: ScorerInfo) -> None:
        """Publish a loaded scorer's identity and create its zero-valued series."""
        self.scorer_info.labels(
            scorer=info.name,
            version=info.version,
            weights_sha256=info.weights.sha256,
            tiny=str(info.weights.tiny).lower(),
        ).set(1)
        self.queue_depth.labels(scorer=info.name).set(0)
        self.queue_duration_us.labels(scorer=info.name)
        self.request_success.labels(scorer=info.name)

    def start_http(self, host: str, port: int) -> int | None:
        """Serve /metrics on host:port (0 = ephemeral, -1 = off); returns the bound port or None."""
        if port < 0:
            return None
        server_cls = _MetricsServer6 if ":" in host else _MetricsServer
        try:
            self._http = make_server(
                host.strip("[]"), port, make_wsgi_app(self.registry), server_cls, _QuietHandler
            )
        except OSError as exc:
            raise OSError(
                f"cannot bind the metrics port {host}:{port} ({exc.strerror or exc}); choose "
                "another with --metrics-port N (0 = any free port, -1 = off) or metricsPort"
            ) from None
        # A short poll interval keeps shutdown fast (the default 0.5 s would add to every server stop).
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="omninft-metrics",
            daemon=True,
        )
        self._http_thread.start()
        self.port = int(self._http.server_port)
        return self.port

    def stop_http(self) -> None:
        """Stop the HTTP endpoint if it runs."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
            if self._http_thread is not None:
                self._http_thread.join(timeout=5)


class _MetricsServer(ThreadingMixIn, WSGIServer):
    """Threaded WSGI server for /metrics scrapes."""

    daemon_threads = True


class _MetricsServer6(_MetricsServer):
    """IPv6 variant."""

    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log lines on stderr for every scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        """Drop access logs."""
