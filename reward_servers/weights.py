"""The one place where model weights are located, downloaded and verified.

A weight source is a Hugging Face repository id (``org/name[@revision]`` or ``hf://org/name``), a local
directory or file, or an http(s) URL. Resolution is offline by default: servers start from what is already
on disk and fail fast with the command that fetches what is missing (``omninft-serve fetch-weights``).
Downloads happen only in :func:`fetch` / ``resolve(..., offline=False)``.

Cache layout (root = ``cache_dir`` argument, else ``$OMNINFT_WEIGHTS_DIR``, else the standard caches):
- HF repositories: ``<root>/hf/<org>/<name>[@<revision>]/`` as plain directories; without a root, the
  standard Hugging Face cache (``$HF_HOME``) is used through huggingface_hub.
- URLs: ``<root>/url/<sha256(url)[:16]>/<file name>``; without a root ``~/.cache/omninft/weights``.

A mirror (``mirror=`` or ``$OMNINFT_WEIGHTS_MIRROR``: an http(s) or file:// base) serves URL sources for
air-gapped clusters: ``https://<host>/<path>`` is downloaded from ``<mirror>/<host>/<path>``. The cache
path and the recorded weights id stay those of the original URL, so a server resolves the file offline
whether it came from the origin or from the mirror. (HF repository ids follow ``$HF_ENDPOINT`` instead.)

The sha256 of the main weight file is recorded in every result. It is computed once per file version and
kept in a sidecar ``<file>.sha256`` (JSON keyed by size and mtime), so restarts do not re-hash gigabytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENV_WEIGHTS_DIR = "OMNINFT_WEIGHTS_DIR"
ENV_WEIGHTS_MIRROR = "OMNINFT_WEIGHTS_MIRROR"
_CHUNK = 1 << 20
_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?$")
# Preference order when a directory holds several candidate weight files.
_WEIGHT_PATTERNS = (
    "model.safetensors",
    "pytorch_model.bin",
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
)


class WeightsIntegrityError(ValueError):
    """A weight file's sha256 differs from the one pinned in its WeightSpec."""


@dataclass(frozen=True)
class WeightSpec:
    """Where a scorer's weights come from and, optionally, what they must hash to.

    `files` are the file names (glob patterns for HF repositories) to download; `sha256` pins files by name;
    `sha256_prefix` pins the leading hex digits of the main file's sha256 where only those are published
    (torch.hub's `<name>-<8 hex>.pth` convention, e.g. pyiqa's release assets).
    Official specs are declared by their model family (`WEIGHTS` in reward_servers/models/<family>/) and name
    it in `family`; `snapshot` marks HF repositories fetched whole (tokenizer-only, or weights in subfolders).
    """

    name: str
    source: str
    revision: str | None = None
    files: tuple[str, ...] = ()
    sha256: Mapping[str, str] | None = None
    sha256_prefix: str | None = None
    family: str = ""
    snapshot: bool = False

    @property
    def display(self) -> str:
        """The source with its revision, for messages."""
        return f"{self.source}@{self.revision}" if self.revision else self.source


@dataclass(frozen=True)
class ResolvedWeights:
    """A local copy of a WeightSpec: `path` is a directory (HF layout) or a single file."""

    path: Path
    weights_id: str
    sha256: str
    main_file: Path | None = None
    file_sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightsIdentity:
    """What a loaded model reports about its weights (scorers turn it into WeightsInfo)."""

    weights_id: str
    sha256: str
    tiny: bool


# Patterns of an HF repository's tokenizer/processor text files (families use it in their `files`).
HF_TEXT_FILES = ("*.json", "*.txt", "*.model")
# Downloaded only when a repository has no safetensors weights.
_HF_FALLBACK_FILES = ("pytorch_model.bin",)


def fetch_command(family: str) -> str:
    """The shell command that downloads a model family's official weights."""
    return f"omninft-serve fetch-weights --family {family}"


def default_root(cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The weights root: cache_dir, else $OMNINFT_WEIGHTS_DIR, else None (standard caches)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_WEIGHTS_DIR, "")
    return Path(env).expanduser() if env else None


def mirrored_url(url: str, mirror: str | None = None) -> str:
    """Where to download `url` from: `<mirror>/<host>/<path>` with a mirror (argument, else the env), else `url`."""
    base = (mirror if mirror is not None else os.environ.get(ENV_WEIGHTS_MIRROR, "")).strip()
    if not base:
        return url
    parts = urllib.parse.urlparse(url)
    return f"{base.rstrip('/')}/{parts.netloc}{parts.path}"


# ---------------------------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Streamed sha256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def cached_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, memoised in a `<file>.sha256` sidecar keyed by the file's size and mtime."""
    p = Path(path)
    st = p.stat()  # follows symlinks (HF snapshots link to blobs)
    side = _sidecar(p)
    try:
        record = json.loads(side.read_text())
        if record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns:
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_file(p)
    try:
        side.write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}))
    except OSError:
        logger.debug("cannot write sha256 sidecar next to %s (read-only cache?)", p)
    return digest


