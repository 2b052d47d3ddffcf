"""NVIDIA's perf_analyzer (from the tritonclient wheel) drives omninft-serve's KServe front unchanged."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from omninft.reward_servers.serving.oip_schema import serialize_bytes
from omninft.reward_servers.serving.triton_runtime import install_perf_analyzer_libs, perf_analyzer_binary
from tests.helpers.media import encode_video, gradient_frames
from tests.helpers.server import running_server


def _libs() -> Path:
    """libcudart.so.12 and libb64.so.0d for perf_analyzer, or skip when they cannot be fetched."""
    home = Path(os.environ.get("OMNINFT_TRITON_HOME", Path.home() / ".cache" / "omninft" / "triton"))
    try:
        return install_perf_analyzer_libs(home)
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        pytest.skip(
            f"perf_analyzer's libraries (nvidia-cuda-runtime-cu12 via pip, libb64-0d via apt) unavailable: {exc}"
        )


async def test_perf_analyzer_measures_the_kserve_front(tmp_path: Path) -> None:
    binary = perf_analyzer_binary()
    assert binary is not None, "perf_analyzer ships in tritonclient==2.45.0 (a serve dependency)"
    libs = await asyncio.to_thread(_libs)
    rows = [
        {
            "video": {
                "b64": base64.b64encode(
                    serialize_bytes([encode_video(gradient_frames(8, 16, 16, level=v), fps=8)])
                ).decode(),
                "shape": [1],
            }
        }
        for v in (40, 120, 200)
    ]
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"data": rows}))
    out = tmp_path / "out.csv"
    async with running_server() as r:
        cmd = [
            str(binary),
            "-m",
            "brightness",
            "-u",
            r.server.address,
            "-i",
            "grpc",
            "--input-data",
            str(data),
            "--concurrency-range",
            "2",
            "--measurement-mode",
            "count_windows",
            "--measurement-request-count",
            "12",
            "--stability-percentage",
            "100",
            "--max-trials",
            "5",
            "-f",
            str(out),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            env={"LD_LIBRARY_PATH": str(libs), "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        text = (await asyncio.wait_for(proc.communicate(), timeout=240))[0].decode(errors="replace")
        assert proc.returncode == 0, text[-3000:]
        served = r.server.metrics.registry.get_sample_value(
            "omninft_request_success_total", {"scorer": "brightness"}
        )
    (row,) = list(csv.DictReader(out.open()))
    assert float(row["Inferences/Second"]) > 0 and float(row["p99 latency"]) > 0
    # It read ModelConfig (max_batch_size, dynamic batching) and, with "statistics" advertised, server-side stats.
    assert "Server:" in text and "Inference count" in text, text[-3000:]
    assert served is not None and served >= 36
