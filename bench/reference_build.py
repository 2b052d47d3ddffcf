"""`omninft-bench reference build`: ground-truth FVD/FAD features through the same Embed path as a run."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from omninft.bench.reference import save_reference
from omninft.bench.runner import BenchRunError, JavisBenchConfig, collect
from omninft.bench.suites.javisbench.metrics import SET_ROUTES
from omninft.bench.suites.javisbench.prompts import SampleFiles, sample_stem

# One embedding scorer per cache modality (the official cache's keys).
MODALITY_ROUTES = {"video": SET_ROUTES["fvd"], "audio": SET_ROUTES["fad"]}


def build_reference(
    cfg: JavisBenchConfig,
    located: list[SampleFiles],
    out_file: Path,
    modalities: tuple[str, ...] = ("video", "audio"),
    session: list[Any] | None = None,
) -> dict[str, np.ndarray]:
    """Embed every located row and write {'video': [N, 400], 'audio': [N, 1024]} in row order to `out_file`."""
    bad = [f"{sample_stem(f.row.index)}: {f.problem}" for f in located if f.problem]
    if bad:
        raise ValueError(
            f"{len(bad)} ground-truth rows have no media (the cache must cover every row): "
            + "; ".join(bad[:10])
        )
    unknown = [m for m in modalities if m not in MODALITY_ROUTES]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; choose from {sorted(MODALITY_ROUTES)}")
    files = [p for f in located for p in (f.video, f.audio) if p is not None]
    if session is None:  # the embedded server must be allowed to read every GT file
        root = Path(os.path.commonpath([str(p.resolve().parent) for p in files])) if files else cfg.samples
        cfg = replace(cfg, samples=root, allowed_roots=(root,))
    routes = [MODALITY_ROUTES[m] for m in modalities]
    store_path = cfg.store_path or out_file.with_name(f".{out_file.name}.store.sqlite")
    col, skeys, _, _ = collect(cfg, located, set(), {r.scorer for r in routes}, store_path, session)
    features: dict[str, np.ndarray] = {}
    for modality, r in zip(modalities, routes, strict=True):
        got = col.outcomes[(r.scorer, "embed")]
        rows, failed = [], []
        for f in located:
            oc = got.get(skeys[f.row.index])
            if oc is None or not oc.ok or not oc.embeddings or r.embedding not in oc.embeddings:
                why = "no result" if oc is None else (oc.error_message or f"no {r.embedding_key}")
                failed.append(f"{sample_stem(f.row.index)}: {why}")
                continue
            rows.append(np.asarray(oc.embeddings[r.embedding], np.float32).reshape(-1))
        if failed:
            raise BenchRunError(
                f"{len(failed)} ground-truth rows failed {r.scorer} ({modality}); the cache must "
                "cover every row: " + "; ".join(failed[:10])
            )
        features[modality] = np.stack(rows)
    save_reference(out_file, features)
    return features
