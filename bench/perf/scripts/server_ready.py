"""Server ready time against the time to read its weight files from disk, for the `mid` JavisBench config.

    # once: the mid config's full-size random models saved in the layouts their loaders read (~8 GB)
    python -m omninft.bench.perf.scripts.server_ready weights --out /tmp/ready-weights \\
        --bpe /path/to/bpe_simple_vocab_16e6.txt.gz
    # then, as often as needed (each run evicts the files from the page cache first):
    python -m omninft.bench.perf.scripts.server_ready measure --weights-dir /tmp/ready-weights --label after

`mid` (javisbench_suite.CONFIGS) serves clip, clap, imagebind, desync, audiobox_aesthetics, i3d and audioclip
at full size and videoalign and imagebind_avh tiny. Here the full-size ones load the saved files as PATH
weights, which is what a server with official checkpoints does; `random` would measure random initialisation
instead, which no real server pays.

`measure` first drops the files from the page cache (posix_fadvise DONTNEED on each file: needs no privileges
and touches no other process's pages), times reading them all (cold read, 8 MiB reads), reads them again (warm
read), drops them again, then starts `omninft-serve` on the same files and times until it reports SERVING
(weights loaded and one warm-up batch per scorer). It prints the cold read time, the ready time and their
ratio, the per-scorer build and warm-up times from the server log, and the server's CPU seconds. The `sha256`
sidecars written on the first run are kept, as a real deployment keeps them, so later runs do not re-hash.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from omninft.bench.perf.scripts._common import report
from omninft.bench.perf.scripts.javisbench_suite import CONFIGS

_READ = 8 << 20
# The file or folder each full-size scorer of `mid` loads, relative to the weights folder.
LAYOUT = {
    "clip": "clip",
    "clap": "clap",
    "imagebind": "imagebind_huge.pth",
    "desync": "synchformer_state_dict.pth",
    "audiobox_aesthetics": "audiobox_checkpoint.pt",
    "i3d": "i3d_pretrained_400.pt",
    "audioclip": "AudioCLIP-Full-Training.pt",
}
BPE = "bpe_simple_vocab_16e6.txt.gz"


def _save_hf(model: Any, tokenizer: Any, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def write_weights(out: Path, bpe: Path | None, seed: int, only: list[str]) -> None:
    """Build each full-size random model of `mid` (seeded, one at a time) and save it as its loader reads it."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    if bpe is not None:
        shutil.copyfile(bpe, out / BPE)
    for name in only or list(LAYOUT):
        target = out / LAYOUT[name]
        t0 = time.perf_counter()
        if name == "clip":
            from omninft.reward_servers.models.clip.model import _tiny as clip_random

            model, tok, _ = clip_random(seed, "random")
            _save_hf(model, tok, target)
        elif name == "clap":
            from transformers import ClapFeatureExtractor

            from omninft.reward_servers.models.clap import model as clap_model

            model, tok, _ = clap_model._tiny(seed, "random")
            _save_hf(model, tok, target)
            fe_kwargs: dict[str, Any] = {
                k: v for k, v in clap_model.EXPECTED_FEATURE_EXTRACTOR.items() if k != "top_db"
            }
            fe = ClapFeatureExtractor(**fe_kwargs)
            fe.save_pretrained(str(target))
        elif name == "imagebind":
            from omninft.reward_servers.models.imagebind.model import ImageBindConfig, build

            model = build(ImageBindConfig.huge(), seed=seed)
            torch.save(model.state_dict(), target)
        elif name == "desync":
            from omninft.reward_servers.models.synchformer.config import SynchformerConfig
            from omninft.reward_servers.models.synchformer.model import build as build_sync

            model = build_sync(SynchformerConfig.official(), seed=seed)
            torch.save(model.state_dict(), target)
        elif name == "audiobox_aesthetics":
            from omninft.reward_servers.models.audiobox import config as cfgmod
            from omninft.reward_servers.models.audiobox.keys import local_to_official
            from omninft.reward_servers.models.audiobox.model import build as build_aes

            cfg = cfgmod.official()
            model = build_aes(cfg, seed)
            ckpt_cfg = cfgmod.to_checkpoint_config(cfg)
            sd = {"model." + k: v for k, v in local_to_official(model.state_dict()).items()}
            torch.save(
                {"state_dict": sd, "model_cfg": ckpt_cfg, "target_transform": ckpt_cfg["target_transform"]},
                target,
            )
        elif name == "i3d":
            from omninft.reward_servers.models.i3d import model as i3d_model

            model, _ = i3d_model.load("random", seed)
            torch.save(model.state_dict(), target)
        elif name == "audioclip":
            from omninft.reward_servers.models.audioclip import model as ac_model

            model, _ = ac_model.load("random", seed)
            torch.save({ac_model.CHECKPOINT_PREFIX + k: v for k, v in model.state_dict().items()}, target)
        else:
            raise SystemExit(f"no layout for {name}")
        del model
        print(f"{name}: wrote {target} in {time.perf_counter() - t0:.1f} s", flush=True)


def weight_files(weights_dir: Path) -> list[Path]:
    """Every weight file the mid server reads (tokenizer/config files are a few kB and left out)."""
    files: list[Path] = []
    for rel in LAYOUT.values():
        p = weights_dir / rel
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".pt", ".pth"))
        else:
            files.append(p)
    return files


