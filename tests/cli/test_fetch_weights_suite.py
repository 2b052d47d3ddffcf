"""`omninft-serve fetch-weights --suite vbench` (and the VBench families) against a local mirror standing in for
the hubs: every declared URL is served from <mirror>/<host>/<path>, fetched once, verified, and then found offline
by the families' own loaders."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from omninft.reward_servers import weights as W
from omninft.reward_servers.cli import serve_main
from omninft.reward_servers.models import _family
from omninft.reward_servers.scorers import registry

VBENCH_FAMILIES = ("dino", "clip", "musiq", "raft", "amt", "grit", "umt", "tag2text", "viclip")
PART2_FAMILIES = ("grit", "umt", "tag2text", "viclip")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        pass


@pytest.fixture()
def mirror(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """A static server on 127.0.0.1:0 over tmp_path/mirror; yields (root, base URL, request paths seen)."""
    root = tmp_path / "mirror"
    root.mkdir()
    seen: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _vocab() -> bytes:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "picture", "of", "cat", "dog", "##s"]
    return ("\n".join(words) + "\n").encode()


def _stand_in(spec: W.WeightSpec) -> bytes:
    """Small stand-in bytes for a declared file: a zip holding models/raft-things.pth for RAFT, a WordPiece
    vocabulary for the BERT vocab, else bytes naming the spec."""
    if spec.name == "raft":
        import io

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("models/raft-things.pth", b"raft-things stand-in")
            zf.writestr("models/raft-small.pth", b"raft-small stand-in")
        return buf.getvalue()
    if spec.source.endswith("/vocab.txt"):
        return _vocab()
    return f"stand-in for {spec.name}".encode()


def _serve(root: Path, specs: list[W.WeightSpec]) -> dict[str, W.WeightSpec]:
    """Write every URL spec's stand-in under the mirror; returns the specs re-pinned to those bytes."""
    repinned: dict[str, W.WeightSpec] = {}
    for spec in specs:
        assert spec.source.startswith("https://"), (
            f"{spec.name}: VBench files are declared as URLs ({spec.source})"
        )
        url = urllib.parse.urlparse(spec.source)
        path = root / url.netloc / url.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _stand_in(spec)
        path.write_bytes(data)
        # a pinned file (OpenAI CLIP, the BPE vocabulary; MUSIQ's published prefix) keeps its pin, on the
        # stand-in's bytes
        digest = hashlib.sha256(data).hexdigest()
        pin = {Path(url.path).name: digest} if spec.sha256 else None
        prefix = digest[: len(spec.sha256_prefix)] if spec.sha256_prefix else None
        repinned[spec.name] = dataclasses.replace(spec, sha256=pin, sha256_prefix=prefix)
    return repinned


def _vbench_specs() -> list[W.WeightSpec]:
    """Every file the VBench families declare, less the clip family's HF conversion (JavisBench's CLIP score)."""
    seen: dict[str, W.WeightSpec] = {}
    for family in VBENCH_FAMILIES:
        for spec in _family.family_weights(family):
            if spec.name != "clip":
                seen.setdefault(spec.name, spec)
    return list(seen.values())


def test_every_vbench_family_declares_urls_with_its_name() -> None:
    specs = _vbench_specs()
    names = {s.name for s in specs}
    assert {
        "dino",
        "clip_openai_vit_l14",
        "laion_aesthetic_l14",
        "musiq_spaq",
        "raft",
        "amt",
        "grit",
        "grit_tokenizer",
        "umt",
        "tag2text",
        "tag2text_tokenizer",
        "viclip",
        "viclip_bpe",
    } <= names
    for spec in specs:
        assert spec.family in VBENCH_FAMILIES and spec.name in _family.declared_weights()
    # the OpenAI files are pinned by the digest in their URL; the BPE vocabulary by its known sha256
    from omninft.reward_servers.models.clip import OPENAI_WEIGHTS

    for spec in OPENAI_WEIGHTS.values():
        assert spec.sha256 and next(iter(spec.sha256.values())) in spec.source


