"""DeSync (JavisBench `calc_desync_score`, av-benchmark lineage): Synchformer audio-video offset in seconds.

Protocol "javisbench-v1" (specs/javisbench.md §6.10, specs/models.md §2):
- video: resampled to 25 fps with ffmpeg `fps` semantics (what torio's StreamingMediaDecoder(frame_rate=25)
  returns), first int(25·L) frames kept, black frames appended when short; short side -> 224 (torchvision v2
  bicubic on uint8), centre crop 224, [-1, 1];
- audio: channel mean -> 16 kHz (torchaudio's default windowed-sinc resampler, re-implemented) -> first
  int(16000·L) samples, zeros appended when short;
- segments of 16 frames / 10240 samples (0.64 s) with half-overlap (S = 11 for L = 4 s); per audio segment the
  normalised 128 x 66 log-mel; Synchformer features per segment;
- windows of 14 segments (JavisBench rule: a short first window wraps around, a short last one is replaced by
  the last 14 segments); per window |offset| of the argmax class on linspace(-2, 2, 21) seconds;
- desync = mean over the sample's windows (lower is better). The reference scrambles per-sample values in its
  CSV when a clip has several windows (window-major list reshaped sample-major); here every sample gets its own
  windows' mean, which leaves the benchmark mean unchanged.
Options: max_audio_len_s (L, default 4.0 as in the JavisBench README), segment_batch (segments per backend call;
0 = 1 on a CPU, 32 on a GPU).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional import sync_frontend as sf
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo, to_mono
from omninft.reward_servers.models import synchformer as sync_model
from omninft.reward_servers.scorers._checks import checked_pcm
from omninft.reward_servers.scorers._common import backend_for, rows_per_call, run_chunked
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, scorer_options

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # 1.1: one segment per graph call on a CPU (last bits)
PROTOCOLS = ("javisbench-v1",)
DEFAULT_PROTOCOL = "javisbench-v1"
DEFAULT_MAX_LEN_S = 4.0  # JavisBench README (`--max_audio_len_s 4.0`); main.py's own fallback is unusable
DEFAULT_SEGMENT_BATCH = 32  # on a GPU
# On a CPU a segment alone costs 0.85x its share of a 32-segment call (cpu_rows, full size; the attention
# over 8 x 196 tokens stays in cache), and a row alone never depends on the batch make-up.
CPU_SEGMENT_BATCH = 1
SYNC = sf.SYNC


@dataclass(frozen=True)
class DesyncItem:
    """One preprocessed sample: cropped, normalised 25 fps frames (black-padded to 25·L) and per-segment log-mels."""

    frames: np.ndarray  # float32 (int(25·L), 3, 224, 224) in [-1, 1], each frame normalised once
    mel: np.ndarray  # float32 (S, 128, 66)
    segment_starts: np.ndarray  # first frame of each video segment
    windows: tuple[np.ndarray, ...]  # segment indices of each 14-segment window


def segments_for_length(max_len_s: float) -> int:
    """Segments per stream for L seconds; ValueError when the two streams disagree or there is none."""
    s_v, s_a = sf.segment_counts(max_len_s, SYNC)
    if s_v != s_a:
        raise ValueError(
            f"max_audio_len_s={max_len_s} gives {s_v} video but {s_a} audio segments; they must match"
        )
    if s_v < 1:
        raise ValueError(f"max_audio_len_s={max_len_s} is shorter than one 0.64 s Synchformer segment")
    return s_v


def prepare_video(video: DecodedVideo, num_frames: int, image_size: int = SYNC.image_size) -> np.ndarray:
    """25 fps, first num_frames frames, resize+crop to image_size, black-padded: uint8 (num_frames, S, S, 3)."""
    frames = np.asarray(video.frames)
    if frames.ndim != 4 or frames.shape[0] == 0 or frames.shape[-1] != 3:
        raise InvalidSample(f"desync needs RGB video frames (T, H, W, 3), got shape {frames.shape}")
    if not np.isfinite(video.fps) or video.fps <= 0:
        raise InvalidSample(f"video has no usable frame rate ({video.fps})")
    idx = sf.fps_resample_indices(frames.shape[0], video.fps, SYNC.video_fps)[:num_frames]
    # a frame the 25 fps grid repeats is resized once (the resize is per frame, so this changes nothing)
    uniq, inverse = np.unique(idx, return_inverse=True)
    out = np.zeros((num_frames, image_size, image_size, 3), dtype=np.uint8)
    out[: idx.shape[0]] = sf.resize_short_side_center_crop(
        np.asarray(frames[uniq], dtype=np.uint8), image_size
    )[inverse.reshape(-1)]
    return out


def prepare_audio(audio: DecodedAudio, num_samples: int) -> np.ndarray:
    """Mono 16 kHz, first num_samples samples, zero-padded: float32 (num_samples,)."""
    pcm = checked_pcm(audio, "desync")
    mono = to_mono(pcm)
    if audio.sample_rate != SYNC.sample_rate:
        mono = mono[: sf.sinc_resample_input_length(num_samples, audio.sample_rate, SYNC.sample_rate)]
        mono = sf.sinc_resample(mono, audio.sample_rate, SYNC.sample_rate)
    return sf.fit_samples(mono, num_samples)


def make_graphs(model: sync_model.Synchformer) -> dict[str, GraphSpec]:
    """The exportable cores of a Synchformer: "video", "audio" and "sync"."""
    cfg = model.cfg
    rng = np.random.default_rng(0)
    f, t = cfg.frames_per_segment, cfg.audio_tokens
    w = cfg.window_segments
    return {
        "video": GraphSpec(
            module=sync_model.VideoCore(model).eval(),
            input_names=("segments",),
            output_names=("vfeats",),
            example_inputs={
                "segments": rng.uniform(-1, 1, (2, f, 3, cfg.image_size, cfg.image_size)).astype(np.float32)
            },
        ),
        "audio": GraphSpec(
            module=sync_model.AudioCore(model).eval(),
            input_names=("mel",),
            output_names=("afeats",),
            example_inputs={
                "mel": rng.normal(0, 0.5, (2, 1, cfg.n_mels, cfg.spec_frames)).astype(np.float32)
            },
        ),
        "sync": GraphSpec(
            module=sync_model.SyncCore(model).eval(),
            input_names=("vfeats", "afeats"),
            output_names=("logits",),
            example_inputs={
                "vfeats": rng.normal(0, 1, (2, w, cfg.video_tokens, cfg.video_dim)).astype(np.float32),
                "afeats": rng.normal(0, 1, (2, w, t, cfg.audio_dim)).astype(np.float32),
            },
        ),
    }


def _load(cfg: ScorerConfig) -> tuple[sync_model.Synchformer, WeightsInfo]:
    model, ident = sync_model.load(cfg.weights, cfg.seed, cache_dir=cfg.weights_dir or None)
    return model, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the exportable cores for cfg.weights and the identity of those weights."""
    del name
    model, info = _load(cfg)
    return make_graphs(model), info