def evict(files: list[Path]) -> None:
    """Drop the files' pages from the page cache (affects only these files)."""
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_all(files: list[Path]) -> float:
    """Seconds to read every byte of the files (like `cat files > /dev/null`)."""
    buf = bytearray(_READ)
    t0 = time.perf_counter()
    for f in files:
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - t0


def server_config(weights_dir: Path, warmup: bool = True) -> dict[str, Any]:
    """The mid config with each full-size scorer reading its saved file (tiny ones stay tiny)."""
    scorers: dict[str, Any] = {}
    for name, mode in CONFIGS["mid"].items():
        sc: dict[str, Any] = {"weights": mode, "maxBatchSize": 8}
        if mode == "random" and name in LAYOUT:  # av_align has no weights
            sc["weights"] = str(weights_dir / LAYOUT[name])
        if name == "imagebind" and (weights_dir / BPE).is_file():
            sc["options"] = {"tokenizer": str(weights_dir / BPE)}
        scorers[name] = sc
    return {"host": "127.0.0.1", "port": 0, "metricsPort": -1, "warmup": warmup, "scorers": scorers}


def serve_until_ready(cfg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Start omninft-serve on cfg; seconds until SERVING, the child's CPU seconds and its log lines of note."""
    with tempfile.TemporaryDirectory(prefix="server-ready-") as tmp:
        cfg_path, port_file, log_path = Path(tmp, "c.json"), Path(tmp, "port"), Path(tmp, "log")
        cfg_path.write_text(json.dumps(cfg))
        cmd = [sys.executable, "-m", "omninft.reward_servers.cli", "--config", str(cfg_path)]
        cmd += ["--port-file", str(port_file)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with log_path.open("wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            try:
                while not port_file.exists():
                    if proc.poll() is not None:
                        raise SystemExit(f"server exited {proc.returncode}:\n{log_path.read_text()[-4000:]}")
                    if time.perf_counter() - t0 > timeout_s:
                        raise SystemExit(f"not ready after {timeout_s} s:\n{log_path.read_text()[-4000:]}")
                    time.sleep(0.05)
                ready_s = time.perf_counter() - t0
                hwm = _status_kib(proc.pid, "VmHWM")
            finally:
                proc.terminate()
                proc.wait(60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        text = log_path.read_text(errors="replace")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "ready_s": round(ready_s, 2),
        "server_cpu_s": round(cpu, 1),
        "peak_rss_mib": round(hwm / 1024),
        "warmup_s": {m[0]: float(m[1]) for m in re.findall(r"warmed up (\S+) in ([0-9.]+) s", text)},
        "build_s": {m[0]: float(m[1]) for m in re.findall(r"built scorer (\S+) in ([0-9.]+) s", text)},
        "log": [ln for ln in text.splitlines() if re.search(r"built|loaded|warmed|SERVING|building", ln)][
            -40:
        ],
    }


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def measure(weights_dir: Path, label: str, timeout_s: float, warmup: bool) -> None:
    """Cold and warm read of the weight files, then the server's ready time on them from a cold cache."""
    files = weight_files(weights_dir)
    size = sum(f.stat().st_size for f in files)
    evict(files)
    cold = read_all(files)
    warm = read_all(files)
    evict(files)
    srv = serve_until_ready(server_config(weights_dir, warmup), timeout_s)
    doc = {
        "label": label,
        "warmup": warmup,
        "config": "mid (full-size scorers on saved random weights as PATH; videoalign, imagebind_avh tiny)",
        "weight_bytes": size,
        "files": {str(f.relative_to(weights_dir)): f.stat().st_size for f in files},
        "read_cold_s": round(cold, 2),
        "read_cold_mb_s": round(size / cold / 1e6, 1),
        "read_warm_s": round(warm, 2),
        **srv,
        "ready_over_cold_read": round(srv["ready_s"] / cold, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    report("server_ready", doc, variant=label if warmup else f"{label}-nowarmup")
    print(
        f"weights {size / 1e9:.2f} GB: cold read {cold:.1f} s ({size / cold / 1e6:.0f} MB/s), warm read "
        f"{warm:.1f} s; server ready {srv['ready_s']:.1f} s (CPU {srv['server_cpu_s']:.0f} s); "
        f"ready / cold read = {srv['ready_s'] / cold:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    """Dispatch `weights` and `measure`."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="stage", required=True)
    w = sub.add_parser("weights", help="write the mid config's full-size random weights")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--bpe", type=Path, help="CLIP BPE vocabulary (ImageBind's text tokenizer)")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--only", default="", help="comma list of scorers (default: all of LAYOUT)")
    m = sub.add_parser("measure", help="read time vs server ready time")
    m.add_argument("--weights-dir", type=Path, required=True)
    m.add_argument("--label", default="now")
    m.add_argument("--timeout-s", type=float, default=1800)
    m.add_argument(
        "--no-warmup", action="store_true", help="ready = weights loaded (the server's `warmup: false`)"
    )
    a = ap.parse_args(argv)
    if a.stage == "weights":
        write_weights(a.out, a.bpe, a.seed, [s for s in a.only.split(",") if s])
    else:
        measure(a.weights_dir.resolve(), a.label, a.timeout_s, not a.no_warmup)


if __name__ == "__main__":
    main()
