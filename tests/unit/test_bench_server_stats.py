"""The embedded server's accounting read by a run: decodes and stage seconds, from a real metrics registry."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from omninft.bench.server_stats import (
    merge_server_stats,
    parse_server_stats,
    scrape_server_stats,
)
from omninft.reward_servers.serving.metrics import ServerMetrics


def _metrics() -> ServerMetrics:
    m = ServerMetrics()
    m.observe_stage("", "decode", 0.5)
    m.observe_stage("clip", "preprocess", 1.25)
    m.observe_stage("clip", "forward", 2.0)
    m.observe_stage("clip", "forward", 1.0)
    m.observe_stage("clap", "forward", 0.75)
    m.observe_stage("clap", "postprocess", 0.125)
    for _ in range(3):
        m.count_decode("video")
    m.count_decode("audio")
    m.count_decode("video", reused=True)
    return m


def test_parse_sums_stages_per_scorer_and_counts_decodes() -> None:
    """Hand-summed: forward = 2 + 1 + 0.75; decode-cache hits are kept apart from decodes."""
    stats = parse_server_stats(generate_latest(_metrics().registry).decode())
    assert stats["decodes"] == {"audio": 1.0, "video": 3.0}
    assert stats["decode_cache_hits"] == {"video": 1.0}
    assert stats["stage_seconds"]["clip"] == {"forward": 3.0, "preprocess": 1.25}
    assert stats["stage_seconds"]["(decode)"] == {"decode": 0.5}
    assert stats["forward_s"] == pytest.approx(3.75)
    assert stats["stage_seconds_total"] == pytest.approx(
        {"decode": 0.5, "preprocess": 1.25, "forward": 3.75, "postprocess": 0.125}
    )


def test_parse_of_an_idle_server_is_zero() -> None:
    """No traffic yet: no decodes, zero forward (not an error)."""
    stats = parse_server_stats(generate_latest(ServerMetrics().registry).decode())
    assert stats["decodes"] == {} and stats["forward_s"] == 0.0


def test_merge_adds_servers() -> None:
    """Two servers: counters add, ready times are listed."""
    one = {**parse_server_stats(generate_latest(_metrics().registry).decode()), "ready_s": 4.0}
    two = {**one, "ready_s": None}
    merged = merge_server_stats([one, two])
    assert merged["decodes"] == {"audio": 2.0, "video": 6.0}
    assert merged["forward_s"] == pytest.approx(7.5)
    assert merged["stage_seconds"]["clip"]["forward"] == pytest.approx(6.0)
    assert merged["ready_s"] == [4.0]


def test_scrape_reads_the_http_endpoint() -> None:
    """Through the server's own /metrics endpoint, as a run reads it before the server stops."""
    m = _metrics()
    port = m.start_http("127.0.0.1", 0)
    assert port
    try:
        stats = scrape_server_stats(port)
    finally:
        m.stop_http()
    assert stats["decodes"]["video"] == 3.0 and stats["forward_s"] == pytest.approx(3.75)
