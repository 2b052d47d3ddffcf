"""Write a small synthetic sounding-video set in the official JavisBench layout (mp4 + wav + prompt CSV)."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np

from omninft.bench.synth import SyntheticClip, bouncing_disc_clip

# Official layout: sample_{i:04d}.mp4 (H.264 video, AAC audio muxed) and a 16 kHz sample_{i:04d}.wav next to it.
CSV_COLUMNS = ("text", "audio_text", "cat0_ind", "cat1_ind", "cat2_ind", "cat3_ind", "cat4_ind")
# Encoder and muxer options that make the demo files byte-identical across runs and machines.
BITEXACT_CODEC = {"threads": "1", "flags": "+bitexact"}
BITEXACT_MUXER = {"fflags": "+bitexact"}


def sample_stem(index: int) -> str:
    """The official file stem of CSV row `index` (4 digits, growing past 9999)."""
    return f"sample_{index:04d}"


def write_mp4(path: Path, clip: SyntheticClip, *, mux_audio: bool = True) -> None:
    """Encode the clip as H.264 (yuv420p) with an AAC track, like the official inference output.

    The bytes depend only on the clip: one encoder thread (x264's output changes with its thread count, which
    follows the CPUs available) and bit-exact flags (no library version strings in the file).
    """
    import av

    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w", container_options=BITEXACT_MUXER) as container:
        vstream = container.add_stream("libx264", rate=Fraction(clip.fps).limit_denominator(1001))
        vstream.width = clip.frames.shape[2]
        vstream.height = clip.frames.shape[1]
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": "18", "preset": "veryfast", **BITEXACT_CODEC}
        astream = None
        if mux_audio:
            astream = container.add_stream("aac", rate=clip.sample_rate)
            astream.layout = "mono"
            astream.options = dict(BITEXACT_CODEC)
        for frame in clip.frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            pcm = clip.pcm
            frame_size = 1024
            for start in range(0, pcm.shape[1], frame_size):
                chunk = np.ascontiguousarray(pcm[:, start : start + frame_size])
                aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                aframe.sample_rate = clip.sample_rate
                aframe.pts = start
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    tmp.replace(path)


def write_wav(path: Path, clip: SyntheticClip) -> None:
    """Write the clip's audio as 16-bit PCM wav (what the official ffmpeg extraction produces)."""
    import soundfile as sf

    tmp = path.with_suffix(".tmp.wav")
    sf.write(str(tmp), clip.pcm[0], clip.sample_rate, subtype="PCM_16", format="WAV")
    tmp.replace(path)


def write_demo_set(
    out_dir: Path,
    *,
    n: int = 32,
    seconds: float = 4.0,
    height: int = 240,
    width: int = 426,
    fps: float = 24.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write `n` samples and `prompts.csv` into `out_dir`; returns the CSV path. Existing files are reused."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        clip = bouncing_disc_clip(
            seed * 100_003 + i, seconds=seconds, height=height, width=width, fps=fps, sample_rate=sample_rate
        )
        stem = sample_stem(i)
        if not (out_dir / f"{stem}.mp4").exists():
            write_mp4(out_dir / f"{stem}.mp4", clip)
        if not (out_dir / f"{stem}.wav").exists():
            write_wav(out_dir / f"{stem}.wav", clip)
        rng = np.random.default_rng(i)
        # Category indices follow the 5-aspect taxonomy sizes (5, 3, 5, 3, 3) so --verbose paths get exercised.
        cats = [str(int(rng.integers(k))) for k in (5, 3, 5, 3, 3)]
        rows.append([clip.prompt, clip.audio_prompt, *cats])
    csv_path = out_dir / "prompts.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return csv_path
