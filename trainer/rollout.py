"""Rewards for rollouts, only through ``omninft_client``: async dispatch and an embedded local reward server.

``RewardDispatcher`` runs one asyncio loop in a background thread with an ``AsyncRewardClient`` per server, so a
decoded rollout batch is encoded, sent and scored while the caller generates the next batch. A failed sample, a
failed scorer or an unreachable server yields NaN for the affected rewards (masked downstream, never 0.0).

A server address written ``kserve://host:port`` is a KServe v2 / Triton pool (``omninft-export --format triton``,
or omninft-serve's own KServe front): its client speaks ``protocol="kserve"``, which carries media as containers,
so rollouts bound for it are encoded losslessly (FFV1 video, float WAV audio) and score as the raw frames do.

``EmbeddedRewardServer`` spawns ``python -m omninft.reward_servers.cli`` on 127.0.0.1 port 0 (``--port-file``)
hosting the scorers the config needs; the trainer never imports the server package.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from omninft.trainer.policies.base import Media, PromptRecord
from omninft_client import (
    AsyncRewardClient,
    RetryPolicy,
    Sample,
    audio_bytes,
    audio_pcm,
    video_bytes,
    video_frames,
)

# A servers entry "kserve://host:port" names a KServe v2 / Triton pool.
KSERVE_SCHEME = "kserve://"


@dataclass(frozen=True)
class RewardRoute:
    """Where one reward comes from: output name, scorer requested, server address."""

    name: str
    scorer: str
    address: str


@dataclass
class RewardBatch:
    """Raw rewards of one submitted batch: name → (B,) float64 with NaN for failures, plus error messages."""

    values: dict[str, np.ndarray]
    errors: list[str] = field(default_factory=list)
    latency_s: float = 0.0


def media_to_sample(sample_id: str, media: Media, prompt: PromptRecord) -> Sample:
    """A client Sample with raw frames and PCM (no container encode) and the per-reward prompts."""
    return Sample(
        id=sample_id,
        prompt=prompt.video_prompt,
        audio_prompt=prompt.audio_prompt,
        video=video_frames(media.frames, media.fps),
        audio=audio_pcm(media.audio, media.sample_rate),
    )


def split_address(address: str) -> tuple[str, str]:
    """(gRPC target, protocol) of a servers entry: "kserve://host:port" -> ("host:port", "kserve")."""
    if address.startswith(KSERVE_SCHEME):
        return address[len(KSERVE_SCHEME) :], "kserve"
    return address, "omninft"


def encode_video_lossless(frames: np.ndarray, fps: float) -> bytes:
    """uint8 T×H×W×3 RGB frames as FFV1 in Matroska: decodes back to the same pixels at the same fps."""
    import io
    from fractions import Fraction

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
        # bgr0 is a packed RGB format FFV1 stores exactly; rgb24 -> bgr0 is a byte shuffle.
        stream.width, stream.height, stream.pix_fmt = int(frames.shape[2]), int(frames.shape[1]), "bgr0"
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def encode_audio_lossless(audio: np.ndarray, sample_rate: int) -> bytes:
    """float32 C×N audio as a 32-bit float WAV (bit-exact)."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(audio.T), sample_rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def media_to_container_sample(sample_id: str, media: Media, prompt: PromptRecord) -> Sample:
    """A client Sample whose media are lossless containers, for pools that take containers only (KServe)."""
    return Sample(
        id=sample_id,
        prompt=prompt.video_prompt,
        audio_prompt=prompt.audio_prompt,
        video=video_bytes(encode_video_lossless(media.frames, media.fps)),
        audio=audio_bytes(encode_audio_lossless(media.audio, media.sample_rate)),
    )


