"""What an embedded reward server spent its time on during a run: decodes and per-stage seconds from /metrics.

The server counts every media stream it decodes (``omninft_decodes_total``, cache hits apart) and the seconds
each scorer spends per stage (``omninft_stage_seconds_total``: decode, preprocess, forward, postprocess; forward
is timed inside the device thread, so waiting for it is not counted). A run reads them once, just before the
embedded server stops, and records them in ``results.json`` (``provenance.server_stats``); warm-up and
start-up forwards are included because the run's wall time includes them too.
"""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

STAGES = ("decode", "preprocess", "forward", "postprocess")


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for the embedded server's metricsPort)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_server_stats(text: str) -> dict[str, Any]:
    """Decodes per modality, decode-cache hits and stage seconds per scorer from a Prometheus exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    decodes: dict[str, float] = {}
    reuses: dict[str, float] = {}
    stages: dict[str, dict[str, float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "omninft_decodes_total":
                decodes[s.labels.get("modality", "")] = float(s.value)
            elif s.name == "omninft_decode_cache_hits_total":
                reuses[s.labels.get("modality", "")] = float(s.value)
            elif s.name == "omninft_stage_seconds_total":
                scorer = s.labels.get("scorer") or "(decode)"
                stages.setdefault(scorer, {})[s.labels.get("stage", "")] = float(s.value)
    by_stage = {st: sum(v.get(st, 0.0) for v in stages.values()) for st in STAGES}
    return {
        "decodes": dict(sorted(decodes.items())),
        "decode_cache_hits": dict(sorted(reuses.items())),
        "stage_seconds": {k: dict(sorted(v.items())) for k, v in sorted(stages.items())},
        "stage_seconds_total": by_stage,
        "forward_s": by_stage["forward"],
    }


def scrape_server_stats(port: int, timeout_s: float = 10.0) -> dict[str, Any]:
    """`parse_server_stats` of the server whose metrics listen on 127.0.0.1:port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
        return parse_server_stats(resp.read().decode())


def merge_server_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several servers' stats as one (counters summed; stage tables keyed by scorer, which servers do not share)."""
    out: dict[str, Any] = {
        "decodes": {},
        "decode_cache_hits": {},
        "stage_seconds": {},
        "stage_seconds_total": dict.fromkeys(STAGES, 0.0),
        "forward_s": 0.0,
        "ready_s": [],
    }
    for p in parts:
        for key in ("decodes", "decode_cache_hits"):
            for m, v in p.get(key, {}).items():
                out[key][m] = out[key].get(m, 0.0) + v
        for scorer, st in p.get("stage_seconds", {}).items():
            mine = out["stage_seconds"].setdefault(scorer, {})
            for k, v in st.items():
                mine[k] = mine.get(k, 0.0) + v
        for k in STAGES:
            out["stage_seconds_total"][k] += p.get("stage_seconds_total", {}).get(k, 0.0)
        out["forward_s"] += p.get("forward_s", 0.0)
        if p.get("ready_s") is not None:
            out["ready_s"].append(p["ready_s"])
    return out
