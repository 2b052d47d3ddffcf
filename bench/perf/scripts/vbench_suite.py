"""All 16 VBench dimensions in standard mode through one served run: decodes per video and time by dimension.

    python -m omninft.bench.perf.scripts.vbench_suite [--per-prompt 5] [--seconds 2.0] [--weights tiny]

Writes the demo set (`omninft-bench run vbench --demo`'s generated standard-mode folder and suite JSON: 11
prompts x `--per-prompt` videos, where one video serves up to three dimensions), starts one server hosting the
16 `vbench_*` scorers (metrics on, file:// URIs under the folder allowed) and runs
`omninft-bench run vbench --server ADDR --videos DIR --full-info SUITE --layout flat` against it. Around the
run it scrapes the server's /metrics: `omninft_decodes_total{modality="video"}` (the server's decode counter:
every file it decodes, decode-cache hits excluded) gives decodes per video; `omninft_stage_seconds_total` gives
preprocess / forward seconds per scorer, i.e. per dimension. Server start (model loads + warm-ups) is reported
apart from the run. Stage seconds are wall time inside each stage (forward on the one device thread, so forward
seconds of different scorers never overlap); on a shared machine they include waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from omninft.bench.perf.scripts._common import free_port, report, rss_mib, scrape, served
from omninft.bench.perf.scripts.javisbench_suite import delta, stage_breakdown


def main() -> None:
    """Serve the 16 scorers, run the standard-mode demo set through `omninft-bench run vbench`, report."""
    from omninft.bench.suites.vbench.demo import DEMO_SUITE, write_demo_vbench
    from omninft.bench.suites.vbench.dimensions import DIMENSIONS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-prompt", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--weights", default="tiny")
    args = ap.parse_args()
    scorers = sorted(d.scorer for d in DIMENSIONS.values())
    with tempfile.TemporaryDirectory(prefix="vbench-suite-") as tmp:
        folder = Path(tmp) / "videos"
        suite = write_demo_vbench(folder, per_prompt=args.per_prompt, seconds=args.seconds)
        n_videos = len(list(folder.glob("*.mp4")))
        port = free_port()
        t0 = time.perf_counter()
        with served(
            {n: {"weights": args.weights} for n in scorers},
            metricsPort=port,
            allowedUriRoots=[str(folder)],
            maxConnectionAgeS=86400.0,
        ) as srv:
            startup_s = time.perf_counter() - t0
            before = scrape(port)
            server_cpu0 = _proc_cpu_s(srv.pid)
            cmd = [
                shutil.which("omninft-bench") or "omninft-bench",
                "run",
                "vbench",
                "--server",
                srv.address,
                "--videos",
                str(folder),
                "--full-info",
                str(suite),
                "--layout",
                "flat",
                "--send-uris",
                "--no-progress",
                "--fresh",
                "--out",
                str(Path(tmp) / "out"),
            ]
            c0 = os.times()
            t1 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t1
            c1 = os.times()
            after = scrape(port)
            server_cpu = _proc_cpu_s(srv.pid)
            hwm = rss_mib(srv.pid, "VmHWM")
    # exit 1 with tiny weights is expected when a dimension ends with no value (color: every video dropped by
    # the reference's rule); the figures stand, the message is kept
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"omninft-bench failed:\n{proc.stderr[-3000:]}")
    decodes = sum(
        v for k, v in delta(after, before, "omninft_decodes_total").items() if dict(k)["modality"] == "video"
    )
    hits = delta(after, before, "omninft_decode_cache_hits_total")
    values = dict(re.findall(r"^\s*(\w+) = ([0-9.]+%|n/a)", proc.stdout, flags=re.M))
    report(
        "vbench_suite",
        {
            "weights": args.weights,
            "videos": n_videos,
            "prompts": len(DEMO_SUITE),
            "clip": f"{args.seconds}s 96x128 8fps H.264 (the demo set)",
            "dimension_units": sum(len(e["dimension"]) for e in DEMO_SUITE) * args.per_prompt,
            "video_decodes": decodes,
            "decodes_per_video": round(decodes / n_videos, 3),
            "decode_cache_hits": {dict(k)["modality"]: v for k, v in hits.items() if v},
            "server_start_s": round(startup_s, 1),
            "run_wall_s": round(wall, 1),
            "client_cpu_s": round(
                c1.children_user + c1.children_system - c0.children_user - c0.children_system, 1
            ),
            "server_process_cpu_s_start": server_cpu0,
            "server_process_cpu_s_run": round(server_cpu - server_cpu0, 1),
            "stages": stage_breakdown(delta(after, before, "omninft_stage_seconds_total")),
            "server_peak_rss_mib": round(hwm),
            "values": values,
            "exit_code": proc.returncode,
            "errors": [ln for ln in proc.stderr.splitlines() if ln.startswith("Error")],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        variant=args.weights,
    )


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


if __name__ == "__main__":
    main()
