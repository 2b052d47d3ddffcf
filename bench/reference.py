"""Reference (ground-truth) features for FVD/KVD/FAD: the official cache file, read and written.

The official cache (`<set>-vanilla-max4s.pt`) is a `torch.save`d dict {'video': [N, 400], 'audio': [N, 1024]}
whose row i belongs to CSV row i (spec §6.1). `.npz` files with the same keys are accepted too.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ReferenceFeatures:
    """Row-indexed reference features by modality ("video", "audio"); `path`/`sha256` for provenance."""

    features: dict[str, np.ndarray]
    path: str = ""
    sha256: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def rows(self, modality: str) -> int:
        """Number of rows for one modality (0 when absent)."""
        arr = self.features.get(modality)
        return 0 if arr is None else int(arr.shape[0])

    def take(self, modality: str, indices: list[int]) -> np.ndarray:
        """Rows `indices` of one modality (KeyError/IndexError with a clear message when absent)."""
        if modality not in self.features:
            raise KeyError(
                f"reference cache {self.path or '(in memory)'} has no {modality!r} features; "
                f"it has {sorted(self.features)}"
            )
        arr = self.features[modality]
        if indices and max(indices) >= arr.shape[0]:
            raise IndexError(
                f"reference cache has {arr.shape[0]} {modality} rows; CSV row {max(indices)} has none "
                "(the cache must be in CSV row order and cover every row)"
            )
        return arr[np.asarray(indices, dtype=np.int64)] if indices else arr[:0]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _as_array(value: object, key: str, path: Path) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().float().numpy()  # type: ignore[attr-defined]
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{path}: {key!r} must be a [N, d] matrix, got shape {arr.shape}")
    return arr


def load_reference(path: Path) -> ReferenceFeatures:
    """Read an official `.pt` cache (torch, weights_only) or an `.npz`; keys 'video' and/or 'audio'."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference cache {path} does not exist")
    raw: object
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    else:
        try:
            import torch
        except ImportError:  # pragma: no cover - torch ships with omninft[bench]
            torch = None  # type: ignore[assignment]
        if torch is not None:
            try:
                raw = torch.load(path, map_location="cpu", weights_only=True)
            except (pickle.UnpicklingError, RuntimeError) as err:
                raise ValueError(f"{path}: not a readable torch feature cache: {err}") from None
        else:
            raise ValueError(f"{path}: reading a .pt cache needs torch (pip install 'omninft[bench]')")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict with 'video'/'audio' features, got {type(raw).__name__}")
    feats = {k: _as_array(v, k, path) for k, v in raw.items() if k in ("video", "audio")}
    if not feats:
        raise ValueError(f"{path}: no 'video' or 'audio' entry (keys: {sorted(map(str, raw))})")
    return ReferenceFeatures(feats, str(path), _sha256(path))


def save_reference(path: Path, features: dict[str, np.ndarray]) -> None:
    """Write features in the official format (torch.save of float32 tensors) or `.npz` by suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".npz":
        arrays: dict[str, Any] = {k: np.asarray(v, np.float32) for k, v in features.items()}
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
    else:
        import torch

        torch.save(
            {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in features.items()}, tmp
        )
    tmp.replace(path)
