"""The static filter's server side: ask `vbench_static_filter` for flow scores, decide with `is_static`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from omninft.bench.runner import BenchRunError, JavisBenchConfig, open_session
from omninft.bench.suites.vbench.dimensions import STATIC_FILTER_SCORER
from omninft.bench.suites.vbench.static_filter import Judge, is_static


def verdict(embeddings: dict[str, np.ndarray]) -> bool | str:
    """Static or not from one video's `pair_scores` and `frame_shape`, or why that cannot be decided."""
    if "pair_scores" not in embeddings or "frame_shape" not in embeddings:
        return f"{STATIC_FILTER_SCORER} returned no pair_scores/frame_shape"
    shape = np.asarray(embeddings["frame_shape"], dtype=np.float64).reshape(-1)
    scores = [float(x) for x in np.asarray(embeddings["pair_scores"], dtype=np.float64).reshape(-1)]
    if shape.size != 3:
        return f"frame_shape must be (N, H, W), got {shape.tolist()}"
    n, h, w = (int(x) for x in shape)
    if len(scores) != n + 1:
        return f"pair_scores has {len(scores)} values, expected N+1 = {n + 1}"
    return is_static(scores, n, h, w)


@contextmanager
def judge_with_servers(
    videos: Path,
    out: Path,
    *,
    server: str,
    servers_file: Path | None,
    weights: str,
    device: str,
    timeout_s: float,
    token: str | None,
) -> Iterator[Judge]:
    """A Judge backed by the servers (embedded when no address is given) hosting vbench_static_filter."""
    from omninft_client import RewardError, Sample, media

    cfg = JavisBenchConfig(
        samples=videos,
        prompts=videos,
        out=out,
        server=server,
        servers_file=servers_file,
        weights=weights,
        device=device,
        timeout_s=timeout_s,
        token=token,
    )
    with open_session(cfg, (STATIC_FILTER_SCORER,)) as groups:
        g = next(g for g in groups if STATIC_FILTER_SCORER in g.group.scorers)

        def judge(paths: list[Path]) -> dict[Path, bool | str]:
            out_: dict[Path, bool | str] = {}
            samples = []
            for p in paths:
                try:
                    samples.append(Sample(id=str(p), video=media.video_file(p, as_uri=g.as_uri)))
                except (OSError, ValueError) as err:
                    out_[p] = str(err)
            try:
                results = g.client.embed(samples, (STATIC_FILTER_SCORER,)) if samples else []
            except RewardError as err:
                raise BenchRunError(f"{g.group.label}: {STATIC_FILTER_SCORER} failed: {err}") from None
            for s, res in zip(samples, results, strict=True):
                failed = res.error or res.scorer_errors.get(STATIC_FILTER_SCORER)
                if failed is not None:
                    out_[Path(s.id)] = f"{failed.code}: {failed.message}"
                    continue
                prefix = f"{STATIC_FILTER_SCORER}."
                out_[Path(s.id)] = verdict(
                    {k[len(prefix) :]: v for k, v in res.embeddings.items() if k.startswith(prefix)}
                )
            return out_

        yield judge
