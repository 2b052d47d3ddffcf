"""Locating one named checkpoint file for a family that declares its own official WeightSpec.

Used by families whose official file is one of several in a folder or an archive (RAFT's raft-things.pth
inside the authors' models.zip, next to raft-chairs/kitti/sintel/small). "official" resolves the family's
own spec offline; any other string is a local path or URL. When the resolved path is a folder, the named
file (or <folder>/models/<name>) is preferred over weights.py's generic choice; when it is a zip archive
holding the named member, the member is read from the archive and its own bytes are hashed, so the recorded
sha256 is the checkpoint's whether it was unzipped or not.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models._state_dict import load_torch_file
from omninft.reward_servers.weights import WeightsIdentity, WeightSpec, as_spec, cached_sha256, resolve


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint on disk: a plain file, or `member` inside the zip archive `path`."""

    path: Path
    member: str | None
    identity: WeightsIdentity


def _zip_member(path: Path, name: str) -> str | None:
    """The archive member whose file name is `name` (a torch zip checkpoint has none: it holds data.pkl)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as zf:
        hits = sorted(n for n in zf.namelist() if n.rsplit("/", 1)[-1] == name)
    return hits[0] if hits else None


def _named_in_folder(folder: Path, name: str) -> Path | None:
    """folder/name or folder/models/name (the layout of the unzipped RAFT models.zip), if either exists."""
    for cand in (folder / name, folder / "models" / name):
        if cand.is_file():
            return cand
    return None


def _member_sha256(path: Path, member: str) -> str:
    h = hashlib.sha256()
    with zipfile.ZipFile(path) as zf, zf.open(member) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def locate(
    family: str,
    weights: str,
    official: WeightSpec,
    file_name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> CheckpointFile:
    """Resolve "official" (the family's spec) or a path/URL to the checkpoint file `file_name`, offline."""
    if weights != "official":
        local = Path(weights.removeprefix("file://")).expanduser()
        named = _named_in_folder(local, file_name) if local.is_dir() else None
        if named is not None:  # weights.resolve would pick the folder's first checkpoint, not this one
            return CheckpointFile(
                named, None, WeightsIdentity(f"local:{named.resolve()}", cached_sha256(named), tiny=False)
            )
    spec = official if weights == "official" else as_spec(weights, name=family)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.path
    if path.is_dir():
        named = _named_in_folder(path, file_name)
        if named is not None:
            return CheckpointFile(
                named,
                None,
                WeightsIdentity(
                    f"{resolved.weights_id}/{named.relative_to(path)}", cached_sha256(named), tiny=False
                ),
            )
        if resolved.main_file is None:
            raise WeightsLoadError(f"no {file_name} for {family} under {path}")
        path = resolved.main_file
    member = _zip_member(path, file_name)
    if member is not None:
        return CheckpointFile(
            path,
            member,
            WeightsIdentity(f"{resolved.weights_id}!{member}", _member_sha256(path, member), tiny=False),
        )
    return CheckpointFile(path, None, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False))


def read_tensors(ckpt: CheckpointFile, *, entry: str | None = None) -> dict[str, torch.Tensor]:
    """The tensor state dict in a checkpoint (weights_only unpickling), optionally under a top-level `entry`."""
    where = f"{ckpt.path}!{ckpt.member}" if ckpt.member else str(ckpt.path)
    try:
        if ckpt.member is not None:
            with zipfile.ZipFile(ckpt.path) as zf:
                data = zf.read(ckpt.member)
            obj: Any = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        else:
            obj = load_torch_file(ckpt.path)
    except Exception as e:  # corrupt file, or a pickle that needs arbitrary code
        raise WeightsLoadError(f"cannot read a torch checkpoint from {where}: {e}") from e
    if entry is not None:
        if not isinstance(obj, dict) or entry not in obj:
            raise WeightsLoadError(f"{where} has no {entry!r} entry")
        obj = obj[entry]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsLoadError(f"{where} does not hold a tensor state dict")
    return {str(k): v for k, v in obj.items()}
