"""A resumed JavisBench run gives bit-identical numbers to a clean one with the real text/audio towers (issue 13).

A resume changes which samples share a batch (and which prompts share a text-tower call); every scorer's
output must not depend on that. The scorers are the real CLAP and ImageBind graphs with tiny random weights,
served in-process from a thread so they are built once; their text caches are emptied between runs, as a
fresh server would have them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omninft.bench.demo_data import write_demo_set
from omninft.bench.runner import JavisBenchConfig, run_javisbench
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import Scorer, ScorerConfig
from omninft.reward_servers.serving.app import RewardServer, create_server
from omninft.reward_servers.serving.config import ServerConfig

N = 6
METRICS = ["clap_score", "ib_tv", "ib_ta", "ib_av"]


_BUILT: dict[str, Scorer] = {}


def _scorer(name: str) -> Scorer:
    if name not in _BUILT:
        _BUILT[name] = registry.build(name, ScorerConfig(weights="tiny", max_batch_size=8))
    return _BUILT[name]


@pytest.fixture(scope="module")
def scorers() -> dict[str, Scorer]:
    return {name: _scorer(name) for name in ("clap", "imagebind")}


@contextlib.contextmanager
def threaded_server(scorers: dict[str, Scorer]) -> Iterator[RewardServer]:
    """A RewardServer on 127.0.0.1:0 whose event loop runs in a daemon thread (the runner's client is sync)."""
    for s in scorers.values():
        if hasattr(s, "text_cache"):
            s.text_cache.clear()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = create_server(ServerConfig(port=0, metrics_port=-1, warmup=False), scorers)

    def call(coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    try:
        call(server.start(), 30)
        call(server.wait_serving(60), 70)
        yield server
    finally:
        call(server.stop(1), 30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _run(folder: Path, csv_path: Path, out: Path, scorers: dict[str, Scorer], **kw: Any) -> dict[str, Any]:
    with threaded_server(scorers) as server:
        cfg = JavisBenchConfig(
            samples=folder,
            prompts=csv_path,
            out=out,
            metrics=METRICS,
            server=server.address,
            progress=False,
            chunk_size=N,
            timeout_s=120.0,
            **kw,
        )
        run_javisbench(cfg)
    doc: dict[str, Any] = json.loads((out / "results.json").read_text())
    return doc


def test_resumed_run_is_bit_identical_to_a_clean_run(scorers: dict[str, Scorer], tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    csv_path = write_demo_set(folder, n=N, seconds=1.0, height=48, width=64)
    clean = _run(folder, csv_path, tmp_path / "clean", scorers)
    # The interrupted run finished samples 0-1; the resume scores 2-5 in one batch of 4 (the clean run: 6).
    _run(folder, csv_path, tmp_path / "resumed", scorers, limit=2)
    resumed = _run(folder, csv_path, tmp_path / "resumed", scorers)
    store = resumed["provenance"]["store"]
    assert store["outcomes_reused"] == 2 * 2 and store["outcomes_computed"] == 2 * (N - 2), store
    assert set(clean["results"]) == set(METRICS)
    assert resumed["results"] == clean["results"]


@pytest.mark.parametrize("name", ["clap", "imagebind", "videoalign"])
def test_outputs_do_not_depend_on_batch_make_up(name: str) -> None:
    scorer = _scorer(name)
    rng = np.random.default_rng(1)
    prompts = ["a dog barks", "a very long caption " * 6, "rain"]
    samples = [
        DecodedSample(
            id=str(i),
            prompt=p,
            audio_prompt=prompts[(i + 1) % 3],
            video=DecodedVideo(rng.integers(0, 256, (12, 48, 64, 3), dtype=np.uint8), 6.0),
            audio=DecodedAudio((0.1 * rng.standard_normal((1, 16000))).astype(np.float32), 16000),
        )
        for i, p in enumerate(prompts)
    ]
    items = [scorer.preprocess(s) for s in samples]

    def scores(order: list[int]) -> dict[int, dict[str, float]]:
        if hasattr(scorer, "text_cache"):
            scorer.text_cache.clear()
        return {
            i: scorer.postprocess(raw).scores
            for i, raw in zip(order, scorer.forward([items[i] for i in order]), strict=True)
        }

    alone = {i: scores([i])[i] for i in range(len(items))}
    assert scores([2, 0, 1]) == alone
    assert scores([1, 0]) == {0: alone[0], 1: alone[1]}
