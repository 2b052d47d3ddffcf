"""The JavisBench runner against real reward servers on 127.0.0.1:0 hosting the test plugin scorers.

Covers the set-level path (Embed -> store -> Fréchet/MMD against a reference cache), a server dying
mid-run (clear error, store keeps finished chunks), resuming (computes only the rest, same numbers) and
routing scorers to two servers with round robin.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from omninft.bench.demo_data import write_demo_set
from omninft.bench.embedded import EmbeddedServer, EmbeddedServerSpec
from omninft.bench.reference import save_reference
from omninft.bench.runner import BenchRunError, JavisBenchConfig, run_javisbench
from omninft.bench.suites.javisbench.metrics import MetricRoute, SetMetricRoute

PLUGIN = "tests.helpers.scorers:build"
N = 6
ROUTES = [
    SetMetricRoute("fvd", "vemb", "i3d", "video", "frechet"),
    SetMetricRoute("kvd", "vemb", "i3d", "video", "mmd"),
    SetMetricRoute("fad", "aemb", "audioclip", "audio", "frechet", scale=1e4),
    MetricRoute("brightness", "brightness", "brightness", True),
    MetricRoute("loudness_db", "loudness", "loudness_db", True),
]
SCORERS = {
    "brightness": {"options": {"kind": "brightness"}},
    "loudness": {"options": {"kind": "loudness"}},
    "vemb": {"options": {"kind": "video_embed", "embedding": "i3d"}},
    "aemb": {"options": {"kind": "audio_embed", "embedding": "audioclip"}},
}


def _embedded_config(**options: dict[str, Any]) -> dict[str, Any]:
    scorers = {k: {"options": {**v["options"], **options.get(k, {})}} for k, v in SCORERS.items()}
    return {"plugins": {k: PLUGIN for k in SCORERS}, "scorers": scorers}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("samples")
    csv_path = write_demo_set(folder, n=N, seconds=0.5, height=48, width=64)
    sf.write(str(folder / "sample_0005.wav"), np.zeros(8000, np.float32), 16000)  # silent: audio metrics fail
    (folder / "sample_0003.wav").unlink()  # a lone muxed mp4 supplies its own (AAC) audio
    rng = np.random.default_rng(0)
    ref = folder.parent / "ref.npz"
    save_reference(ref, {"video": rng.random((N, 16), np.float32), "audio": rng.random((N, 16), np.float32)})
    return folder, csv_path, ref


def _cfg(dataset: tuple[Path, Path, Path], out: Path, **kw: Any) -> JavisBenchConfig:
    folder, csv_path, ref = dataset
    base = JavisBenchConfig(
        samples=folder,
        prompts=csv_path,
        out=out,
        reference_cache=ref,
        progress=False,
        chunk_size=2,
        timeout_s=60.0,
        embedded_config=_embedded_config(),
        verbose=True,
    )
    return replace(base, **kw)


@pytest.fixture(scope="module")
def resumed(dataset: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run whose server crashes in chunk 2, then the same run again: it resumes from the store."""
    out = tmp_path_factory.mktemp("resumed")
    # Warm-up is 1 item; chunk 1 brings brightness to 3; chunk 2 crosses die_after and kills the server.
    crashing = _cfg(dataset, out, embedded_config=_embedded_config(brightness={"die_after": 3}))
    with pytest.raises(BenchRunError, match=r"exited with code 17.*rerun the same command to resume"):
        run_javisbench(crashing, ROUTES)
    assert not (out / "results.json").exists()
    run_javisbench(_cfg(dataset, out), ROUTES)
    doc: dict[str, Any] = json.loads((out / "results.json").read_text())
    return doc


def test_resume_computes_only_what_the_crash_lost(resumed: dict[str, Any]) -> None:
    store = resumed["provenance"]["store"]
    # Chunk 1 (2 samples x 4 scorers) survived the crash; chunk 2's Embed call may have finished before it.
    assert store["outcomes_reused"] in (4 * 2, 4 * 2 + 2 * 2)
    assert store["outcomes_reused"] + store["outcomes_computed"] == 4 * N