class RewardDispatcher:
    """Submits rollout media to the reward servers from a background event loop; results come back as futures."""

    def __init__(
        self, routes: Sequence[RewardRoute], *, timeout_s: float = 120.0, retry: RetryPolicy | None = None
    ) -> None:
        if not routes:
            raise ValueError("no rewards to dispatch")
        self.routes = list(routes)
        self.timeout_s = timeout_s
        self._retry = retry
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="omninft-rewards", daemon=True)
        self._clients: dict[str, AsyncRewardClient] = {}
        self._closed = False
        self._thread.start()

    def _by_address(self) -> dict[str, list[RewardRoute]]:
        out: dict[str, list[RewardRoute]] = {}
        for r in self.routes:
            out.setdefault(r.address, []).append(r)
        return out

    async def _client(self, address: str) -> AsyncRewardClient:
        if address not in self._clients:
            target, protocol = split_address(address)
            self._clients[address] = AsyncRewardClient(
                target, timeout_s=self.timeout_s, retry=self._retry, protocol=protocol
            )
        return self._clients[address]

    async def _wait_ready(self, timeout_s: float) -> dict[str, Any]:
        out = {}
        for address in self._by_address():
            desc = await (await self._client(address)).wait_ready(timeout_s)
            out[address] = {
                s.name: {
                    "version": s.version,
                    "weights_id": s.weights_id,
                    "sha256": s.weights_sha256,
                    "tiny": s.tiny_weights,
                    "protocol": s.protocol,
                }
                for s in desc.scorers
            }
        return out

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Block until every server answers; returns scorer provenance per address."""
        fut = asyncio.run_coroutine_threadsafe(self._wait_ready(timeout_s), self._loop)
        result: dict[str, Any] = fut.result(timeout=timeout_s + 5.0)
        return result

    async def _score(self, samples: list[Sample], encoded: list[Sample] | None = None) -> RewardBatch:
        t0 = time.perf_counter()
        n = len(samples)
        values = {r.name: np.full(n, np.nan, dtype=np.float64) for r in self.routes}
        errors: list[str] = []

        async def one(address: str, routes: list[RewardRoute]) -> None:
            scorers = sorted({r.scorer for r in routes})
            try:
                client = await self._client(address)
                batch = encoded if encoded is not None and split_address(address)[1] == "kserve" else samples
                results = await client.score(batch, scorers, timeout_s=self.timeout_s)
            except Exception as e:  # a whole server failing masks its rewards for this batch
                errors.append(f"{address}: {type(e).__name__}: {e}")
                return
            for i, res in enumerate(results):
                for r in routes:
                    v = res.scores.get(r.name)
                    if v is not None and np.isfinite(v):
                        values[r.name][i] = float(v)
                if not res.ok:
                    errors.append(f"{res.id}: {res.error or res.scorer_errors}")

        await asyncio.gather(*(one(a, rs) for a, rs in self._by_address().items()))
        return RewardBatch(values=values, errors=errors, latency_s=time.perf_counter() - t0)

    def submit(
        self, ids: Sequence[str], media: Sequence[Media], prompts: Sequence[PromptRecord]
    ) -> concurrent.futures.Future[RewardBatch]:
        """Start scoring one decoded batch; returns at once."""
        if self._closed:
            raise RuntimeError("RewardDispatcher is closed")
        samples = [media_to_sample(i, m, p) for i, m, p in zip(ids, media, prompts, strict=True)]
        encoded = None
        if any(split_address(r.address)[1] == "kserve" for r in self.routes):
            encoded = [
                media_to_container_sample(i, m, p) for i, m, p in zip(ids, media, prompts, strict=True)
            ]
        return asyncio.run_coroutine_threadsafe(self._score(samples, encoded), self._loop)

    async def _close(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()

    def close(self) -> None:
        """Close the clients and stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
            self._loop.close()

    def __enter__(self) -> RewardDispatcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def gather_rewards(
    futures: Sequence[concurrent.futures.Future[RewardBatch]],
    names: Sequence[str],
    sizes: Sequence[int],
    deadline_s: float,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Wait for every batch (global deadline); a batch not back in time counts as failed for all its rewards."""
    end = time.monotonic() + deadline_s
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    errors: list[str] = []
    for fut, size in zip(futures, sizes, strict=True):
        try:
            batch = fut.result(timeout=max(end - time.monotonic(), 0.0))
        except concurrent.futures.TimeoutError:
            fut.cancel()
            errors.append(f"reward batch not back within the epoch deadline ({deadline_s:.0f} s)")
            batch = RewardBatch(values={n: np.full(size, np.nan) for n in names})
        errors.extend(batch.errors)
        for n in names:
            parts[n].append(batch.values[n])
    return {n: np.concatenate(v) if v else np.zeros(0) for n, v in parts.items()}, errors


class EmbeddedRewardServer:
    """A reward server child process on 127.0.0.1 (port 0) hosting the given scorers; context manager."""

    def __init__(
        self,
        scorers: Sequence[str],
        *,
        weights: str = "tiny",
        max_batch_size: int = 64,
        startup_timeout_s: float = 180.0,
        log_path: Path | None = None,
        scorer_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.scorers = sorted(set(scorers))
        self.weights = weights
        self.max_batch_size = max_batch_size
        self.startup_timeout_s = startup_timeout_s
        self.scorer_options = dict(scorer_options or {})
        self._tmp = tempfile.TemporaryDirectory(prefix="omninft-train-rewards-")
        self.log_path = log_path or Path(self._tmp.name) / "server.log"
        self.address = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> dict[str, Any]:
        """Server config (camelCase keys, as ``omninft-serve --config`` reads them)."""
        return {
            "host": "127.0.0.1",
            "port": 0,
            "metricsPort": -1,
            # One local client: connection ageing would only cancel long reward calls.
            "maxConnectionAgeS": 0,
            "scorers": {
                s: {
                    "weights": self.weights,
                    "device": "cpu",
                    "maxBatchSize": self.max_batch_size,
                    **self.scorer_options.get(s, {}),
                }
                for s in self.scorers
            },
        }

    def start(self) -> str:
        """Spawn the server and wait until it writes its port file (it is SERVING then); returns host:port."""
        tmp = Path(self._tmp.name)
        cfg_path, port_file = tmp / "server.json", tmp / "port"
        cfg_path.write_text(json.dumps(self.config(), indent=2))
        cmd = [
            sys.executable,
            "-m",
            "omninft.reward_servers.cli",
            "--config",
            str(cfg_path),
            "--port-file",
            str(port_file),
            "--log-level",
            "warning",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.address = port_file.read_text().strip()
                return self.address
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(
                    f"embedded reward server exited with code {self._proc.returncode}:\n{tail}"
                )
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(
            f"embedded reward server not ready after {self.startup_timeout_s:.0f} s ({self.log_path})"
        )

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedRewardServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()