class DesyncScorer:
    """Synchformer DeSync behind a backend (torch, onnxruntime or tensorrt)."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        backend: Backend,
        weights: WeightsInfo,
        model_cfg: sync_model.SynchformerConfig,
    ) -> None:
        self.cfg = cfg
        self.backend = backend
        opts = scorer_options(DesyncOptions, name, cfg)
        self.max_len_s = opts.max_audio_len_s
        self.n_segments = segments_for_length(self.max_len_s)
        self.num_frames = int(SYNC.video_fps * self.max_len_s)
        self.num_samples = int(SYNC.sample_rate * self.max_len_s)
        self.segment_batch = segment_batch(cfg, opts)
        self.windows = tuple(sf.window_plan(self.n_segments, model_cfg.window_segments))
        self.grid = sf.offset_grid(model_cfg.max_offset_s, model_cfg.num_classes)
        self.info = SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="synchformer",
            input_spec=InputSpec(
                modalities=("video", "audio"),
                video_fps=float(SYNC.video_fps),
                video_frames=self.num_frames,
                image_size=SYNC.image_size,
                audio_sample_rate=SYNC.sample_rate,
                max_audio_seconds=self.max_len_s,
            ),
        )

    def preprocess(self, sample: DecodedSample) -> DesyncItem:
        """Fit both streams to L seconds, crop the frames, compute the per-segment log-mels."""
        if sample.video is None:
            raise InvalidSample("desync needs video; the sample has none")
        if sample.audio is None:
            raise InvalidSample("desync needs audio; the sample has none")
        frames = prepare_video(sample.video, self.num_frames)
        wave = prepare_audio(sample.audio, self.num_samples)
        starts = sf.audio_segment_starts(self.num_samples)
        segments = np.stack([wave[s : s + SYNC.samples_per_segment] for s in starts])
        # normalised here, once per frame, rather than per (overlapping) segment on the forward thread
        return DesyncItem(
            sf.normalize_frames(frames),
            sf.sync_log_mel(segments),
            sf.video_segment_starts(self.num_frames),
            self.windows,
        )

    def _video_features(self, items: Sequence[DesyncItem]) -> list[np.ndarray]:
        """Per item (S, 8, D): every segment of every item, segment_batch segments per backend call."""
        jobs = [(i, int(s)) for i, it in enumerate(items) for s in it.segment_starts]
        feats: list[np.ndarray] = []
        n = SYNC.frames_per_segment
        for start in range(0, len(jobs), self.segment_batch):
            chunk = jobs[start : start + self.segment_batch]
            batch = np.stack([items[i].frames[s : s + n] for i, s in chunk])
            feats.append(
                np.asarray(self.backend.run("video", {"segments": batch})["vfeats"], dtype=np.float32)
            )
        flat = np.concatenate(feats, axis=0)
        return np.split(flat, np.cumsum([len(it.segment_starts) for it in items])[:-1])

    def forward(self, items: Sequence[DesyncItem]) -> list[np.ndarray]:
        """Video and audio features for all segments of the batch, then one sync pass over all windows."""
        vfeats = self._video_features(items)
        mel = np.concatenate([it.mel for it in items], axis=0)[:, None]
        afeats_flat = run_chunked(self.backend, "audio", {"mel": mel}, "afeats", self.segment_batch)
        afeats = np.split(afeats_flat, np.cumsum([it.mel.shape[0] for it in items])[:-1])
        vis = np.stack([vfeats[i][w] for i, it in enumerate(items) for w in it.windows])
        aud = np.stack([afeats[i][w] for i, it in enumerate(items) for w in it.windows])
        logits = run_chunked(
            self.backend, "sync", {"vfeats": vis, "afeats": aud}, "logits", self.segment_batch
        )
        return np.split(logits, np.cumsum([len(it.windows) for it in items])[:-1])

    def postprocess(self, output: np.ndarray) -> ScorerOutput:
        """desync = mean over the sample's windows of |offset of the argmax class| (seconds)."""
        return ScorerOutput(scores={"desync": float(np.mean(sf.desync_from_logits(output, self.grid)))})

    def warmup_sample(self) -> DecodedSample:
        """One second of a moving bar at 24 fps with clicks, 22.05 kHz audio (exercises both resamplers)."""
        fps, sr = 24.0, 22_050
        frames = np.zeros((24, 32, 48, 3), dtype=np.uint8)
        for t in range(24):
            frames[t, :, 2 * t : 2 * t + 4] = 255
        pcm = (np.random.default_rng(0).standard_normal(sr) * 0.01).astype(np.float32)
        pcm[:: sr // 4] = 0.8
        return DecodedSample(id="warmup", video=DecodedVideo(frames, fps), audio=DecodedAudio(pcm[None], sr))


def segment_batch(cfg: ScorerConfig, opts: DesyncOptions) -> int:
    """Segments per Synchformer call: the option, or the device's default when it is 0."""
    return rows_per_call(cfg, opts.segment_batch, cpu=CPU_SEGMENT_BATCH, accelerator=DEFAULT_SEGMENT_BATCH)


def build(name: str, cfg: ScorerConfig) -> DesyncScorer:
    """Registry target: load Synchformer (offline), create the backend over its three graphs, return the scorer."""
    opts = scorer_options(DesyncOptions, name, cfg)
    segments_for_length(opts.max_audio_len_s)  # fail before loading
    model, winfo = _load(cfg)
    graphs = make_graphs(model)
    backend = backend_for("synchformer", cfg, graphs, winfo.sha256, max_batch_size=segment_batch(cfg, opts))
    if winfo.tiny:
        logger.warning(
            "scorer %s runs TINY RANDOM SYNCHFORMER weights (%s): desync values are meaningless",
            name,
            winfo.weights_id,
        )
    return DesyncScorer(name, cfg, backend=backend, weights=winfo, model_cfg=model.cfg)


@dataclass(frozen=True)
class DesyncOptions(ModelOptions):
    """Options of desync."""

    # Seconds of audio/video scored (JavisBench --max_audio_len_s).
    max_audio_len_s: float = DEFAULT_MAX_LEN_S
    # Most 4.8 s segments per Synchformer call; 0 = 1 on a CPU, 32 on a GPU.
    segment_batch: int = 0


SPEC = ScorerSpec(
    name="desync",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=("desync",),
    modalities=("video", "audio"),
    options=DesyncOptions,
    families=("synchformer",),
    bench=(BenchMetric("javisbench", "desync", output="desync", higher_is_better=False),),
    summary="Synchformer audio-video offset in seconds (JavisBench DeSync)",
)
SCORERS = (SPEC,)