def test_set_level_metrics_exclude_bad_samples(resumed: dict[str, Any]) -> None:
    res = resumed["results"]
    assert res["fvd"]["overall"] > 0 and math.isfinite(res["kvd"]["overall"]) and res["fad"]["overall"] > 0
    assert resumed["counts"]["fvd"] == {"total": N, "scored": N, "failed": 0}
    assert resumed["counts"]["fad"] == {"total": N, "scored": N - 1, "failed": 1}
    assert res["loudness_db"]["all"][5] is None and res["brightness"]["all"][5] is not None
    errs = {(e["sample"], e["metric"]): e["code"] for e in resumed["errors"]}
    assert errs == {
        ("sample_0005", "fad"): "INVALID_ARGUMENT",
        ("sample_0005", "loudness_db"): "INVALID_ARGUMENT",
    }
    assert len(res["fvd"]["0"]) == 5 and "all" not in res["fvd"]  # per-category FD, official layout
    assert res["loudness_db"]["all"][3] is not None  # read from the mp4's audio track


def _same_numbers(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["results"] == b["results"]
    assert a["counts"] == b["counts"] and a["errors"] == b["errors"]


def _server(scorers: list[str]) -> EmbeddedServer:
    cfg = _embedded_config()
    raw = {"plugins": cfg["plugins"], "scorers": {k: cfg["scorers"][k] for k in scorers}}
    return EmbeddedServer(EmbeddedServerSpec(scorers=tuple(scorers)), raw_config=raw)


def test_routes_yaml_with_two_servers(
    dataset: tuple[Path, Path, Path], resumed: dict[str, Any], tmp_path: Path
) -> None:
    """An uninterrupted run on two remote servers gives the resumed run's numbers exactly."""
    a, b = _server(["brightness", "vemb", "aemb"]), _server(["brightness", "loudness", "vemb", "aemb"])
    with ThreadPoolExecutor(2) as pool:  # both start at once
        list(pool.map(EmbeddedServer.start, (a, b)))
    with a, b:
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            f"brightness: [{a.address}, {b.address}]\nvemb: [{a.address}, {b.address}]\n"
            f"aemb: {b.address}\nloudness: {b.address}\n"
        )
        cfg = _cfg(dataset, tmp_path / "out", servers_file=routes, embedded_config={})
        run_javisbench(cfg, ROUTES)  # remote servers: media sent as bytes
        doc = json.loads((tmp_path / "out" / "results.json").read_text())
        _same_numbers(doc, resumed)
        servers = doc["provenance"]["servers"]
        assert servers[f"{a.address},{b.address}"] == ["brightness", "vemb"]
        assert "embedded" not in servers
        routes.write_text(f"loudness: {a.address}\n")  # a does not host loudness
        with pytest.raises(BenchRunError, match="does not host scorer 'loudness'"):
            run_javisbench(replace(cfg, out=tmp_path / "out2", server=b.address), ROUTES)


def test_routes_yaml_with_a_kserve_pool(
    dataset: tuple[Path, Path, Path], resumed: dict[str, Any], tmp_path: Path
) -> None:
    """Scores routed to a server's KServe v2 front (`protocol: kserve`) give the same numbers and errors."""
    with _server(["brightness", "loudness", "vemb", "aemb"]) as b:
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            f"brightness: {{address: {b.address}, protocol: kserve}}\n"
            f"loudness: {{address: [{b.address}], protocol: kserve}}\n"
            f"vemb: {b.address}\naemb: {{address: {b.address}}}\n"
        )
        cfg = _cfg(dataset, tmp_path / "out", servers_file=routes, embedded_config={})
        run_javisbench(cfg, ROUTES)
        doc = json.loads((tmp_path / "out" / "results.json").read_text())
    _same_numbers(doc, resumed)
    servers = doc["provenance"]["servers"]
    assert {k: sorted(v) for k, v in servers.items()} == {
        f"{b.address} (kserve)": ["brightness", "loudness"],
        b.address: ["aemb", "vemb"],
    }
