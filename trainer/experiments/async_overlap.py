"""How well the trainer hides reward scoring behind rollouts: async vs sequential reward calls on the toy.

A real reward model (VideoAlign, HPSv3, ...) costs seconds per batch on its GPU pool; the toy rewards cost
nothing, so each toy scorer here sleeps `latency` seconds per scored item to stand in for that cost (per item,
so server-side batching cannot make the emulated work vanish). For each
latency the toy trains a few epochs with `reward.async` on and off against the same local reward server, and
the collect phase (rollout + decode + submit + waiting for rewards) is compared with its two parts:

    R = rollout + decode time (async run), S = scoring time (sequential run: time spent waiting on rewards),
    overlap ratio = async collect time / max(R, S)   (target <= 1.1; 1.0 = perfect overlap)

    python -m omninft.trainer.experiments.async_overlap --out runs/async_overlap --latencies 0,0.002,0.004,0.008
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

REWARDS = ("toy_video", "toy_audio", "toy_sync")


def run_config(out: Path, base: Path, epochs: int, async_: bool, rollout_batch: int) -> dict[str, Any]:
    """A short toy run (8 groups x 8 samples) with rewards from the given server."""
    return {
        "out_dir": str(out),
        "seed": 0,
        "epochs": epochs,
        "threads": 1,
        "policy": {"kind": "toy", "base_checkpoint": str(base)},
        "data": {"groups_per_epoch": 8, "group_size": 8, "rollout_batch": rollout_batch},
        "sampler": {"steps": 10},
        "rewards": [
            {"name": r, "scorer": r, "route": route, "server": "local"}
            for r, route in zip(REWARDS, ("video", "audio", "sync"), strict=True)
        ],
        "reward": {"async": async_},
        "log": {"checkpoint_every": 0},
    }


def collect_times(records: list[dict[str, Any]]) -> dict[str, float]:
    """Mean per-epoch phase times, skipping the first epoch (connection set-up, caches)."""
    recs = records[1:] or records
    keys = ("rollout_s", "decode_s", "submit_s", "reward_wait_s", "train_s", "epoch_s")
    out = {k: float(np.mean([r[k] for r in recs])) for k in keys}
    out["collect_s"] = out["rollout_s"] + out["decode_s"] + out["submit_s"] + out["reward_wait_s"]
    return out


def measure(latency_s: float, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    """Async and sequential runs against one server whose toy scorers sleep `latency_s` per item."""
    from omninft.trainer.config import load_config
    from omninft.trainer.loop import Trainer
    from omninft.trainer.rollout import EmbeddedRewardServer

    options = {r: {"options": {"latency_per_item_s": latency_s}} for r in REWARDS}
    out = args.out / f"latency-{latency_s:g}"
    with EmbeddedRewardServer(
        list(REWARDS), scorer_options=options, log_path=out / "reward-server.log"
    ) as srv:
        times = {}
        for flag in (True, False):
            cfg = load_config(
                run_config(
                    out / ("async" if flag else "sequential"), base, args.epochs, flag, args.rollout_batch
                )
            )
            records = Trainer(cfg, reward_addresses={"local": srv.address}).run()
            times["async" if flag else "sequential"] = collect_times(records)
    a, s = times["async"], times["sequential"]
    rollout = a["rollout_s"] + a["decode_s"]
    scoring = s["reward_wait_s"] + s["submit_s"]
    return {
        "latency_s": latency_s,
        "async": a,
        "sequential": s,
        "rollout_decode_s": rollout,
        "scoring_s": scoring,
        "overlap_ratio": a["collect_s"] / max(rollout, scoring),
        "sequential_over_async_collect": s["collect_s"] / a["collect_s"],
    }


def table(rows: list[dict[str, Any]], batches: int) -> str:
    """Markdown table of the measurements."""
    lines = [
        "| latency per item and reward | rollout+decode R (s/epoch) | scoring S (s/epoch) | collect, sequential | "
        "collect, async | async / max(R, S) | sequential / async |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['latency_s']:g} s | {r['rollout_decode_s']:.2f} | {r['scoring_s']:.2f} | "
            f"{r['sequential']['collect_s']:.2f} | {r['async']['collect_s']:.2f} | **{r['overlap_ratio']:.2f}** | "
            f"{r['sequential_over_async_collect']:.2f}x |"
        )
    lines.append(
        f"\n{batches} rollout batches per epoch; the last batch's scoring cannot overlap a rollout, so the "
        f"best possible ratio at R = S is about 1 + 1/{batches}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the measurement and write results.json and table.md under --out."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/async_overlap"))
    ap.add_argument(
        "--latencies", default="0,0.002,0.004,0.008", help="seconds slept per scored item and reward"
    )
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rollout-batch", type=int, default=8)
    ap.add_argument("--pretrain-steps", type=int, default=300)
    args = ap.parse_args(argv)

    import torch

    from omninft.trainer.policies.toy import build_from_options

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "toy_base.pt"
    build_from_options({"base_checkpoint": str(base), "pretrain_steps": args.pretrain_steps})
    rows = []
    for lat in (float(x) for x in args.latencies.split(",") if x):
        t0 = time.perf_counter()
        rows.append(measure(lat, args, base))
        r = rows[-1]
        print(
            f"latency {lat:g} s: R {r['rollout_decode_s']:.2f} s, S {r['scoring_s']:.2f} s, "
            f"async/max(R,S) {r['overlap_ratio']:.2f} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    batches = -(-64 // args.rollout_batch)
    md = table(rows, batches)
    (args.out / "results.json").write_text(
        json.dumps({"args": vars(args), "rows": rows}, indent=1, default=str)
    )
    (args.out / "table.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
