"""Fréchet distance precision against set size: |fd32 - fd64| / fd64 for N = 8, 64, 512 (issue 9, item 4).

fd32 is ``frechet_distance_float32`` (the javisbench-v1 protocol: the reference's float32 torch computation),
fd64 is ``frechet_distance`` on float64 statistics (``javisbench-v1-fd64``); both from bench/metrics/frechet.py.
Features are drawn from a fixed seed with a realistic spread:

- ``i3d``: 400-d I3D-logit-like vectors (per-dimension std about 3, a power-law covariance spectrum, so the
  effective rank is far below 400 as for real logits); the "real" set has a shifted mean and a 10 % wider
  spectrum than the "fake" set.
- ``audioclip``: 1024-d AudioCLIP-embedding-like vectors (a shared direction plus a power-law spread, rows
  scaled to norm about 1 as embeddings are), fake/real differing in the same way.
- ``cache`` (optional, ``--caches DIR``): the two official-layout feature caches of javisbench_parity
  (``gen-features.pt`` / ``gt-features.pt``, 8 clips each; video 400-d and audio 1024-d).

Each N is drawn ``--draws`` times (seeds 0..draws-1); the table gives the median and the largest relative
difference, and fd64 itself. Every figure is computed once with 1 and once with 2 BLAS / torch threads (a child
process per thread count, the thread variables set before numpy and torch load), and the last columns give how
far fd32 and fd64 each move between the two thread counts.

    python -m omninft.bench.perf.scripts.fd_precision [--caches /tmp/h9vr] [--draws 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SIZES = (8, 64, 512)
DIMS = {"i3d": 400, "audioclip": 1024}


@functools.lru_cache(maxsize=2)
def _basis(d: int) -> Any:
    """A fixed random orthonormal basis of R^d (the principal axes of both sets)."""
    import numpy as np

    q, _ = np.linalg.qr(np.random.default_rng(d).standard_normal((d, d)))
    return q


def _draw(kind: str, n: int, seed: int) -> tuple[Any, Any]:
    """Fake and real [n, d] float32 feature sets of one kind."""
    import numpy as np

    d = DIMS[kind]
    basis = _basis(d)
    rng = np.random.default_rng([seed, d])
    spectrum = np.arange(1, d + 1, dtype=np.float64) ** -0.75
    if kind == "i3d":
        scale, centre = 3.0 / float(np.sqrt(np.mean(spectrum**2))), rng.normal(0.0, 1.0, d)
    else:
        scale, centre = 0.02 / float(np.sqrt(np.mean(spectrum**2))), rng.normal(0.0, 1.0, d) / np.sqrt(d)
    sets = []
    for widen, shift in ((1.0, 0.0), (1.1, 0.3)):
        mu = centre + shift * scale * spectrum[0] * basis[:, 1]
        x = mu + (rng.standard_normal((n, d)) * (spectrum * scale * widen)) @ basis.T
        if kind == "audioclip":
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sets.append(x.astype(np.float32))
    return sets[0], sets[1]


def _pairs(caches: Path | None, draws: int) -> list[tuple[str, int, int, Any, Any]]:
    """(kind, N, seed, fake, real) for every generated draw, then the caches if given."""
    out = [(k, n, s, *_draw(k, n, s)) for k in DIMS for n in SIZES for s in range(draws)]
    if caches is not None:
        import torch

        fake, real = torch.load(caches / "gen-features.pt"), torch.load(caches / "gt-features.pt")
        for key, kind in (("video", "cache-video"), ("audio", "cache-audio")):
            f, r = fake[key].float().numpy(), real[key].float().numpy()
            out.append((kind, f.shape[0], -1, f, r))
    return out


def measure(caches: Path | None, draws: int) -> list[dict[str, Any]]:
    """fd32 and fd64 of every pair in this process (its thread settings)."""
    from omninft.bench.metrics.frechet import FeatureStats, frechet_distance, frechet_distance_float32

    rows = []
    for kind, n, seed, fake, real in _pairs(caches, draws):
        fd32 = frechet_distance_float32(fake, real)
        fd64 = frechet_distance(FeatureStats.of(fake), FeatureStats.of(real))
        rows.append({"kind": kind, "n": n, "seed": seed, "fd32": fd32, "fd64": fd64})
    return rows


def _child(threads: int, caches: Path | None, draws: int) -> list[dict[str, Any]]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, "-m", "omninft.bench.perf.scripts.fd_precision", "--child", "--draws", str(draws)]
    if caches is not None:
        cmd += ["--caches", str(caches)]
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return list(json.loads(done.stdout))


def table(by_threads: dict[int, list[dict[str, Any]]]) -> str:
    """Markdown: per kind and N, relative fd32-vs-fd64 difference at 1 and 2 threads, and thread drift."""
    import numpy as np

    one, two = by_threads[1], by_threads[2]
    groups: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(one):
        groups.setdefault((r["kind"], r["n"]), []).append(i)
    lines = [
        "| features | N per set | draws | fd64 (median) | rel. diff fd32 vs fd64, 1 thread: median / max "
        "| same, 2 threads: median / max | fd32 1 vs 2 threads: max rel. | fd64 1 vs 2 threads: max rel. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (kind, n), idx in groups.items():

        def rel(a: float, b: float) -> float:
            return abs(a - b) / abs(b)

        r1 = [rel(one[i]["fd32"], one[i]["fd64"]) for i in idx]
        r2 = [rel(two[i]["fd32"], two[i]["fd64"]) for i in idx]
        d32 = max(rel(one[i]["fd32"], two[i]["fd32"]) for i in idx)
        d64 = max(rel(one[i]["fd64"], two[i]["fd64"]) for i in idx)
        lines.append(
            f"| {kind} | {n} | {len(idx)} | {np.median([one[i]['fd64'] for i in idx]):.6g} | "
            f"{np.median(r1):.2e} / {max(r1):.2e} | {np.median(r2):.2e} / {max(r2):.2e} | {d32:.2e} | {d64:.2e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both thread counts in child processes and print the table (or, as --child, one count's rows)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--caches", type=Path, help="folder with gen-features.pt and gt-features.pt")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(measure(a.caches, a.draws)))
        return 0
    by_threads = {t: _child(t, a.caches, a.draws) for t in (1, 2)}
    print(table(by_threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
