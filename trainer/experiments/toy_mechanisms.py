"""Each OmniNFT mechanism against its ablation on the redesigned toy (spec §6.5), over several seeds.

The toy here is what LTX-2 + LoRA looks like from the trainer's side: only attention and feed-forward weights train
(``train_scope: adapters``; the shared conditioning is frozen, so the A2V/V2A paths are the only coupling between
the streams), the data hold a silent distractor blob beside the sounding one, and the optimiser warms up gently.
Three studies, each arm run for every seed against one local toy reward server:

- ``advantages``: routed vs global vs GDPO on all three rewards (surgery and regions off);
- ``surgery``: a video-only reward (the audio branch gets r = ½), A2V kept fraction 1 everywhere (off) vs the
  released schedule rescaled to the toy's blocks vs 0 everywhere (full detach); audio reward and audio drift;
- ``regions``: routed, region weights on (w_max 1.5) vs uniform (w_max 1.0, the same capture so the attention
  mass on the sounding blob is measured in both arms); sync reward and attention mass on the sounding object.

    python -m omninft.trainer.experiments.toy_mechanisms --out runs/toy_mechanisms --seeds 0,1,2 --epochs 40

Writes ``results.json``, ``table.md`` and ``curves.png`` (one row of panels per study).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from omninft.trainer.experiments.toy_compare import REWARDS, _merge, run_one

TOY_POLICY: dict[str, Any] = {"train_scope": "adapters", "data": {"coupled": True, "distractor": True}}
OFF = {"surgery": {"enabled": False}, "regions": {"enabled": False}}
VIDEO_ONLY = [
    {"name": "toy_video", "scorer": "toy_video", "route": "video", "weight": 1.0, "server": "local"}
]
# Every arm of the surgery study also reports the audio reward, with weight 0 it only rides along for the logs.
VIDEO_ONLY_LOGGED = VIDEO_ONLY + [
    {"name": "toy_audio", "scorer": "toy_audio", "route": "audio", "weight": 0.0, "server": "local"},
    {"name": "toy_sync", "scorer": "toy_sync", "route": "sync", "weight": 0.0, "server": "local"},
]
STUDIES: dict[str, dict[str, dict[str, Any]]] = {
    "advantages": {
        "routed": {"advantage": {"mode": "routed"}, **OFF},
        "global": {"advantage": {"mode": "global"}, **OFF},
        "gdpo": {"advantage": {"mode": "gdpo_omninft"}, **OFF},
    },
    "surgery": {
        "surgery_off": {
            "rewards": VIDEO_ONLY_LOGGED,
            "advantage": {"empty_route_fallback": False},
            "surgery": {"enabled": False},
            "regions": {"enabled": False},
        },
        "surgery_released": {
            "rewards": VIDEO_ONLY_LOGGED,
            "advantage": {"empty_route_fallback": False},
            "surgery": {"enabled": True},
            "regions": {"enabled": False},
        },
        "surgery_detach": {
            "rewards": VIDEO_ONLY_LOGGED,
            "advantage": {"empty_route_fallback": False},
            "surgery": {"enabled": True, "per_block": [0.0, 0.0, 0.0, 0.0]},
            "regions": {"enabled": False},
        },
    },
    "regions": {
        "regions_on": {
            "advantage": {"mode": "routed"},
            "surgery": {"enabled": False},
            "regions": {"enabled": True, "w_max": 1.5, "warmup_steps": 0},
        },
        "regions_uniform": {
            "advantage": {"mode": "routed"},
            "surgery": {"enabled": False},
            "regions": {"enabled": True, "w_max": 1.0, "warmup_steps": 0},
        },
    },
}


def base_config(
    out: Path,
    base: Path,
    seed: int,
    epochs: int,
    pretrain_steps: int,
    lr: float,
    warmup: int,
    groups: int = 8,
) -> dict[str, Any]:
    """``groups`` prompts × 8 samples, 10 Euler steps, 5 of 10 σ's, one AdamW step per epoch with a linear warm-up."""
    return {
        "out_dir": str(out),
        "seed": seed,
        "epochs": epochs,
        "threads": 1,
        "policy": {
            "kind": "toy",
            "base_checkpoint": str(base),
            "pretrain_steps": pretrain_steps,
            "options": TOY_POLICY,
        },
        "data": {"groups_per_epoch": groups, "group_size": 8, "rollout_batch": 16},
        "sampler": {"steps": 10},
        "train": {
            "lr": lr,
            "lr_warmup_steps": warmup,
            "micro_batch": 16,
            "sigma_policy": "random_frac",
            "sigma_frac": 0.5,
        },
        "log": {"checkpoint_every": 0, "tensorboard": False},
    }


