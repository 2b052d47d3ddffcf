"""Resumable store, reference caches and server routes (pure I/O, no servers)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.bench.reference import load_reference, save_reference
from omninft.bench.servers import parse_route_protocols, parse_routes, plan_groups
from omninft.bench.store import Outcome, ResultStore, ScorerKey, sample_key

KEY = ScorerKey("clip", "1", "ab" * 32, "javisbench-v1")


def test_scores_errors_and_embeddings_round_trip(tmp_path: Path) -> None:
    emb = np.arange(6, dtype=np.float32).reshape(2, 3)
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.put(
            KEY,
            "score",
            {
                "a": Outcome(scores={"clip_score": 0.25}),
                "b": Outcome(error_code="INVALID_ARGUMENT", error_message="audio is silent"),
            },
        )
        store.put(KEY, "embed", {"a": Outcome(embeddings={"i3d": emb})})
    with ResultStore(tmp_path / "s.sqlite") as store:  # reopened: everything was committed
        got = store.get(["a", "b", "c"], KEY, "score")
        assert set(got) == {"a", "b"}
        assert got["a"].scores == {"clip_score": 0.25} and got["a"].ok
        assert not got["b"].ok and got["b"].error_message == "audio is silent"
        e = store.get(["a"], KEY, "embed")["a"].embeddings
        assert e is not None and e["i3d"].dtype == np.float32
        np.testing.assert_array_equal(e["i3d"], emb)
        assert store.count() == 3 and store.count("embed") == 1
    mode = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


@pytest.mark.parametrize("field", ["version", "weights_sha256", "protocol"])
def test_a_different_scorer_identity_misses(tmp_path: Path, field: str) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.put(KEY, "score", {"a": Outcome(scores={"clip_score": 1.0})})
        other = ScorerKey(**{**KEY.__dict__, field: "other"})
        assert store.get(["a"], other, "score") == {}
        assert store.get(["a"], KEY, "embed") == {}


def test_sample_key_follows_prompt_and_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "sample_0000.mp4"
    f.write_bytes(b"abc")
    k1 = sample_key("sample_0000", "a dog", "barking", [f, None])
    assert k1.startswith("sample_0000:") and k1 == sample_key("sample_0000", "a dog", "barking", [f, None])
    assert k1 != sample_key("sample_0000", "a cat", "barking", [f, None])
    f.write_bytes(b"abcd")  # regenerated sample
    assert k1 != sample_key("sample_0000", "a dog", "barking", [f, None])


def test_official_torch_cache_and_npz_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    video, audio = (
        rng.standard_normal((5, 400)).astype(np.float32),
        rng.standard_normal((5, 1024)).astype(np.float32),
    )
    official = tmp_path / "JavisBench-mini-vanilla-max4s.pt"
    torch.save(
        {"video": torch.from_numpy(video), "audio": torch.from_numpy(audio)}, official
    )  # official layout
    ref = load_reference(official)
    assert ref.rows("video") == 5 and ref.features["audio"].shape == (5, 1024) and len(ref.sha256) == 64
    np.testing.assert_array_equal(ref.take("video", [4, 0]), video[[4, 0]])
    save_reference(tmp_path / "ours.pt", {"video": video})
    assert set(torch.load(tmp_path / "ours.pt", weights_only=True)) == {"video"}
    save_reference(tmp_path / "ours.npz", {"audio": audio})
    np.testing.assert_array_equal(load_reference(tmp_path / "ours.npz").features["audio"], audio)
    with pytest.raises(IndexError, match="CSV row 7"):
        ref.take("video", [7])
    with pytest.raises(KeyError, match="no 'audio'"):
        load_reference(tmp_path / "ours.pt").take("audio", [0])


def test_bad_reference_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_reference(tmp_path / "nope.pt")
    torch.save({"x": torch.zeros(2, 2)}, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="no 'video' or 'audio'"):
        load_reference(tmp_path / "wrong.pt")
    torch.save({"video": torch.zeros(2, 2, 2)}, tmp_path / "cube.pt")
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        load_reference(tmp_path / "cube.pt")


def test_routes_group_scorers_by_address_list() -> None:
    routes = parse_routes(
        {"scorers": {"clip": "h1:1", "imagebind": ["h2:1", "h3:1"], "imagebind_avh": ["h2:1", "h3:1"]}}
    )
    groups = plan_groups(("clap", "clip", "imagebind", "imagebind_avh"), routes, default="")
    by = {g.addresses: g.scorers for g in groups}
    assert by == {("h1:1",): ("clip",), ("h2:1", "h3:1"): ("imagebind", "imagebind_avh"), (): ("clap",)}
    assert [g.label for g in groups if not g.addresses] == ["embedded"]
    assert plan_groups(("clap",), {}, default="h9:1")[0].addresses == ("h9:1",)
    with pytest.raises(ValueError, match="clip"):
        parse_routes({"clip": []})


def test_routes_may_name_the_kserve_protocol() -> None:
    data = {
        "hpsv3": {"address": "triton:8001", "protocol": "kserve"},
        "clip": {"address": ["h1:1"]},
        "clap": "h1:1",
    }
    routes, protocols = parse_routes(data), parse_route_protocols(data)
    assert routes == {"hpsv3": ("triton:8001",), "clip": ("h1:1",), "clap": ("h1:1",)}
    assert protocols == {"hpsv3": "kserve", "clip": "omninft", "clap": "omninft"}
    groups = plan_groups(
        ("hpsv3", "clip", "clap", "vbench_x"), routes, default="triton:8001", protocols=protocols
    )
    by = {(g.addresses, g.protocol): g.scorers for g in groups}
    # The default server speaks RewardService even when a routed pool at the same address speaks KServe.
    assert by == {
        (("triton:8001",), "kserve"): ("hpsv3",),
        (("h1:1",), "omninft"): ("clip", "clap"),
        (("triton:8001",), "omninft"): ("vbench_x",),
    }
    assert [g.label for g in groups] == ["triton:8001 (kserve)", "h1:1", "triton:8001"]
    with pytest.raises(ValueError, match="protocol must be one of"):
        parse_routes({"clip": {"address": "h:1", "protocol": "http"}})
    with pytest.raises(ValueError, match="'address'"):
        parse_routes({"clip": {"addr": "h:1"}})
