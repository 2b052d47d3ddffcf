"""A seeded random-mutation corpus of wire samples (containers, raw frames, PCM, URIs) and request bodies.

Used by the CI fuzz test and the longer runs outside CI: the same seed gives the same corpus.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from omninft_client.v1 import reward_pb2
from tests.helpers.media import encode_video, gradient_frames, sine

_DTYPES = ("uint8", "float32", "float64", "int16", "", "u1", "<f4", "float32" * 40, "\x00", "ü")


def base_media() -> dict[str, bytes]:
    """Small valid inputs the mutations start from."""
    frames = gradient_frames(6, 32, 48)
    pcm = sine(0.25)
    wav16, wavf = io.BytesIO(), io.BytesIO()
    sf.write(wav16, pcm[0], 16000, subtype="PCM_16", format="WAV")
    sf.write(wavf, pcm[0], 16000, subtype="FLOAT", format="WAV")
    return {
        "mp4": encode_video(frames, 12, audio=pcm),
        "mkv": encode_video(frames, 12, fmt="matroska"),
        "wav16": wav16.getvalue(),
        "wavf": wavf.getvalue(),
        "frames": frames.tobytes(),
        "pcm": pcm.tobytes(),
    }


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to three random edits: bit flips, byte runs, 32-bit size fields, truncation, insertion, splices."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if not buf:
            break
        op = int(rng.integers(8))
        at = int(rng.integers(len(buf)))
        if op == 0:
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(len(buf)))
                buf[i] ^= 1 << int(rng.integers(8))
        elif op == 1:
            n = int(rng.integers(1, 17))
            buf[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif op == 2:
            field = [0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1, int(rng.integers(2**32))][int(rng.integers(6))]
            buf[at : at + 4] = int(field).to_bytes(4, "little" if rng.integers(2) else "big")
        elif op == 3:
            del buf[at:]
        elif op == 4:
            buf[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif op == 5:
            n = int(rng.integers(1, 256))
            buf[at:at] = buf[max(0, at - n) : at]
        elif op == 6:
            del buf[at : at + int(rng.integers(1, 256))]
        else:
            buf[at : at + 8] = bytes(8)
    return bytes(buf)


def _tensor(rng: np.random.Generator, data: bytes, dtype: str, shape: list[int]) -> reward_pb2.Tensor:
    if rng.random() < 0.3:
        dtype = _DTYPES[int(rng.integers(len(_DTYPES)))]
    if rng.random() < 0.3:
        shape = [
            int(x) for x in rng.choice([0, 1, 3, 6, 32, 48, -1, 2**31, 2**40], size=int(rng.integers(0, 6)))
        ]
    if rng.random() < 0.5:
        data = mutate(data, rng)
    if rng.random() < 0.2:
        # Non-finite or absurd floats planted in PCM-sized data.
        arr = np.frombuffer(data[: len(data) // 4 * 4], np.float32).copy()
        if arr.size:
            arr[int(rng.integers(arr.size))] = [np.nan, np.inf, -np.inf, 1e30, 65.0, -1e-45][
                int(rng.integers(6))
            ]
        data = arr.tobytes()
    return reward_pb2.Tensor(dtype=dtype, shape=shape, data=data)


def mutated_sample(
    index: int, rng: np.random.Generator, base: dict[str, bytes], uri_dir: Path
) -> reward_pb2.Sample:
    """A sample with a mutated video and/or audio source of a random kind."""
    s = reward_pb2.Sample(id=f"f{index}", prompt=["a ball", "", "ü" * 3, "x" * 300][int(rng.integers(4))])
    kind = int(rng.integers(6))
    if kind in (0, 1):
        key = "mp4" if kind == 0 else "mkv"
        s.video.container = mutate(base[key], rng)
        if rng.random() < 0.5:
            s.audio.container = mutate(base["mp4"], rng)
    elif kind == 2:
        s.video.frames.CopyFrom(_tensor(rng, base["frames"], "uint8", [6, 32, 48, 3]))
        s.video.fps = float(rng.choice([12.0, 0.0, -1.0, np.nan, np.inf, 1e9, 1e-9]))
    elif kind == 3:
        s.audio.container = mutate(base["wav16" if rng.random() < 0.5 else "wavf"], rng)
    elif kind == 4:
        s.audio.pcm.CopyFrom(_tensor(rng, base["pcm"], "float32", [1, len(base["pcm"]) // 4]))
        s.audio.sample_rate = int(rng.choice([16000, 0, -5, 1, 2**31 - 1, 384_001]))
    else:
        name = ["a.wav", "%ff%fe.wav", "caf%E9.wav", "..%2f..%2fetc%2fpasswd", "a%00b", "%", "x" * 5000][
            int(rng.integers(7))
        ]
        scheme = ["file://", "file://localhost", "http://", "file:", "FILE://", ""][int(rng.integers(6))]
        target = s.audio if rng.random() < 0.5 else s.video
        target.uri = (
            f"{scheme}{uri_dir}/{name}"
            if rng.random() < 0.8
            else mutate(f"file://{uri_dir}/a.wav".encode(), rng).decode("utf-8", "replace")
        )
    return s


def corpus(
    seed: int, base: dict[str, bytes], uri_dir: Path, *, per_request: int = 4
) -> Iterator[reward_pb2.ScoreRequest]:
    """Endless seeded ScoreRequests of mutated samples (every hosted scorer)."""
    rng = np.random.default_rng(seed)
    index = 0
    while True:
        samples = []
        for _ in range(per_request):
            samples.append(mutated_sample(index, rng, base, uri_dir))
            index += 1
        yield reward_pb2.ScoreRequest(samples=samples)


def mutated_bodies(seed: int, request: reward_pb2.ScoreRequest, count: int) -> list[bytes]:
    """Serialized `request` with random edits: malformed wire bytes for raw calls."""
    rng = np.random.default_rng(seed)
    body = request.SerializeToString()
    return [mutate(body, rng) for _ in range(count)]
