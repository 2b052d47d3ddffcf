"""weights.py: local resolution, sha256 sidecars and pins, offline errors, HF cache layout, URL downloads."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch

from omninft.reward_servers import weights as W
from omninft.reward_servers.models._family import official_spec


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch):
    monkeypatch.delenv(W.ENV_WEIGHTS_DIR, raising=False)


@pytest.fixture()
def http_root(tmp_path):
    """A static file server on 127.0.0.1 (port 0) serving tmp_path/srv; yields (root dir, base URL)."""
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


def test_local_directory_prefers_safetensors(tmp_path):
    d = tmp_path / "ckpt"
    sha = _write(d / "model.safetensors", b"weights-a")
    _write(d / "pytorch_model.bin", b"weights-b")
    _write(d / "config.json", b"{}")
    r = W.resolve(str(d))
    assert r.path == d.resolve() and r.main_file == d.resolve() / "model.safetensors"
    assert r.sha256 == sha and r.weights_id == f"local:{d.resolve()}"


def test_local_file_and_file_uri(tmp_path):
    f = tmp_path / "x.pt"
    sha = _write(f, b"\x00" * 1000)
    assert W.resolve(str(f)).sha256 == sha
    assert W.resolve(f"file://{f}").sha256 == sha


def test_sharded_checkpoint_hash_covers_every_shard(tmp_path):
    d = tmp_path / "sharded"
    _write(d / "model-00001-of-00002.safetensors", b"one")
    _write(d / "model-00002-of-00002.safetensors", b"two")
    first = W.resolve(str(d)).sha256
    _write(d / "model-00002-of-00002.safetensors", b"TWO")
    assert W.resolve(str(d)).sha256 != first


def test_sha256_sidecar_is_reused_and_invalidated(tmp_path, monkeypatch):
    f = tmp_path / "w.bin"
    sha = _write(f, b"abc" * 1000)
    assert W.cached_sha256(f) == sha
    side = tmp_path / "w.bin.sha256"
    record = json.loads(side.read_text())
    assert record["sha256"] == sha and record["size"] == 3000

    def boom(path):
        raise AssertionError("re-hashed although the sidecar is valid")

    monkeypatch.setattr(W, "sha256_file", boom)
    assert W.cached_sha256(f) == sha
    monkeypatch.undo()
    new_sha = _write(f, b"changed")  # size (and mtime) change -> sidecar stale
    assert W.cached_sha256(f) == new_sha
    assert json.loads(side.read_text())["sha256"] == new_sha


def test_pinned_sha256(tmp_path):
    d = tmp_path / "ckpt"
    sha = _write(d / "model.safetensors", b"payload")
    ok = W.resolve(W.WeightSpec("toy", str(d), sha256={"model.safetensors": sha}))
    assert ok.sha256 == sha
    bad = W.WeightSpec("toy", str(d), sha256={"model.safetensors": "0" * 64})
    with pytest.raises(W.WeightsIntegrityError, match="sha256 mismatch"):
        W.resolve(bad)
    with pytest.raises(FileNotFoundError, match="pinned file"):
        W.resolve(W.WeightSpec("toy", str(d), sha256={"other.bin": sha}))


def test_offline_missing_official_names_the_fetch_command(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as err:
        W.resolve(official_spec("clap"), cache_dir=tmp_path, offline=True)
    msg = str(err.value)
    assert "laion/clap-htsat-unfused" in msg and "omninft-serve fetch-weights --family clap" in msg


def test_offline_missing_in_hf_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match="omninft-serve fetch-weights --family clip"):
        W.resolve(official_spec("clip"), offline=True)
    with pytest.raises(FileNotFoundError, match="someorg/somemodel"):
        W.resolve("someorg/somemodel@v1", offline=True)


def test_hf_cache_snapshot_resolves_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    commit = "a" * 40
    repo = hub / "models--someorg--somemodel"
    sha = _write(repo / "snapshots" / commit / "model.safetensors", b"hf-weights")
    _write(repo / "snapshots" / commit / "config.json", b"{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    r = W.resolve("someorg/somemodel", offline=True)
    assert r.sha256 == sha and r.weights_id == f"hf:someorg/somemodel@{commit}"


def test_weights_dir_falls_back_to_the_hf_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    commit = "b" * 40
    repo = hub / "models--laion--clap-htsat-unfused"
    sha = _write(repo / "snapshots" / commit / "model.safetensors", b"from-hf-cache")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    r = W.resolve(official_spec("clap"), cache_dir=tmp_path / "empty-root")
    assert r.sha256 == sha and r.weights_id == f"hf:laion/clap-htsat-unfused@{commit}"


def test_weights_dir_layout_and_env(tmp_path, monkeypatch):
    staged = tmp_path / "hf" / "laion" / "clap-htsat-unfused"
    sha = _write(staged / "model.safetensors", b"staged")
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(tmp_path))
    r = W.resolve(official_spec("clap"))
    assert r.path == staged and r.sha256 == sha and r.weights_id == "hf:laion/clap-htsat-unfused@main"


def test_url_download_verifies_and_caches(tmp_path, http_root):
    root, base = http_root
    sha = _write(root / "weights.bin", b"remote-weights" * 4096)
    spec = W.WeightSpec("toy", f"{base}/weights.bin", sha256={"weights.bin": sha})
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="not available offline"):
        W.resolve(spec, cache_dir=cache, offline=True)
    r = W.resolve(spec, cache_dir=cache, offline=False)
    assert r.sha256 == sha and r.path.read_bytes() == (root / "weights.bin").read_bytes()
    assert r.path.is_relative_to(cache / "url") and r.weights_id == spec.source
    assert not list(r.path.parent.glob("*.part"))
    (root / "weights.bin").unlink()  # now only the cache has it
    assert W.resolve(spec, cache_dir=cache, offline=True).sha256 == sha


def test_url_download_with_wrong_pin_leaves_nothing(tmp_path, http_root):
    root, base = http_root
    _write(root / "w.bin", b"tampered")
    spec = W.WeightSpec("toy", f"{base}/w.bin", sha256={"w.bin": "f" * 64})
    with pytest.raises(W.WeightsIntegrityError):
        W.resolve(spec, cache_dir=tmp_path / "cache", offline=False)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_sha256_prefix_pin(tmp_path, http_root):
    """torch.hub-style names publish only a digest prefix: checked on download and on every resolve."""
    root, base = http_root
    sha = _write(root / "m.pth", b"release-asset")
    good = W.WeightSpec("toy", f"{base}/m.pth", sha256_prefix=sha[:8].upper())
    assert W.resolve(good, cache_dir=tmp_path / "c", offline=False).sha256 == sha
    wrong = "0" * 8 if not sha.startswith("0" * 8) else "f" * 8
    bad = W.WeightSpec("toy", f"{base}/m.pth", sha256_prefix=wrong)
    with pytest.raises(W.WeightsIntegrityError, match=f"starting with {wrong}"):
        W.resolve(bad, cache_dir=tmp_path / "c2", offline=False)
    assert [p for p in (tmp_path / "c2").rglob("*") if p.is_file()] == []
    local = tmp_path / "local.pth"
    _write(local, b"something else")
    with pytest.raises(W.WeightsIntegrityError, match="starting with"):
        W.resolve(W.WeightSpec("toy", str(local), sha256_prefix=sha[:8]))


def test_musiq_official_spec_pins_its_published_prefix():
    from omninft.reward_servers.models import musiq

    assert musiq.OFFICIAL_WEIGHTS.sha256_prefix == musiq.OFFICIAL_SHA256_PREFIX
    assert musiq.OFFICIAL_WEIGHTS.source.endswith(f"-{musiq.OFFICIAL_SHA256_PREFIX}.pth")


def test_fetch_downloads_a_spec_and_official_lookup_names_the_declared(tmp_path, http_root):
    root, base = http_root
    sha = _write(root / "toy.pt", b"official-toy")
    r = W.fetch(W.WeightSpec("toy", f"{base}/toy.pt", sha256={"toy.pt": sha}), cache_dir=tmp_path / "c")
    assert not isinstance(r, Path) and r.sha256 == sha
    with pytest.raises(KeyError, match="no official weights named 'nope'; declared: .*clap"):
        official_spec("nope")


def test_unresolvable_sources():
    with pytest.raises(ValueError, match="tiny"):
        W.resolve("tiny")
    with pytest.raises(FileNotFoundError, match="no such file"):
        W.resolve("./definitely/missing.bin")


def test_state_dict_sha256_is_deterministic_and_sensitive():
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    sd = m.state_dict()
    assert W.state_dict_sha256(sd) == W.state_dict_sha256({k: v.clone() for k, v in sd.items()})
    sd2 = {k: v.clone() for k, v in sd.items()}
    sd2["bias"][0] += 1e-6
    assert W.state_dict_sha256(sd2) != W.state_dict_sha256(sd)
    assert W.state_dict_sha256({"step": torch.tensor(3)}) != W.state_dict_sha256({"step": torch.tensor(4)})


def test_scorers_fetch_what_their_families_declare() -> None:
    from omninft.reward_servers.models._family import declared_weights
    from omninft.reward_servers.scorers import registry

    declared = declared_weights()
    for name, spec in registry.specs().items():
        for w in registry.official_weights(name):
            assert declared[w.name] is w and w.family in spec.families, (name, w)

    def names(scorer: str) -> list[str]:
        return [w.name for w in registry.official_weights(scorer)]

    assert names("imagebind") == ["imagebind", "imagebind_bpe"]
    assert names("imagebind_avh") == ["imagebind"]  # no text side: the BPE file is not needed
    assert names("clap_reward") == ["clap"]  # a derived reward loads the wrapped metric's weights
    assert names("videoalign_reward") == ["videoalign", "videoalign_base"]
    assert names("video_stats") == []
    assert [w.name for w in declared.values() if w.snapshot] == [
        "hpsv3_base",
        "videoalign",
        "videoalign_base",
    ]


def test_mirror_maps_host_and_path_and_keeps_the_original_cache_key(tmp_path, monkeypatch):
    assert W.mirrored_url("https://hub.example/a/b.pt", "http://m:1/") == "http://m:1/hub.example/a/b.pt"
    assert W.mirrored_url("https://hub.example/a/b.pt", "") == "https://hub.example/a/b.pt"
    monkeypatch.setenv(W.ENV_WEIGHTS_MIRROR, "file:///srv")
    assert W.mirrored_url("https://hub.example/a/b.pt") == "file:///srv/hub.example/a/b.pt"
    # a file:// mirror: the download comes from the mirror, the cache and the id are the origin's
    mirror = tmp_path / "mirror"
    sha = _write(mirror / "hub.example" / "a" / "b.pt", b"mirrored")
    monkeypatch.setenv(W.ENV_WEIGHTS_MIRROR, mirror.as_uri())
    spec = W.WeightSpec("toy", "https://hub.example/a/b.pt", sha256={"b.pt": sha})
    r = W.fetch(spec, cache_dir=tmp_path / "c")
    assert not isinstance(r, Path) and r.weights_id == spec.source and r.sha256 == sha
    monkeypatch.delenv(W.ENV_WEIGHTS_MIRROR)
    assert W.resolve(spec, cache_dir=tmp_path / "c", offline=True).path == r.path


def test_resolve_named_file_from_a_file_a_folder_or_a_cached_url(tmp_path, http_root):
    root, base = http_root
    folder = tmp_path / "tok"
    _write(folder / "vocab.txt", b"[PAD]\n")
    assert W.resolve_named_file(str(folder), "vocab.txt") == (folder / "vocab.txt").resolve()
    assert W.resolve_named_file(str(folder / "vocab.txt"), "vocab.txt") == folder / "vocab.txt"
    with pytest.raises(FileNotFoundError, match="no merges.txt"):
        W.resolve_named_file(str(folder), "merges.txt")
    _write(root / "vocab.txt", b"[UNK]\n")
    spec = W.WeightSpec("toy_vocab", f"{base}/vocab.txt")
    with pytest.raises(FileNotFoundError, match="not available offline"):
        W.resolve_named_file(spec, "vocab.txt", cache_dir=tmp_path / "c")
    W.fetch(spec, cache_dir=tmp_path / "c")
    assert W.resolve_named_file(spec, "vocab.txt", cache_dir=tmp_path / "c").read_bytes() == b"[UNK]\n"
