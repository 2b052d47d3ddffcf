"""Toy benchmark (spec §6.4): routed vs global vs GDPO (and full OmniNFT) advantages over several seeds.

Pretrains the toy once, serves the toy rewards from one local reward server, trains every (mode, seed) for a number
of epochs, and writes ``results.json``, ``table.md`` and ``curves.png`` (per-reward mean rollout reward per epoch,
mean ± sd over seeds). Also times a few epochs with async vs sequential reward calls.

    python -m omninft.trainer.experiments.toy_compare --out runs/toy_compare --seeds 0,1,2 --epochs 40 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REWARDS = ("toy_video", "toy_audio", "toy_sync")
MODES: dict[str, dict[str, Any]] = {
    "global": {"advantage": {"mode": "global"}, "surgery": {"enabled": False}, "regions": {"enabled": False}},
    "gdpo": {
        "advantage": {"mode": "gdpo_omninft"},
        "surgery": {"enabled": False},
        "regions": {"enabled": False},
    },
    "routed": {"advantage": {"mode": "routed"}, "surgery": {"enabled": False}, "regions": {"enabled": False}},
    "omninft": {"advantage": {"mode": "routed"}, "surgery": {"enabled": True}, "regions": {"enabled": True}},
}


def base_config(out: Path, base: Path, seed: int, epochs: int, pretrain_steps: int) -> dict[str, Any]:
    """The toy run of spec §6.1: 8 prompts × 8 samples, 10 Euler steps, 5 of 10 σ's, one AdamW step per epoch."""
    return {
        "out_dir": str(out),
        "seed": seed,
        "epochs": epochs,
        "threads": 1,
        "policy": {"kind": "toy", "base_checkpoint": str(base), "pretrain_steps": pretrain_steps},
        "data": {"groups_per_epoch": 8, "group_size": 8, "rollout_batch": 16},
        "sampler": {"steps": 10},
        "train": {"lr": 3e-4, "micro_batch": 16, "sigma_policy": "random_frac", "sigma_frac": 0.5},
        "regions": {"warmup_steps": 0, "w_max": 1.5},
        "log": {"checkpoint_every": 0},
    }


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (mode, seed) against the shared server; returns its epoch records."""
    import torch

    from omninft.trainer.config import load_config
    from omninft.trainer.loop import Trainer

    torch.set_num_threads(1)
    cfg = load_config(job["config"])
    t0 = time.perf_counter()
    recs = Trainer(cfg, reward_addresses={"local": job["address"]}).run()
    return {"mode": job["mode"], "seed": job["seed"], "records": recs, "wall_s": time.perf_counter() - t0}


def summarise(runs: list[dict[str, Any]], last: int) -> dict[str, Any]:
    """Per mode: ΔR_k = mean of the last epochs − epoch 0, mean ± sd over seeds, min_k ΔR_k, sign disagreement."""
    out: dict[str, Any] = {}
    for mode in sorted({r["mode"] for r in runs}):
        rs = [r for r in runs if r["mode"] == mode]
        deltas: dict[str, list[float]] = {k: [] for k in REWARDS}
        start: dict[str, list[float]] = {k: [] for k in REWARDS}
        final: dict[str, list[float]] = {k: [] for k in REWARDS}
        mins, dis = [], []
        for r in rs:
            recs = r["records"]
            d = {}
            for k in REWARDS:
                series = np.array([x[f"reward/{k}"] for x in recs])
                d[k] = float(np.nanmean(series[-last:]) - series[0])
                deltas[k].append(d[k])
                start[k].append(float(series[0]))
                final[k].append(float(np.nanmean(series[-last:])))
            mins.append(min(d.values()))
            dis.append(float(np.nanmean([x["sign_disagreement_rate"] for x in recs])))
        out[mode] = {
            "seeds": [r["seed"] for r in rs],
            "start": {k: float(np.mean(v)) for k, v in start.items()},
            "final": {k: float(np.mean(v)) for k, v in final.items()},
            "delta_mean": {k: float(np.mean(v)) for k, v in deltas.items()},
            "delta_sd": {k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in deltas.items()},
            "min_delta": mins,
            "no_regression_seeds": int(sum(m > 0 for m in mins)),
            "sign_disagreement_rate": float(np.mean(dis)),
            "wall_s": float(np.mean([r["wall_s"] for r in rs])),
        }
    return out


def table(summary: dict[str, Any]) -> str:
    """Markdown table of the summary."""
    lines = [
        "| mode | ΔR_video | ΔR_audio | ΔR_sync | min_k ΔR_k > 0 (seeds) | sign disagreement | s/run |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, s in summary.items():
        cells = [f"{s['delta_mean'][k]:+.3f} ± {s['delta_sd'][k]:.3f}" for k in REWARDS]
        lines.append(
            f"| {mode} | {' | '.join(cells)} | {s['no_regression_seeds']}/{len(s['seeds'])} | "
            f"{s['sign_disagreement_rate']:.2f} | {s['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Reward curves per mode (mean ± sd over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(REWARDS), figsize=(4.2 * len(REWARDS), 3.4))
    for ax, k in zip(axes, REWARDS, strict=True):
        for mode in sorted({r["mode"] for r in runs}):
            curves = np.array([[x[f"reward/{k}"] for x in r["records"]] for r in runs if r["mode"] == mode])
            mu, sd = np.nanmean(curves, 0), np.nanstd(curves, 0)
            ep = np.arange(curves.shape[1])
            ax.plot(ep, mu, label=mode)
            ax.fill_between(ep, mu - sd, mu + sd, alpha=0.2)
        ax.set_title(k)
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("mean rollout reward")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and write the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/toy_compare"))
    ap.add_argument("--modes", default="routed,global,gdpo,omninft")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--pretrain-steps", type=int, default=800)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--last", type=int, default=5, help="epochs averaged for the final reward")
    ap.add_argument(
        "--timing-epochs", type=int, default=4, help="epochs per async/sequential timing run (0: skip)"
    )
    args = ap.parse_args(argv)

    import torch

    from omninft.trainer.policies.toy import build_from_options
    from omninft.trainer.rollout import EmbeddedRewardServer

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "toy_base.pt"
    t0 = time.perf_counter()
    build_from_options({"base_checkpoint": str(base), "pretrain_steps": args.pretrain_steps})
    print(f"base model ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    with EmbeddedRewardServer(list(REWARDS), log_path=args.out / "reward-server.log") as srv:
        jobs = []
        for seed in seeds:
            for mode in modes:
                cfg = _merge(
                    base_config(args.out / f"{mode}-s{seed}", base, seed, args.epochs, args.pretrain_steps),
                    MODES[mode],
                )
                jobs.append({"mode": mode, "seed": seed, "config": cfg, "address": srv.address})
        runs: list[dict[str, Any]] = []
        with ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            for res in pool.map(run_one, jobs):
                runs.append(res)
                last = res["records"][-1]
                print(
                    f"{res['mode']:8s} seed {res['seed']}: "
                    + "  ".join(f"{k}={last[f'reward/{k}']:.3f}" for k in REWARDS)
                    + f"  ({res['wall_s']:.0f} s)",
                    flush=True,
                )
        timing: dict[str, Any] = {}
        if args.timing_epochs > 0:
            for flag in (True, False):
                cfg = _merge(
                    base_config(
                        args.out / f"timing-{'async' if flag else 'seq'}",
                        base,
                        0,
                        args.timing_epochs,
                        args.pretrain_steps,
                    ),
                    {**MODES["omninft"], "reward": {"async": flag}},
                )
                res = run_one({"mode": "timing", "seed": 0, "config": cfg, "address": srv.address})
                recs = res["records"][1:] or res["records"]
                timing["async" if flag else "sequential"] = {
                    k: float(np.mean([r[k] for r in recs]))
                    for k in ("epoch_s", "rollout_s", "reward_wait_s", "train_s")
                }
            timing["sequential_over_async_epoch_time"] = (
                timing["sequential"]["epoch_s"] / timing["async"]["epoch_s"]
            )
    summary = summarise(runs, args.last)
    (args.out / "results.json").write_text(
        json.dumps(
            {"summary": summary, "timing": timing, "args": vars(args), "runs": runs}, indent=1, default=str
        )
    )
    md = table(summary)
    if timing:
        md += (
            "\n\nasync vs sequential reward calls (mean epoch time, s): "
            f"async {timing['async']['epoch_s']:.2f}, sequential {timing['sequential']['epoch_s']:.2f}, "
            f"ratio {timing['sequential_over_async_epoch_time']:.3f}"
        )
    (args.out / "table.md").write_text(md + "\n")
    plot(runs, args.out / "curves.png")
    print(md)
    if not all(math.isfinite(s["sign_disagreement_rate"]) for s in summary.values()):
        print("warning: some runs had no valid advantage pairs")
    print(
        f"wrote {args.out}/results.json, table.md, curves.png ({os.path.getsize(args.out / 'curves.png')} B)"
    )


if __name__ == "__main__":
    main()