def test_vbench_suite_covers_every_registered_vbench_scorer() -> None:
    from omninft.bench.suites.vbench.dimensions import DIMENSIONS

    members = registry.suite_scorers("vbench")
    assert "vbench_static_filter" in members and "clip" not in members
    for dim in DIMENSIONS.values():
        if dim.scorer in registry.available():
            assert dim.scorer in members
    plan = {w.name for n in members for w in registry.official_weights(n)}
    assert {
        "dino",
        "clip_openai_vit_b32",
        "clip_openai_vit_l14",
        "laion_aesthetic_l14",
        "musiq_spaq",
        "raft",
        "amt",
    } <= plan
    # CLIP ViT-L/14 is fetched for aesthetic_quality only: JavisBench's CLIP score does not pull 1.7 GB of it
    assert [w.name for w in registry.official_weights("clip")] == ["clip"]
    with pytest.raises(KeyError, match="unknown benchmark suite 'vbnech'"):
        registry.suite_scorers("vbnech")


def test_fetch_weights_suite_vbench_through_a_mirror_then_offline(
    tmp_path: Path, mirror: tuple[Path, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base, seen = mirror
    repinned = _serve(root, _vbench_specs())

    def family_weights(family: str) -> tuple[W.WeightSpec, ...]:
        return tuple(repinned.get(w.name, w) for w in real(family))

    real = _family.family_weights
    monkeypatch.setattr(_family, "family_weights", family_weights)
    monkeypatch.setattr(registry, "family_weights", family_weights)
    cache = tmp_path / "cache"
    args = [
        "fetch-weights",
        "--suite",
        "vbench",
        *(a for f in PART2_FAMILIES for a in ("--family", f)),
        "--cache-dir",
        str(cache),
        "--mirror",
        base,
    ]
    result = CliRunner().invoke(serve_main, args)
    assert result.exit_code == 0, result.output
    fetched = {line.split(":")[1].split()[0] for line in result.output.splitlines() if line.count(":") >= 1}
    assert set(repinned) <= fetched
    # one download per URL, however many scorers (dynamic_degree, static_filter) or families (the BERT vocabulary
    # of grit and tag2text) share it
    urls = {repinned[n].source for n in fetched}
    assert len(seen) == len(set(seen)) == len(urls) == len(fetched) - 1
    # the cache is keyed by the original URLs: resolved offline without the mirror, sha256 recorded
    for name in fetched:
        r = W.resolve(repinned[name], cache_dir=cache, offline=True)
        assert r.weights_id == repinned[name].source and r.sha256 == W.sha256_file(r.path)
    again = CliRunner().invoke(serve_main, args)
    assert again.exit_code == 0 and len(seen) == len(urls)  # verified in place, nothing downloaded twice

    # the families' loaders find their files offline
    from omninft.reward_servers.models import grit, raft, tag2text
    from omninft.reward_servers.models._checkpoint_file import locate

    ckpt = locate("raft", "official", repinned["raft"], raft.OFFICIAL_FILE, cache_dir=cache)
    assert ckpt.member == raft.OFFICIAL_MEMBER
    assert ckpt.identity.sha256 == hashlib.sha256(b"raft-things stand-in").hexdigest()
    tok = tag2text.tokenizer(cache_dir=cache)
    assert tok.decode(tok.bert("cats")["input_ids"]) == "cats"
    assert grit.load_decoder("official", cache_dir=cache) is not None


def test_a_mirror_file_that_fails_its_pin_stops_the_fetch(
    tmp_path: Path, mirror: tuple[Path, str, list[str]]
) -> None:
    root, base, _ = mirror
    from omninft.reward_servers.models.viclip import OFFICIAL_BPE, OFFICIAL_WEIGHTS

    _serve(root, [OFFICIAL_WEIGHTS, OFFICIAL_BPE])  # stand-in bytes, but the BPE file keeps its real pin
    result = CliRunner().invoke(
        serve_main,
        ["fetch-weights", "--family", "viclip", "--cache-dir", str(tmp_path / "c"), "--mirror", base],
    )
    assert result.exit_code == 1 and "viclip_bpe" in result.output and "sha256 mismatch" in result.output
    assert not list((tmp_path / "c").rglob("bpe_simple_vocab_16e6.txt.gz"))  # nothing half-verified is kept


def test_unknown_suite_is_a_usage_error() -> None:
    result = CliRunner().invoke(serve_main, ["fetch-weights", "--suite", "vbnech"])
    assert (
        result.exit_code == 2
        and "unknown benchmark suite 'vbnech'" in result.output
        and "vbench" in result.output
    )
