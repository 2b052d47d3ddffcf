"""Coverage-guided fuzzing of the media decoders with atheris (libFuzzer); outside CI (pip install '.[fuzz]').

    python -m omninft.bench.perf.scripts.fuzz_decoders -max_total_time=600 -seed=1 CORPUS_DIR

Each input picks a decoder (container video/audio, raw frames, raw PCM, file:// URI) and feeds it the rest
of the bytes. A MediaError is the expected answer to bad input; any other exception is a finding (libFuzzer
stops and writes the input as crash-*). The corpus folder is seeded with small valid mp4/mkv/wav files.
CI runs the gRPC-level mutation test instead (tests/integration/test_fuzz_server.py).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

_ROOT = tempfile.mkdtemp(prefix="omninft-fuzz-")
_LIMITS_KW = {"max_frames": 256, "max_pixels": 2**22}


def _seed_corpus(folder: Path) -> None:
    """Small valid inputs (prefixed with their target byte) so the fuzzer starts from real containers."""
    import av
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    frames = np.zeros((4, 32, 48, 3), np.uint8)
    frames[:, :, :24] = 200
    tone = (0.3 * np.sin(np.arange(4000) / 5)).astype(np.float32)
    for target, fmt in ((0, "mp4"), (0, "matroska"), (1, "mp4")):
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as c:
            vs = c.add_stream("mpeg4", rate=12)
            vs.width, vs.height, vs.pix_fmt = 48, 32, "yuv420p"
            for f in frames:
                for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        (folder / f"seed-{target}-{fmt}").write_bytes(bytes([target]) + buf.getvalue())
    for subtype in ("PCM_16", "FLOAT"):
        buf = io.BytesIO()
        sf.write(buf, tone, 16000, subtype=subtype, format="WAV")
        (folder / f"seed-1-{subtype}").write_bytes(bytes([1]) + buf.getvalue())
    (folder / "seed-2-frames").write_bytes(bytes([2, 4, 32, 48]) + frames.tobytes())
    (folder / "seed-3-pcm").write_bytes(bytes([3, 1]) + tone.tobytes())
    (folder / "seed-4-uri").write_bytes(b"\x04file:///tmp/a.wav")


def one_input(data: bytes) -> None:
    """Run one decoder on `data`; MediaError is fine, anything else propagates (a finding)."""
    from omninft.reward_servers.media import (
        MediaError,
        MediaLimits,
        decode_audio,
        decode_video,
        frames_from_tensor,
        pcm_from_tensor,
        resolve_file_uri,
    )

    if not data:
        return
    target, body = data[0] % 5, data[1:]
    limits = MediaLimits(max_video_frames=256, max_video_pixels=2**22, max_audio_seconds=30.0)
    try:
        if target == 0:
            decode_video(body, **_LIMITS_KW)
        elif target == 1:
            decode_audio(body, max_seconds=30.0)
        elif target == 2 and len(body) >= 3:
            shape = [body[0] or 1, body[1], body[2], 3]
            frames_from_tensor("uint8", shape, body[3:], limits=limits, fps=12.0)
        elif target == 3 and len(body) >= 1:
            data4 = body[1:][: len(body[1:]) // 4 * 4]
            pcm_from_tensor(
                "float32",
                [body[0], len(data4) // 4 // max(body[0], 1)],
                data4,
                limits=limits,
                sample_rate=16000,
            )
        elif target == 4:
            resolve_file_uri(body.decode("utf-8", "surrogateescape"), [_ROOT])
    except MediaError:
        pass


def main() -> None:
    """atheris entry point; the first non-flag argument is the corpus folder (seeded if empty)."""
    import atheris

    folders = [a for a in sys.argv[1:] if not a.startswith("-")]
    if folders and not any(Path(folders[0]).glob("*")):
        _seed_corpus(Path(folders[0]))
    Path(_ROOT, "a.wav").write_bytes(b"RIFF")
    with atheris.instrument_imports():
        import omninft.reward_servers.media  # noqa: F401
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
