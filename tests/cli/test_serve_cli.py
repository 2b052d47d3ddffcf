"""omninft-serve: argument handling in-process (CliRunner) and a real subprocess drained by SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from click.testing import CliRunner

from omninft.reward_servers.cli import serve_main, tiny_banner
from omninft_client.v1 import reward_pb2, reward_pb2_grpc
from tests.helpers.media import gradient_frames
from tests.helpers.server import frames_video, sample

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_options_and_subcommands() -> None:
    result = CliRunner().invoke(serve_main, ["--help"])
    assert result.exit_code == 0
    for flag in (
        "--config",
        "--scorer",
        "--weights",
        "--backend",
        "--device",
        "--port-file",
        "--allow-root",
        "--max-batch-size",
        "--max-queue-delay-ms",
        "--metrics-port",
        "fetch-weights",
    ):
        assert flag in result.output


def test_config_errors_are_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "server.yaml"
    cfg.write_text("scorers:\n  clap:\n    maxBatchsize: 4\n")
    result = CliRunner().invoke(serve_main, ["--config", str(cfg)])
    assert result.exit_code == 2
    assert "Did you mean 'maxBatchSize'" in result.output


def test_no_scorers_is_a_usage_error() -> None:
    result = CliRunner().invoke(serve_main, ["--port", "0"])
    assert result.exit_code == 2
    assert "no scorers" in result.output


def test_port_in_use_is_a_clean_error(tmp_path: Path) -> None:
    cfg = tmp_path / "server.yaml"
    cfg.write_text(
        "metricsPort: -1\nplugins: {brightness: tests.helpers.scorers:build}\nscorers: {brightness: {}}\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(serve_main, ["--config", str(cfg), "--port", str(port)])
    assert result.exit_code == 1
    assert "cannot bind" in result.output
    assert "Traceback" not in result.output


def test_fetch_weights_verifies_a_cached_checkpoint(tmp_path: Path) -> None:
    from omninft.reward_servers.models import clap as clap_model
    from omninft.reward_servers.weights import sha256_file

    model, tokenizer, _ = clap_model.load("tiny")
    local = tmp_path / "hf" / "laion" / "clap-htsat-unfused"
    model.save_pretrained(local)
    tokenizer.save_pretrained(local)
    result = CliRunner().invoke(
        serve_main, ["fetch-weights", "--scorer", "clap", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert sha256_file(local / "model.safetensors") in result.output and str(local) in result.output


def test_export_entry_point_is_wired() -> None:
    exe = shutil.which("omninft-export")
    assert exe, "console script not installed"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--scorer" in proc.stdout and "tensorrt" in proc.stdout


def test_tiny_banner_is_loud() -> None:
    text = tiny_banner(["clap", "clip"])
    assert "TINY RANDOM WEIGHTS: scores are meaningless" in text
    assert "clap, clip" in text
    assert len({len(line) for line in text.strip().splitlines()}) == 1


def _serve_command() -> list[str]:
    exe = shutil.which("omninft-serve")
    return [exe] if exe else [sys.executable, "-m", "omninft.reward_servers.cli"]


def test_sigterm_drains_in_flight_request_and_exits_zero(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "metricsPort: -1\n"
        "drainGraceS: 10\n"
        "plugins:\n"
        "  brightness: tests.helpers.scorers:build\n"
        "  caption: tests.helpers.scorers:build\n"
        "scorers:\n"
        "  brightness:\n"
        "    options: {forward_delay_s: 0.8}\n"
        "  caption: {}\n"
    )
    port_file = tmp_path / "run" / "port"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("OMNINFT_AUTH_TOKEN", None)
    proc = subprocess.Popen(
        [*_serve_command(), "--config", str(cfg), "--port", "0", "--port-file", str(port_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "server never wrote its port file"
            time.sleep(0.05)
        address = port_file.read_text()
        assert address.endswith("\n") and address.startswith("127.0.0.1:")
        with grpc.insecure_channel(address.strip()) as channel:
            stub = reward_pb2_grpc.RewardServiceStub(channel)
            req = reward_pb2.ScoreRequest(
                samples=[sample(video=frames_video(gradient_frames(8, 16, 16)))], scorers=["brightness"]
            )
            future = stub.Score.future(req, timeout=30)
            time.sleep(0.3)  # the request is now inside the 0.8 s forward
            proc.send_signal(signal.SIGTERM)
            resp = future.result()
            assert "brightness" in resp.results[0].scores
        assert proc.wait(timeout=30) == 0
        _, stderr = proc.communicate()
        assert "TINY RANDOM WEIGHTS: scores are meaningless" in stderr
        assert "SIGTERM: draining" in stderr
        assert not port_file.exists()  # removed at exit: it announces a live server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_fetch_weights_reports_an_unreachable_hub_without_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_ETAG_TIMEOUT": "2",
        "HF_HUB_DOWNLOAD_TIMEOUT": "2",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "omninft.reward_servers.cli",
            "fetch-weights",
            "--scorer",
            "clap",
            "--cache-dir",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "could not download laion/clap-htsat-unfused" in proc.stderr and "Traceback" not in proc.stderr


def test_health_command_reports_serving_on_the_health_port(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "metricsPort: -1\nhealthPort: 0\nplugins: {brightness: tests.helpers.scorers:build}\n"
        "scorers: {brightness: {}}\n"
    )
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [*_serve_command(), "--config", str(cfg), "--port", "0", "--port-file", str(port_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "server never wrote its port file"
            time.sleep(0.05)
        address = port_file.read_text().strip()
        result = CliRunner().invoke(
            serve_main, ["health", "--address", address, "--service", "omninft.v1.RewardService"]
        )
        assert result.exit_code == 0, result.output
        assert "SERVING" in result.output
        refused = CliRunner().invoke(serve_main, ["health", "--address", "127.0.0.1:1", "--timeout", "1"])
        assert (
            refused.exit_code == 1 and "UNAVAILABLE" in refused.output and "Traceback" not in refused.output
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    # The plaintext health-only port is announced in the log.
    assert "health-only port" in stderr and "health-only port off" not in stderr


def test_fetch_weights_takes_every_official_scorer_of_a_config(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("scorers:\n  clap: {weights: official}\n  clip: {weights: tiny}\n")
    # Offline: the official CLAP weights are absent and the hub is unreachable; CLIP (tiny) is not attempted.
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = CliRunner(env=env).invoke(
        serve_main, ["fetch-weights", "--config", str(cfg), "--cache-dir", str(tmp_path / "cache")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: clap:") and "clip" not in result.output.split("clap:", 1)[1][:40]
    empty = CliRunner().invoke(serve_main, ["fetch-weights"])
    assert empty.exit_code == 2 and "nothing to fetch" in empty.output