def _series(recs: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([float(r.get(key, np.nan)) for r in recs], dtype=np.float64)


def summarise(runs: list[dict[str, Any]], last: int) -> dict[str, Any]:
    """Per arm: ΔR_k (mean of the last epochs − epoch 0), mean ± sd over seeds, and the region diagnostics."""
    out: dict[str, Any] = {}
    for arm in dict.fromkeys(r["mode"] for r in runs):
        rs = [r for r in runs if r["mode"] == arm]
        row: dict[str, Any] = {"study": rs[0]["study"], "seeds": [r["seed"] for r in rs]}
        for k in REWARDS:
            d = [
                float(
                    np.nanmean(_series(r["records"], f"reward/{k}")[-last:])
                    - _series(r["records"], f"reward/{k}")[0]
                )
                for r in rs
            ]
            row[f"d_{k}"] = (float(np.mean(d)), float(np.std(d, ddof=1)) if len(d) > 1 else 0.0)
        for key in (
            "region_target_mass",
            "region_target_iou",
            "region_target_share",
            "sign_disagreement_rate",
            "route_fallback/video",
            "route_fallback/audio",
        ):
            vals = [float(np.nanmean(_series(r["records"], key)[-last:])) for r in rs]
            if all(np.isfinite(vals)):
                row[key] = (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
        mins = [
            min(
                float(
                    np.nanmean(_series(r["records"], f"reward/{k}")[-last:])
                    - _series(r["records"], f"reward/{k}")[0]
                )
                for k in REWARDS
            )
            for r in rs
        ]
        row["no_regression_seeds"] = int(sum(m > 0 for m in mins))
        row["wall_s"] = float(np.mean([r["wall_s"] for r in rs]))
        out[arm] = row
    return out


def _pm(v: tuple[float, float], fmt: str = "+.3f") -> str:
    return f"{v[0]:{fmt}} ± {v[1]:.3f}"


def table(summary: dict[str, Any]) -> str:
    """Markdown tables, one per study."""
    lines: list[str] = []
    for study in dict.fromkeys(s["study"] for s in summary.values()):
        lines += [
            f"### {study}",
            "",
            "| arm | ΔR_video | ΔR_audio | ΔR_sync | all ΔR > 0 (seeds) | attention mass on sounding blob "
            "(chance) | sign disagreement | s/run |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for arm, s in summary.items():
            if s["study"] != study:
                continue
            mass = (
                f"{s['region_target_mass'][0]:.3f} ± {s['region_target_mass'][1]:.3f} "
                f"({s['region_target_share'][0]:.2f})"
                if "region_target_mass" in s
                else "n/a"
            )
            dis = f"{s['sign_disagreement_rate'][0]:.2f}" if "sign_disagreement_rate" in s else "n/a"
            lines.append(
                f"| {arm} | {_pm(s['d_toy_video'])} | {_pm(s['d_toy_audio'])} | {_pm(s['d_toy_sync'])} | "
                f"{s['no_regression_seeds']}/{len(s['seeds'])} | {mass} | {dis} | {s['wall_s']:.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Reward curves (mean ± sd over seeds), one row per study."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    studies = list(dict.fromkeys(r["study"] for r in runs))
    fig, axes = plt.subplots(
        len(studies), len(REWARDS) + 1, figsize=(4.0 * (len(REWARDS) + 1), 3.0 * len(studies)), squeeze=False
    )
    for row, study in zip(axes, studies, strict=True):
        keys = [f"reward/{k}" for k in REWARDS] + ["region_target_mass"]
        for ax, key in zip(row, keys, strict=True):
            for arm in dict.fromkeys(r["mode"] for r in runs if r["study"] == study):
                curves = np.array([_series(r["records"], key) for r in runs if r["mode"] == arm])
                if not np.isfinite(curves).any():
                    continue
                mu, sd = np.nanmean(curves, 0), np.nanstd(curves, 0)
                ep = np.arange(curves.shape[1])
                ax.plot(ep, mu, label=arm)
                ax.fill_between(ep, mu - sd, mu + sd, alpha=0.2)
            ax.set_title(f"{study}: {key.split('/')[-1]}", fontsize=9)
            ax.set_xlabel("epoch")
        row[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Run the studies and write results.json, table.md and curves.png."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/toy_mechanisms"))
    ap.add_argument("--studies", default=",".join(STUDIES))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--pretrain-steps", type=int, default=800)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=10, help="optimiser steps of linear lr warm-up")
    ap.add_argument("--groups", type=int, default=8, help="prompt groups (of 8 samples) per epoch")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--last", type=int, default=5, help="epochs averaged for the final reward")
    args = ap.parse_args(argv)

    import torch

    from omninft.trainer.policies.toy import build_from_options
    from omninft.trainer.rollout import EmbeddedRewardServer

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "toy_base_distractor.pt"
    t0 = time.perf_counter()
    build_from_options({"base_checkpoint": str(base), "pretrain_steps": args.pretrain_steps, **TOY_POLICY})
    print(f"base model ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    studies = [s for s in args.studies.split(",") if s]
    with EmbeddedRewardServer(list(REWARDS), log_path=args.out / "reward-server.log") as srv:
        jobs = []
        for study in studies:
            for arm, over in STUDIES[study].items():
                for seed in seeds:
                    cfg = _merge(
                        base_config(
                            args.out / f"{arm}-s{seed}",
                            base,
                            seed,
                            args.epochs,
                            args.pretrain_steps,
                            args.lr,
                            args.warmup,
                            args.groups,
                        ),
                        over,
                    )
                    jobs.append(
                        {"mode": arm, "study": study, "seed": seed, "config": cfg, "address": srv.address}
                    )
        runs: list[dict[str, Any]] = []
        with ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            for job, res in zip(jobs, pool.map(run_one, jobs), strict=True):
                res["study"] = job["study"]
                runs.append(res)
                last = res["records"][-1]
                print(
                    f"{res['mode']:18s} seed {res['seed']}: "
                    + "  ".join(f"{k}={last[f'reward/{k}']:.3f}" for k in REWARDS)
                    + f"  ({res['wall_s']:.0f} s)",
                    flush=True,
                )
    summary = summarise(runs, args.last)
    (args.out / "results.json").write_text(
        json.dumps({"summary": summary, "args": vars(args), "runs": runs}, indent=1, default=str)
    )
    md = table(summary)
    (args.out / "table.md").write_text(md + "\n")
    plot(runs, args.out / "curves.png")
    print(md)
    print(f"wrote {args.out}/results.json, table.md, curves.png")


if __name__ == "__main__":
    main()
