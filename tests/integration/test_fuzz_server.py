"""Seeded random-mutation fuzzing of a real server (issue 13), bounded for CI.

Mutated mp4/mkv/wav containers, raw frame and PCM tensors, file:// URIs and malformed request bodies go
through a server with the test scorers. No response may be INTERNAL or UNKNOWN (whole call, sample or
scorer), the server must stay SERVING and its memory bounded. OMNINFT_FUZZ_SECONDS / OMNINFT_FUZZ_SEED run
it longer or elsewhere outside CI; OMNINFT_FUZZ_SECONDS=0 OMNINFT_FUZZ_MIN_REQUESTS=N runs exactly N requests.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
import soundfile as sf
from grpc_health.v1 import health_pb2

from tests.helpers.fuzz import base_media, corpus, mutated_bodies
from tests.helpers.server import running_server

SECONDS = float(os.environ.get("OMNINFT_FUZZ_SECONDS", "25"))
SEED = int(os.environ.get("OMNINFT_FUZZ_SEED", "13"))
# Requests (of 4 samples) that must run even on a slow machine, and growth of RSS allowed over the run.
MIN_REQUESTS = int(os.environ.get("OMNINFT_FUZZ_MIN_REQUESTS", "40"))
MAX_RSS_GROWTH_MIB = 400
BAD = {grpc.StatusCode.INTERNAL.value[0], grpc.StatusCode.UNKNOWN.value[0]}


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_mutation_corpus_never_yields_internal_or_unknown(tmp_path: Path) -> None:
    sf.write(str(tmp_path / "a.wav"), np.zeros(1600, np.float32), 16000)
    sf.write(os.fsencode(tmp_path) + b"/caf\xe9.wav", np.zeros(1600, np.float32), 16000)
    base = base_media()
    codes: Counter[str] = Counter()
    bad: list[str] = []
    async with running_server(allowed_uri_roots=[str(tmp_path)], decode_workers=2) as r:
        rss0 = _rss_mib()
        deadline = time.monotonic() + SECONDS
        requests = 0
        for req in corpus(SEED, base, tmp_path):
            if requests >= MIN_REQUESTS and time.monotonic() > deadline:
                break
            requests += 1
            try:
                resp = await r.stub.Score(req, timeout=30)
            except grpc.aio.AioRpcError as err:
                codes[f"rpc:{err.code().name}"] += 1
                if err.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    bad.append(f"request {requests}: {err.code().name} {err.details()}")
                continue
            for res in resp.results:
                if res.HasField("error"):
                    codes[f"sample:{res.error.code}"] += 1
                    if res.error.code in BAD:
                        bad.append(f"sample {res.id}: {res.error.message}")
                for name, st in res.scorer_errors.items():
                    codes[f"scorer:{st.code}"] += 1
                    if st.code in BAD:
                        bad.append(f"sample {res.id} scorer {name}: {st.message}")
                codes["scored"] += bool(res.scores)
        raw = r.channel.unary_unary("/omninft.v1.RewardService/Score")
        for body in mutated_bodies(SEED, next(corpus(SEED + 1, base, tmp_path)), 60):
            try:
                await raw(body, timeout=30)
                codes["raw:OK"] += 1
            except grpc.aio.AioRpcError as err:
                codes[f"raw:{err.code().name}"] += 1
                if err.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    bad.append(f"raw body: {err.code().name} {err.details()}")
        assert await r.health_status() == health_pb2.HealthCheckResponse.SERVING
        growth = _rss_mib() - rss0
    print(f"fuzz seed {SEED}: {requests} requests, outcomes {dict(codes)}, RSS +{growth:.0f} MiB")
    assert bad == [], f"{len(bad)} INTERNAL/UNKNOWN outcomes, first: {bad[:5]}"
    invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert codes["scored"] > 0 and codes[f"scorer:{invalid}"] + codes[f"sample:{invalid}"] > 0
    assert growth < MAX_RSS_GROWTH_MIB, f"RSS grew {growth:.0f} MiB"