def state_dict_sha256(state_dict: Mapping[str, Any]) -> str:
    """Deterministic sha256 of a torch state dict: names, dtypes, shapes and raw bytes, in key order."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- resolve


def as_spec(spec_or_str: WeightSpec | str, name: str = "") -> WeightSpec:
    """A WeightSpec from a spec or a bare source string (`org/name@rev`, path, URL)."""
    if isinstance(spec_or_str, WeightSpec):
        return spec_or_str
    source = spec_or_str.strip()
    revision = None
    if _HF_ID.match(source.removeprefix("hf://")) and "@" in source:
        source, revision = source.split("@", 1)
    return WeightSpec(name=name or source, source=source, revision=revision)


def source_kind(value: str) -> str:
    """What a weights string names: tiny | url | local | hf | missing (a typo, or a path that does not exist)."""
    return _source_kind(as_spec(value))


def _source_kind(spec: WeightSpec) -> str:
    src = spec.source
    if src == "tiny":
        return "tiny"
    if src.startswith(("http://", "https://")):
        return "url"
    if src.startswith("file://"):
        return "local"
    if src.startswith("hf://"):
        return "hf"
    if Path(src).expanduser().exists():
        return "local"
    if _HF_ID.match(src):
        return "hf"
    return "missing"


def resolve(
    spec_or_str: WeightSpec | str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool = True,
    mirror: str | None = None,
) -> ResolvedWeights:
    """Find (or, with offline=False, download) the weights of a spec; verify pinned sha256s.

    `mirror` (else $OMNINFT_WEIGHTS_MIRROR) is where URL sources are downloaded from (module docstring).

    Raises FileNotFoundError naming the spec and the fetch command when the weights are not on disk
    offline, and WeightsIntegrityError when a pinned sha256 does not match.
    """
    spec = as_spec(spec_or_str)
    kind = _source_kind(spec)
    if kind == "tiny":
        raise ValueError("'tiny' weights are built in memory by the model module, not resolved from disk")
    if kind == "local":
        return _resolve_local(spec)
    if kind == "url":
        return _resolve_url(spec, default_root(cache_dir), offline, mirror)
    if kind == "hf":
        return _resolve_hf(spec, default_root(cache_dir), offline)
    raise FileNotFoundError(
        f"weights {spec.display!r} for {spec.name!r}: no such file or directory, and not a Hugging Face id "
        "(org/name[@revision]) or http(s) URL"
    )


def _missing(spec: WeightSpec, where: str) -> FileNotFoundError:
    if spec.family:
        how = fetch_command(spec.family)
    elif spec.source.startswith(("http://", "https://")):
        how = f"curl -L -o {where} {spec.source}"
    else:
        how = f"hf download {_hf_repo(spec)[0]} --local-dir {where}"
    return FileNotFoundError(
        f"weights for {spec.name!r} ({spec.display}) are not available offline (looked in {where}). "
        f"Download them first with: {how}"
    )


def _find_main_file(directory: Path, patterns: Iterable[str] = _WEIGHT_PATTERNS) -> list[Path]:
    """The main weight file(s) of a directory: one file, or every shard of a sharded checkpoint."""
    for pattern in patterns:
        hits = sorted(p for p in directory.glob(pattern) if p.is_file() and not p.name.endswith(".sha256"))
        if not hits:
            continue
        if "*" not in pattern or len(hits) == 1:
            return hits[:1]
        return hits  # shards: all of them
    return []


def _hash_resolved(path: Path, spec: WeightSpec, weights_id: str) -> ResolvedWeights:
    """Hash the main weight file(s) under `path`, check pins, and build the ResolvedWeights."""
    if path.is_dir():
        mains = _find_main_file(path)
        if not mains:
            raise FileNotFoundError(
                f"no weight file ({', '.join(_WEIGHT_PATTERNS)}) in {path} for {spec.name!r}"
            )
    else:
        mains = [path]
    hashes = {p.name: cached_sha256(p) for p in mains}
    if spec.sha256:
        for fname, expected in spec.sha256.items():
            if path.is_dir():
                target: Path | None = path / fname
            else:  # a single file answers a pin on its own name, or the only pin there is
                target = path if path.name == fname or len(spec.sha256) == 1 else None
            if target is None or not target.exists():
                raise FileNotFoundError(f"pinned file {fname!r} of {spec.name!r} not found under {path}")
            actual = hashes.get(fname) or cached_sha256(target)
            if actual.lower() != expected.lower():
                raise WeightsIntegrityError(
                    f"sha256 mismatch for {spec.name!r} file {fname!r} at {target}: expected {expected}, got {actual}. "
                    "The file is corrupt or a different version; delete it and fetch again."
                )
            hashes[fname] = actual
    if spec.sha256_prefix:
        _check_prefix(spec, mains[0], hashes[mains[0].name])
    if len(mains) == 1:
        digest = hashes[mains[0].name]
    else:
        joined = "".join(f"{p.name}:{hashes[p.name]}\n" for p in mains)
        digest = hashlib.sha256(joined.encode()).hexdigest()
    return ResolvedWeights(
        path=path, weights_id=weights_id, sha256=digest, main_file=mains[0], file_sha256=hashes
    )


def _check_prefix(spec: WeightSpec, path: Path, actual: str) -> None:
    """Raise WeightsIntegrityError when a file's sha256 does not start with the spec's published prefix."""
    prefix = (spec.sha256_prefix or "").lower()
    if not actual.lower().startswith(prefix):
        raise WeightsIntegrityError(
            f"sha256 mismatch for {spec.name!r} at {path}: expected a digest starting with {prefix}, got {actual}. "
            "The file is corrupt or a different version; delete it and fetch again."
        )


def _local_path(spec: WeightSpec) -> Path:
    """The absolute path a local source (plain or file:// URI) names."""
    raw = spec.source.removeprefix("file://")
    return (
        Path(urllib.parse.unquote(raw) if spec.source.startswith("file://") else raw).expanduser().resolve()
    )


def _resolve_local(spec: WeightSpec) -> ResolvedWeights:
    path = _local_path(spec)
    if not path.exists():
        raise FileNotFoundError(f"weights path {path} for {spec.name!r} does not exist")
    return _hash_resolved(path, spec, f"local:{path}")


# ---------------------------------------------------------------------------------------------- URLs


def _url_target(spec: WeightSpec, root: Path | None) -> Path:
    base = root / "url" if root is not None else Path.home() / ".cache" / "omninft" / "weights" / "url"
    url_key = hashlib.sha256(spec.source.encode()).hexdigest()[:16]
    fname = Path(urllib.parse.urlparse(spec.source).path).name or "weights.bin"
    return base / url_key / fname


def _resolve_url(
    spec: WeightSpec, root: Path | None, offline: bool, mirror: str | None = None
) -> ResolvedWeights:
    target = _url_target(spec, root)
    if not target.exists():
        if offline:
            raise _missing(spec, str(target))
        _download(
            mirrored_url(spec.source, mirror),
            target,
            expected_sha256=_pinned_for(spec, target.name),
            expected_prefix=spec.sha256_prefix,
        )
    return _hash_resolved(target, spec, spec.source)


def _pinned_for(spec: WeightSpec, fname: str) -> str | None:
    if not spec.sha256:
        return None
    return spec.sha256.get(fname) or (next(iter(spec.sha256.values())) if len(spec.sha256) == 1 else None)


def _download(
    url: str,
    target: Path,
    *,
    expected_sha256: str | None = None,
    expected_prefix: str | None = None,
    timeout: float = 60.0,
) -> str:
    """Stream `url` into `target` atomically (temp file + rename), hashing on the way; returns the sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        if expected_sha256 and digest.lower() != expected_sha256.lower():
            raise WeightsIntegrityError(
                f"sha256 mismatch downloading {url}: expected {expected_sha256}, got {digest}"
            )
        if expected_prefix and not digest.lower().startswith(expected_prefix.lower()):
            raise WeightsIntegrityError(
                f"sha256 mismatch downloading {url}: expected a digest starting with {expected_prefix}, got {digest}"
            )
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    st = target.stat()
    try:
        _sidecar(target).write_text(
            json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest})
        )
    except OSError:
        pass
    logger.info("downloaded %s -> %s (sha256 %s)", url, target, digest)
    return digest


# ---------------------------------------------------------------------------------------------- HF


def _hf_repo(spec: WeightSpec) -> tuple[str, str | None]:
    repo = spec.source.removeprefix("hf://")
    revision = spec.revision
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    return repo, revision


def _hf_local_dir(root: Path, repo: str, revision: str | None) -> Path:
    return root / "hf" / (f"{repo}@{revision}" if revision else repo)


def _resolve_hf(spec: WeightSpec, root: Path | None, offline: bool) -> ResolvedWeights:
    repo, revision = _hf_repo(spec)
    patterns = list(spec.files) or None
    if root is not None:
        local = _hf_local_dir(root, repo, revision)
        if not (local.is_dir() and _find_main_file(local)):
            if offline:
                try:  # a copy in the standard HF cache is as good
                    cached = Path(_hf_download(repo, revision, patterns, local_only=True))
                except FileNotFoundError:
                    raise _missing(spec, str(local)) from None
                if _find_main_file(cached):
                    return _hash_resolved(cached, spec, f"hf:{repo}@{cached.name}")
                raise _missing(spec, str(local))
            _hf_download(repo, revision, patterns, local_dir=local)
        return _hash_resolved(local, spec, f"hf:{repo}@{revision or 'main'}")
    try:
        snapshot = Path(_hf_download(repo, revision, patterns, local_only=offline))
    except FileNotFoundError:
        raise _missing(spec, "the Hugging Face cache ($HF_HOME)") from None
    if not _find_main_file(snapshot):
        if offline:
            raise _missing(spec, str(snapshot))
        snapshot = Path(_hf_download(repo, revision, list(_HF_FALLBACK_FILES)))
    # the snapshot folder name is the commit hash: the most precise id there is
    return _hash_resolved(snapshot, spec, f"hf:{repo}@{snapshot.name}")


def _hf_download(
    repo: str,
    revision: str | None,
    patterns: list[str] | None,
    *,
    local_dir: Path | None = None,
    local_only: bool = False,
) -> str:
    """snapshot_download wrapper; a missing local snapshot becomes FileNotFoundError."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as e:  # pragma: no cover - part of the serve extra
        raise ImportError("Hugging Face weights need huggingface_hub: pip install 'omninft[serve]'") from e
    try:
        path = snapshot_download(
            repo,
            revision=revision,
            allow_patterns=patterns,
            local_dir=str(local_dir) if local_dir is not None else None,
            local_files_only=local_only,
        )
        if local_dir is not None and not _find_main_file(local_dir):
            path = snapshot_download(
                repo, revision=revision, allow_patterns=list(_HF_FALLBACK_FILES), local_dir=str(local_dir)
            )
    except LocalEntryNotFoundError as e:
        if local_only:
            raise FileNotFoundError(str(e)) from e
        # huggingface_hub reports an unreachable hub as a missing local entry; say what actually happened.
        raise ConnectionError(
            f"could not download {repo} from the Hugging Face Hub (is it reachable from here? HF_ENDPOINT, proxy, "
            f"HF_HUB_OFFLINE): {e}"
        ) from e
    return str(path)


def fetch(
    spec: WeightSpec, cache_dir: str | os.PathLike[str] | None = None, *, mirror: str | None = None
) -> ResolvedWeights | Path:
    """Download (if missing) and verify one WeightSpec; snapshot specs return their directory."""
    if spec.snapshot:
        return resolve_snapshot(spec, cache_dir=cache_dir, offline=False)
    return resolve(spec, cache_dir=cache_dir, offline=False, mirror=mirror)


def resolve_named_file(
    spec_or_str: WeightSpec | str, file_name: str, *, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """One named file of a spec, offline: the file a URL or local file names, or `<folder>/<file_name>` of a
    local folder or HF repository (tokenizer vocabularies, which have no weight file beside them)."""
    spec = as_spec(spec_or_str)
    kind = _source_kind(spec)
    if kind == "hf":
        path = resolve_snapshot(spec, cache_dir=cache_dir) / file_name
    elif kind == "local" and _local_path(spec).is_dir():
        path = _local_path(spec) / file_name
    else:
        path = resolve(spec, cache_dir=cache_dir, offline=True).path
    if not path.is_file():
        raise FileNotFoundError(f"no {file_name} for {spec.name!r} at {path}")
    return path


def resolve_snapshot(
    spec_or_str: WeightSpec | str, *, cache_dir: str | os.PathLike[str] | None = None, offline: bool = True
) -> Path:
    """Local directory of an HF repository or local folder, without requiring a top-level weight file.

    For repositories used only for their tokenizer/config files, or whose weights sit in subfolders
    (VideoReward's checkpoint-<step>/model.pth); the caller hashes what it loads with cached_sha256.
    """
    spec = as_spec(spec_or_str)
    kind = _source_kind(spec)
    if kind == "local":
        path = _local_path(spec)
        if not path.is_dir():
            raise FileNotFoundError(f"weights path {path} for {spec.name!r} is not a directory")
        return path
    if kind != "hf":
        raise FileNotFoundError(
            f"{spec.display!r} for {spec.name!r} is not a Hugging Face id or a local directory"
        )
    repo, revision = _hf_repo(spec)
    patterns = list(spec.files) or None
    root = default_root(cache_dir)
    if root is not None:
        local = _hf_local_dir(root, repo, revision)
        if local.is_dir() and any(local.iterdir()):
            return local
        if offline:
            try:
                return Path(_hf_download(repo, revision, patterns, local_only=True))
            except FileNotFoundError:
                raise _missing(spec, str(local)) from None
        _hf_download(repo, revision, patterns, local_dir=local)
        return local
    try:
        return Path(_hf_download(repo, revision, patterns, local_only=offline))
    except FileNotFoundError:
        raise _missing(spec, "the Hugging Face cache ($HF_HOME)") from None
