"""Concurrency-sweep load generator for any running reward server (in the spirit of Triton's perf_analyzer).

Each level keeps `concurrency` requests outstanding for a fixed duration (or a fixed request count), after a
warm-up period that is not measured. Retries are off so every failure is counted under its status code.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from omninft.bench.perf.stats import LevelResult, summarise_level
from omninft.bench.synth import bouncing_disc_clip

if TYPE_CHECKING:
    from omninft_client import AsyncRewardClient, Sample


@dataclass
class LoadConfig:
    """What to send and how hard."""

    target: str
    scorers: tuple[str, ...] = ()
    concurrency: tuple[int, ...] = (1, 4, 16)
    duration_s: float = 10.0
    count: int = 0  # >0: fixed number of requests per level instead of a duration
    warmup_s: float = 1.0
    samples_per_request: int = 1
    payload: str = (
        "raw"  # raw (frames + pcm tensors) | container (mp4 bytes) | uri (file:// under a server root)
    )
    modalities: tuple[str, ...] = ("video", "audio")
    seconds: float = 4.0
    height: int = 240
    width: int = 426
    fps: float = 24.0
    sample_rate: int = 16000
    timeout_s: float = 60.0
    token: str | None = None
    uri_dir: str = ""
    rpc: str = "score"  # score | embed
    unique_prompts: bool = False  # suffix a request counter to every prompt: defeats server text caches
    extra: dict[str, str] = field(default_factory=dict)


def build_samples(cfg: LoadConfig) -> list:
    """Build the request payload once (it is reused by every request, so generation cost is not measured)."""
    from omninft_client import Sample, media

    samples = []
    for i in range(cfg.samples_per_request):
        clip = bouncing_disc_clip(
            i,
            seconds=cfg.seconds,
            height=cfg.height,
            width=cfg.width,
            fps=cfg.fps,
            sample_rate=cfg.sample_rate,
        )
        video = audio = None
        if not cfg.modalities:
            pass  # prompts only
        elif cfg.payload == "raw":
            if "video" in cfg.modalities:
                video = media.video_frames(clip.frames, clip.fps)
            if "audio" in cfg.modalities:
                audio = media.audio_pcm(clip.pcm, clip.sample_rate)
        else:
            from omninft.bench.demo_data import write_mp4, write_wav

            folder = (
                Path(cfg.uri_dir) if cfg.payload == "uri" else Path(tempfile.mkdtemp(prefix="omninft-load-"))
            )
            folder.mkdir(parents=True, exist_ok=True)
            mp4, wav = folder / f"load_{i:04d}.mp4", folder / f"load_{i:04d}.wav"
            write_mp4(mp4, clip)
            write_wav(wav, clip)
            as_uri = cfg.payload == "uri"
            if "video" in cfg.modalities:
                video = media.video_file(mp4, as_uri=as_uri)
            if "audio" in cfg.modalities:
                audio = media.audio_file(wav, as_uri=as_uri)
        samples.append(
            Sample(
                id=f"load-{i}", prompt=clip.prompt, audio_prompt=clip.audio_prompt, video=video, audio=audio
            )
        )
    return samples


async def _run_level(
    client: AsyncRewardClient, samples: list[Sample], cfg: LoadConfig, concurrency: int
) -> LevelResult:
    from omninft_client import RewardError

    latencies: list[float] = []
    errors: Counter[str] = Counter()
    sample_errors = 0
    issued = 0
    measuring = False
    stop_at = 0.0
    counter = itertools.count()

    async def worker() -> None:
        nonlocal issued, sample_errors
        while True:
            if cfg.count and measuring and issued >= cfg.count:
                return
            if not cfg.count and measuring and time.perf_counter() >= stop_at:
                return
            if measuring:
                issued += 1
            recorded = measuring
            payload = samples
            if cfg.unique_prompts:
                nonce = next(counter)
                payload = [
                    replace(s, prompt=f"{s.prompt} #{nonce}", audio_prompt=f"{s.audio_prompt} #{nonce}")
                    for s in samples
                ]
            t0 = time.perf_counter()
            try:
                call = client.embed if cfg.rpc == "embed" else client.score
                results = await call(payload, cfg.scorers, timeout_s=cfg.timeout_s)
            except RewardError as err:
                if recorded:
                    errors[err.code.name] += 1
                continue
            if recorded:
                latencies.append(time.perf_counter() - t0)
                sample_errors += sum(1 for r in results if not r.ok)

    # Warm-up: same load, not recorded.
    warm = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(cfg.warmup_s)
    measuring = True
    stop_at = time.perf_counter() + cfg.duration_s
    t_start = time.perf_counter()
    await asyncio.gather(*warm)
    elapsed = time.perf_counter() - t_start
    return summarise_level(concurrency, latencies, len(samples), elapsed, errors, sample_errors)


async def run_load_async(
    cfg: LoadConfig, progress: Callable[[LevelResult], None] | None = None
) -> list[LevelResult]:
    """Run every concurrency level against cfg.target and return one result per level."""
    from omninft_client import AsyncRewardClient, RetryPolicy

    samples = build_samples(cfg)
    results = []
    async with AsyncRewardClient(
        cfg.target,
        timeout_s=cfg.timeout_s,
        retry=RetryPolicy(max_attempts=1),
        token=cfg.token,
        max_samples_per_request=max(1, cfg.samples_per_request),
    ) as client:
        await client.wait_ready(timeout_s=cfg.timeout_s)
        for level in cfg.concurrency:
            res = await _run_level(client, samples, cfg, level)
            results.append(res)
            if progress is not None:
                progress(res)
    return results


def run_load(cfg: LoadConfig, progress: Callable[[LevelResult], None] | None = None) -> list[LevelResult]:
    """Synchronous wrapper around run_load_async."""
    return asyncio.run(run_load_async(cfg, progress))


def parse_concurrency(text: str) -> tuple[int, ...]:
    """Parse "1,4,16" or "1:16:x2"/"1:16:+4" ranges into a tuple of levels."""
    if ":" in text:
        start_s, end_s, step = text.split(":")
        start, end = int(start_s), int(end_s)
        levels: list[int] = []
        value = start
        while value <= end:
            levels.append(value)
            value = value * int(step[1:]) if step.startswith("x") else value + int(step.lstrip("+"))
        return tuple(levels)
    return tuple(int(x) for x in text.split(",") if x.strip())


def levels_to_json(cfg: LoadConfig, levels: Sequence[LevelResult], server: dict | None = None) -> dict:
    """The JSON document written by `omninft-bench perf --json`."""
    return {
        "target": cfg.target,
        "scorers": list(cfg.scorers),
        "payload": cfg.payload,
        "rpc": cfg.rpc,
        "samples_per_request": cfg.samples_per_request,
        "media": {
            "seconds": cfg.seconds,
            "height": cfg.height,
            "width": cfg.width,
            "fps": cfg.fps,
            "sample_rate": cfg.sample_rate,
            "modalities": list(cfg.modalities),
        },
        "mode": {"duration_s": cfg.duration_s, "count": cfg.count, "warmup_s": cfg.warmup_s},
        "server": server or {},
        "levels": [lv.to_dict() for lv in levels],
    }
