"""ImageBind-Huge metrics of JavisBench: IB-TV / IB-TA / IB-AV, AVHScore and JavisScore.

Protocol "javisbench-v1" (specs/javisbench.md §6.4, §6.8, §6.9; specs/models.md §1):
- `imagebind` -> ib_tv, ib_ta, ib_av. Video: the official loader (5 clips of 2 s x first/last frame x 3 spatial
  crops = 15 two-frame clips, torch bilinear short side 224, CLIP mean/std); audio: channel 0 at 16 kHz,
  3 clips of 2 s, Kaldi fbank 128 x 204, (x + 4.268) / 9.138; text: `prompt` for TV and `audio_prompt` (else
  `prompt`) for TA, CLIP BPE, 0-padded to 77, long prompts hard-cut (EOT dropped, as the JavisBench copy
  does). Clip embeddings (postprocessed) are averaged per sample; each score is a torch-style cosine with
  eps 1e-6, raw in [-1, 1].
- `imagebind_avh` -> avh_score, javis_score. Every decoded frame is an image (Pillow bicubic short side 224,
  torchvision-rounded centre crop, CLIP mean/std); the audio embedding is the official 3-clip one.
  avh_score = mean over frames of cos(frame, audio). javis_score: 2.0 s windows with 1.5 s overlap (frames via
  the container fps, samples at 16 kHz), each audio window embedded as 3 identical 2 s clips, per window the
  mean of the int(0.4 N) lowest frame-audio cosines, averaged over windows. When int(0.4 N) = 0 (windows of
  fewer than 3 frames) the reference yields NaN; here the sample fails with InvalidSample instead.
Audio at another rate is resampled to 16 kHz per channel as the reference's `torchaudio.functional.resample`
does (windowed sinc, Hann², width 6, rolloff 0.99; re-implemented in `functional.sync_frontend.sinc_resample`).
Known residual differences: frames come from PyAV (the reference decodes with decord / OpenCV), the text cleaning skips ftfy, and the fbank is float64.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omninft.reward_servers.backends import Backend, GraphSpec
from omninft.reward_servers.functional.image import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    resize_shortest_edge_center_crop,
    to_normalized_chw,
)
from omninft.reward_servers.functional.imagebind_clips import (
    IMAGE_SIZE,
    SAMPLE_RATE,
    audio_clips,
    javis_windows,
    lowest_fraction_mean,
    video_clips,
    window_audio_clips,
)
from omninft.reward_servers.functional.similarity import cosine_similarity, l2_normalize
from omninft.reward_servers.functional.sync_frontend import sinc_resample
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.models import imagebind as ib
from omninft.reward_servers.scorers._checks import sample_pcm
from omninft.reward_servers.scorers._common import (
    backend_for,
    even_splits,
    on_cpu,
    rows_per_call,
    run_chunked,
    run_per_item,
)
from omninft.reward_servers.scorers._shared import shared_load
from omninft.reward_servers.scorers._text_cache import TextEmbeddingCache
from omninft.reward_servers.scorers.base import (
    InputSpec,
    InvalidSample,
    ScorerConfig,
    ScorerOutput,
    WeightsInfo,
)
from omninft.reward_servers.scorers.spec import BenchMetric, ModelOptions, ScorerSpec, scorer_options

logger = logging.getLogger(__name__)

VERSION = "1.4.0"  # 1.4: per-item calls of <= 8 rows on a CPU (last bits); 1.3: one row per call; 1.2: in-place audio centring; 1.1: sinc
PROTOCOLS = ("javisbench-v1",)
DEFAULT_PROTOCOL = "javisbench-v1"
COSINE_EPS = 1e-6  # nn.CosineSimilarity(eps=1e-6) in calc_imagebind_score / calc_av_score
DEFAULT_CLIP_BATCH = 32  # on a GPU: one call's rows
# On a CPU (2 threads) ViT-H costs 1.90 s per row in calls of one and 1.67-1.69 s in calls of 4 to 16 (no
# better beyond; the same on the reference's torch 2.5.1). Each item's rows go in their own even calls of at
# most 8 (run_per_item): no padded rows, and a row's call never depends on the other items of the batch.
CPU_CLIP_BATCH = 8
CPU_TEXT_BATCH = 1  # one prompt per call: a batched call pads prompts to the longest (issue 13)
MIN_AUDIO_SAMPLES = 400  # one 25 ms fbank frame at 16 kHz


# ------------------------------------------------------------------------------------------------- graphs


def make_graphs(model: ib.ImageBindModel, *, text: bool = True) -> dict[str, GraphSpec]:
    """Exportable cores: "vision" (B,3,2,H,W) clips, "audio" (B,1,128,204) fbank, and "text" (B,77) ids."""
    c = model.config
    rng = np.random.default_rng(0)
    graphs = {
        "vision": GraphSpec(
            module=ib.VisionCore(model).eval(),
            input_names=("pixel_values",),
            output_names=("embeds",),
            example_inputs={
                "pixel_values": rng.standard_normal(
                    (2, 3, c.video_frames, c.image_size, c.image_size)
                ).astype(np.float32)
            },
        ),
        "audio": GraphSpec(
            module=ib.AudioCore(model).eval(),
            input_names=("fbank",),
            output_names=("embeds",),
            example_inputs={
                "fbank": rng.standard_normal((2, 1, c.audio_num_mel_bins, c.audio_target_len)).astype(
                    np.float32
                )
            },
        ),
    }
    if text:
        ids = np.zeros((2, c.context_length), dtype=np.int64)
        ids[:, 0], ids[0, 1:4], ids[1, 1:3] = (
            c.vocab_size - 2,
            (5, 6, c.vocab_size - 1),
            (7, c.vocab_size - 1),
        )
        graphs["text"] = GraphSpec(
            module=ib.TextCore(model).eval(),
            input_names=("input_ids",),
            output_names=("embeds",),
            example_inputs={"input_ids": ids},
        )
    return graphs


def _load(
    cfg: ScorerConfig, name: str = "imagebind"
) -> tuple[ib.ImageBindModel, ib.ImageBindTokenizer, WeightsInfo]:
    opts = scorer_options(ImageBindOptions, name, cfg)
    kwargs = {
        "cache_dir": cfg.weights_dir or None,
        "tokenizer_source": opts.tokenizer,
        "keep_eot": opts.keep_eot,
        "architecture": opts.architecture,
    }
    key = ("imagebind", cfg.weights, cfg.seed, cfg.device, *sorted((k, str(v)) for k, v in kwargs.items()))
    model, tok, ident = shared_load(key, lambda: ib.load(cfg.weights, cfg.seed, **kwargs))  # type: ignore[arg-type]
    return model, tok, WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)


def export_graphs(name: str, cfg: ScorerConfig) -> tuple[dict[str, GraphSpec], WeightsInfo]:
    """omninft-export hook: the exportable cores for cfg.weights and the identity of those weights."""
    model, _, info = _load(cfg, name)
    return make_graphs(model, text=name != "imagebind_avh"), info


def clip_batch_size(cfg: ScorerConfig, name: str = "imagebind") -> int:
    """Rows per vision/audio graph call (the option; 0 = 1 on a CPU, 32 on a GPU); bounds exported engines."""
    chosen = scorer_options(ImageBindOptions, name, cfg).clip_batch_size
    return rows_per_call(cfg, chosen, cpu=CPU_CLIP_BATCH, accelerator=DEFAULT_CLIP_BATCH)


def _text_chunk(cfg: ScorerConfig) -> int:
    """Rows per text graph call: one prompt at a time on a CPU (no padded rows), the batch size on a GPU."""
    return CPU_TEXT_BATCH if on_cpu(cfg) else cfg.max_batch_size


def _banner(name: str, winfo: WeightsInfo) -> None:
    if winfo.tiny:
        logger.warning(
            "!!! scorer %s runs RANDOM IMAGEBIND WEIGHTS (%s): its scores mean nothing !!!",
            name,
            winfo.weights_id,
        )


# ------------------------------------------------------------------------------------------ shared input


def checked_frames(sample: DecodedSample, scorer: str) -> tuple[np.ndarray, float]:
    """The sample's uint8 (T, H, W, 3) frames and fps, or InvalidSample."""
    if sample.video is None:
        raise InvalidSample(f"{scorer} needs video; the sample has none")
    frames = np.asarray(sample.video.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InvalidSample(f"expected uint8 frames T x H x W x 3, got {frames.dtype} {frames.shape}")
    if min(frames.shape[:3]) == 0:
        raise InvalidSample(f"video has no pixels (shape {frames.shape})")
    fps = float(sample.video.fps)
    if not np.isfinite(fps) or fps <= 0:
        raise InvalidSample(f"video frame rate must be positive, got {fps}")
    return frames, fps


def audio_16k(sample: DecodedSample, scorer: str) -> np.ndarray:
    """(C, N) float32 waveform at 16 kHz (channels kept: the fbank reads channel 0), or InvalidSample."""
    pcm = np.asarray(sample_pcm(sample, scorer), dtype=np.float32)
    if pcm.ndim == 1:
        pcm = pcm[None]
    assert sample.audio is not None  # checked by sample_pcm
    sr = sample.audio.sample_rate
    # copies: decoded PCM may be a read-only cached array, which torch.from_numpy warns about
    wave = pcm if sr == SAMPLE_RATE else np.stack([sinc_resample(ch.copy(), sr, SAMPLE_RATE) for ch in pcm])
    if wave.shape[-1] < MIN_AUDIO_SAMPLES:
        raise InvalidSample(
            f"audio is {wave.shape[-1] / SAMPLE_RATE * 1000:.1f} ms at 16 kHz; ImageBind needs at least one 25 ms frame"
        )
    return wave


def _run_clips(
    backend: Backend, graph: str, arrays: Sequence[np.ndarray], input_name: str, chunk: int, per_item: bool
) -> list[np.ndarray]:
    """Per-item embeddings of per-item clip stacks: each item in its own calls (CPU) or all in padded chunks."""
    if per_item:
        return run_per_item(backend, graph, arrays, input_name, "embeds", chunk)
    counts = [a.shape[0] for a in arrays]
    out = run_chunked(backend, graph, {input_name: np.concatenate(arrays, axis=0)}, "embeds", chunk)
    bounds = np.cumsum([0, *counts])
    return [out[bounds[i] : bounds[i + 1]] for i in range(len(arrays))]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cosine_similarity(a, b, eps=COSINE_EPS)


def _warmup_clip(seconds: float = 2.5, fps: float = 4.0) -> tuple[DecodedVideo, DecodedAudio]:
    """A small moving gradient with a 440 Hz tone (44.1 kHz stereo: exercises resampling)."""
    y, x = np.mgrid[0:48, 0:64]
    n = int(seconds * fps)
    frames = np.stack(
        [np.stack([(x * 4 + 9 * k) % 256, (y * 5) % 256, (x + y + 20 * k) % 256], axis=-1) for k in range(n)]
    ).astype(np.uint8)
    sr = 44_100
    t = np.arange(int(seconds * sr)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    return DecodedVideo(frames, fps=fps), DecodedAudio(np.stack([tone, tone]), sample_rate=sr)


# --------------------------------------------------------------------------------------------- imagebind


@dataclass(frozen=True)
class IbItem:
    """Preprocessed sample: 15 video clips, 3 fbank clips, the two prompts."""

    video: np.ndarray  # (15, 3, 2, 224, 224) float32
    audio: np.ndarray  # (3, 1, 128, 204) float32
    text: str
    audio_text: str


@dataclass(frozen=True)
class IbRaw:
    """Backend outputs: per-clip video (15, D) and audio (3, D) embeddings, text embeddings (D,)."""

    video: np.ndarray
    audio: np.ndarray
    text: np.ndarray
    audio_text: np.ndarray


class ImageBindScorer:
    """JavisBench ImageBind scores (TV, TA, AV) behind a backend."""

    def __init__(
        self,
        name: str,
        cfg: ScorerConfig,
        *,
        backend: Backend,
        tokenizer: ib.ImageBindTokenizer,
        weights: WeightsInfo,
    ) -> None:
        self.cfg = cfg
        self.backend = backend
        self.tokenizer = tokenizer
        opts = scorer_options(ImageBindOptions, name, cfg)
        self.chunk = clip_batch_size(cfg, name)
        self.per_item = on_cpu(cfg)  # CPU: even per-item calls, no padding; GPU: padded cross-item chunks
        self.text_cache = TextEmbeddingCache(opts.text_cache_size)
        self.info = SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="imagebind",
            input_spec=InputSpec(
                modalities=("video", "audio", "prompt"), image_size=IMAGE_SIZE, audio_sample_rate=SAMPLE_RATE
            ),
        )

    def preprocess(self, sample: DecodedSample) -> IbItem:
        """Official video and audio clip stacks; the TV prompt and the TA prompt."""
        if not sample.prompt.strip():
            raise InvalidSample("imagebind needs a text prompt; it is empty")
        frames, fps = checked_frames(sample, "imagebind")
        wave = audio_16k(sample, "imagebind")
        try:
            video = video_clips(frames, fps)
            audio = audio_clips(wave)
        except ValueError as e:
            raise InvalidSample(str(e)) from None
        return IbItem(video, audio, sample.prompt, sample.audio_text)

    def _encode_texts(self, prompts: list[str]) -> np.ndarray:
        ids = self.tokenizer(prompts)
        return run_chunked(self.backend, "text", {"input_ids": ids}, "embeds", _text_chunk(self.cfg))

    def forward(self, items: Sequence[IbItem]) -> list[IbRaw]:
        """All clips of the batch in vision/audio calls of at most clip_batch_size; prompts via the cache."""
        video = _run_clips(
            self.backend, "vision", [it.video for it in items], "pixel_values", self.chunk, self.per_item
        )
        audio = _run_clips(
            self.backend, "audio", [it.audio for it in items], "fbank", self.chunk, self.per_item
        )
        texts = self.text_cache.get_many(
            [it.text for it in items] + [it.audio_text for it in items], self._encode_texts
        )
        n = len(items)
        return [IbRaw(video[i], audio[i], texts[i], texts[n + i]) for i in range(n)]

    def postprocess(self, output: IbRaw) -> ScorerOutput:
        """Average the clip embeddings, then the three cosines; embeddings are returned L2-normalised."""
        v = output.video.mean(axis=0, dtype=np.float64)
        a = output.audio.mean(axis=0, dtype=np.float64)
        scores = {
            "ib_tv": float(_cos(output.text, v)),
            "ib_ta": float(_cos(output.audio_text, a)),
            "ib_av": float(_cos(a, v)),
        }
        return ScorerOutput(
            scores=scores,
            embeddings={
                "video": l2_normalize(v),
                "audio": l2_normalize(a),
                "text": l2_normalize(output.text),
            },
        )

    def warmup_sample(self) -> DecodedSample:
        """2.5 s of a moving gradient with a tone."""
        video, audio = _warmup_clip()
        return DecodedSample(id="warmup", prompt="a colourful gradient and a beep", video=video, audio=audio)


def build(name: str, cfg: ScorerConfig) -> ImageBindScorer:
    """Registry target of `imagebind`: load weights (offline), create the backend, return the scorer."""
    model, tok, winfo = _load(cfg, name)
    backend = backend_for(
        "imagebind",
        cfg,
        make_graphs(model),
        winfo.sha256,
        max_batch_size=max(cfg.max_batch_size, clip_batch_size(cfg, name)),
    )
    _banner(name, winfo)
    return ImageBindScorer(name, cfg, backend=backend, tokenizer=tok, weights=winfo)


# ------------------------------------------------------------------------------------------- AVH / Javis


@dataclass(frozen=True)
class AvhItem:
    """Preprocessed sample: cropped frames, whole-audio fbank clips, window fbank clips and frame windows."""

    frames: np.ndarray  # (T, 224, 224, 3) uint8
    audio: np.ndarray  # (3, 1, 128, 204)
    window_audio: np.ndarray  # (M, 3, 1, 128, 204)
    window_frames: np.ndarray  # (M, N) int64 frame indices


@dataclass(frozen=True)
class AvhRaw:
    """Backend outputs: frame (T, D), whole-audio clip (3, D) and window clip (M, 3, D) embeddings."""

    frames: np.ndarray
    audio: np.ndarray
    window_audio: np.ndarray
    window_frames: np.ndarray


class ImageBindAvhScorer:
    """JavisBench AVHScore and JavisScore behind a backend."""

    def __init__(self, name: str, cfg: ScorerConfig, *, backend: Backend, weights: WeightsInfo) -> None:
        self.cfg = cfg
        self.backend = backend
        opts = scorer_options(ImageBindOptions, name, cfg)
        self.chunk = clip_batch_size(cfg, name)
        self.per_item = on_cpu(cfg)  # CPU: even per-item calls, no padding; GPU: padded cross-item chunks
        self.window_s = opts.window_s
        self.overlap_s = opts.overlap_s
        self.topk_fraction = opts.topk_min
        self.pass_order = opts.pillow_pass_order
        self.info = AVH_SPEC.info(
            name,
            cfg,
            weights=weights,
            backend=backend.name,
            device=backend.device,
            family="imagebind",
            input_spec=InputSpec(
                modalities=("video", "audio"), image_size=IMAGE_SIZE, audio_sample_rate=SAMPLE_RATE
            ),
        )

    def preprocess(self, sample: DecodedSample) -> AvhItem:
        """Every frame resized and centre-cropped; the whole-audio clips and the JavisScore windows."""
        frames, fps = checked_frames(sample, "imagebind_avh")
        wave = audio_16k(sample, "imagebind_avh")
        try:
            win = javis_windows(
                frames.shape[0], fps, wave.shape[-1], window_s=self.window_s, overlap_s=self.overlap_s
            )
        except ValueError as e:
            raise InvalidSample(str(e)) from None
        n = win.frames_per_window
        if int(n * self.topk_fraction) == 0:
            raise InvalidSample(
                f"javis_score is undefined for this clip: its windows hold {n} frame(s) ({frames.shape[0]} frames at "
                f"{fps:g} fps), and the mean of the int({self.topk_fraction:g} x {n}) = 0 lowest similarities is NaN; "
                "at least 3 frames are needed"
            )
        try:
            whole = audio_clips(wave)
            windows = window_audio_clips(wave, win.audio)
        except ValueError as e:
            raise InvalidSample(str(e)) from None
        cropped = resize_shortest_edge_center_crop(
            np.ascontiguousarray(frames), IMAGE_SIZE, IMAGE_SIZE, pass_order=self.pass_order, rounding="round"
        )
        idx = np.stack([np.arange(s, e) for s, e in win.video]).astype(np.int64)
        return AvhItem(np.ascontiguousarray(cropped), whole, windows, idx)

    def forward(self, items: Sequence[AvhItem]) -> list[AvhRaw]:
        """All frames (as repeated 2-frame clips) and all audio clips of the batch in chunked calls."""
        frame_emb = []
        for it in items:
            parts = []
            n = it.frames.shape[0]
            spans = (
                even_splits(n, self.chunk)
                if self.per_item
                else [(s, min(s + self.chunk, n)) for s in range(0, n, self.chunk)]
            )
            for a, b in spans:
                chw = to_normalized_chw(it.frames[a:b], OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
                clips = np.repeat(
                    chw[:, :, None], 2, axis=2
                )  # an image is a clip of 2 equal frames (PadIm2Video)
                if self.per_item:
                    parts.append(np.asarray(self.backend.run("vision", {"pixel_values": clips})["embeds"]))
                else:
                    parts.append(
                        run_chunked(self.backend, "vision", {"pixel_values": clips}, "embeds", self.chunk)
                    )
            frame_emb.append(np.concatenate(parts, axis=0))
        stacks = []
        for it in items:
            stacks += [it.audio, it.window_audio.reshape(-1, *it.window_audio.shape[2:])]
        audio = _run_clips(self.backend, "audio", stacks, "fbank", self.chunk, self.per_item)
        out = []
        for i, it in enumerate(items):
            whole, win = audio[2 * i], audio[2 * i + 1]
            m = it.window_audio.shape[0]
            out.append(AvhRaw(frame_emb[i], whole, win.reshape(m, -1, win.shape[-1]), it.window_frames))
        return out

    def postprocess(self, output: AvhRaw) -> ScorerOutput:
        """avh_score = mean_t cos(frame_t, audio); javis_score = mean over windows of the lowest-40 % mean."""
        audio = output.audio.mean(axis=0, dtype=np.float64)
        avh = float(_cos(output.frames, audio[None]).mean())
        win_audio = output.window_audio.mean(axis=1, dtype=np.float64)  # (M, D)
        sim = _cos(output.frames[output.window_frames], win_audio[:, None, :])  # (M, N)
        javis = lowest_fraction_mean(sim, self.topk_fraction)
        if not np.isfinite(javis):
            raise InvalidSample("javis_score is NaN for this clip (no similarity to average)")
        video = l2_normalize(output.frames).mean(axis=0, dtype=np.float64)
        return ScorerOutput(
            scores={"avh_score": avh, "javis_score": javis},
            embeddings={"video": l2_normalize(video), "audio": l2_normalize(audio)},
        )

    def warmup_sample(self) -> DecodedSample:
        """2.5 s of a moving gradient with a tone (two JavisScore windows)."""
        video, audio = _warmup_clip()
        return DecodedSample(id="warmup", prompt="", video=video, audio=audio)


def build_avh(name: str, cfg: ScorerConfig) -> ImageBindAvhScorer:
    """Registry target of `imagebind_avh`: vision and audio graphs only."""
    model, _, winfo = _load(cfg, name)
    backend = backend_for(
        "imagebind",
        cfg,
        make_graphs(model, text=False),
        winfo.sha256,
        max_batch_size=max(cfg.max_batch_size, clip_batch_size(cfg, name)),
    )
    _banner(name, winfo)
    return ImageBindAvhScorer(name, cfg, backend=backend, weights=winfo)


@dataclass(frozen=True)
class ImageBindOptions(ModelOptions):
    """Options of imagebind and imagebind_avh."""

    # BPE vocabulary (path or URL) of the text side; None = the family's official file.
    tokenizer: str | None = None
    # Keep the end-of-text token in the text embedding (reference: no).
    keep_eot: bool = False
    # huge (the official model) or a smaller test architecture.
    architecture: str = "huge"
    # Rows (clips or frames) per vision/audio graph call; 0 = at most 8 per item's call on a CPU, 32 on a GPU.
    clip_batch_size: int = 0
    # Prompts whose text embeddings are kept (LRU); 0 = no cache.
    text_cache_size: int = 4096
    # imagebind_avh: audio-visual window length and overlap, in seconds.
    window_s: float = 2.0
    overlap_s: float = 1.5
    # imagebind_avh: smallest fraction of windows averaged by the top-k rule.
    topk_min: float = 0.4
    # PIL's two-pass resize order: horizontal_first (Pillow) or vertical_first.
    pillow_pass_order: str = "horizontal_first"


SPEC = ScorerSpec(
    name="imagebind",
    build=build,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=("ib_tv", "ib_ta", "ib_av"),
    embeddings=("video", "audio", "text"),
    modalities=("video", "audio", "prompt"),
    options=ImageBindOptions,
    families=("imagebind",),
    bench=tuple(BenchMetric("javisbench", k, output=k) for k in ("ib_tv", "ib_ta", "ib_av")),
    summary="ImageBind text-video, text-audio and audio-video similarities",
    batch_rtol=1e-5,
)
AVH_SPEC = ScorerSpec(
    name="imagebind_avh",
    build=build_avh,
    version=VERSION,
    protocols=PROTOCOLS,
    outputs=("avh_score", "javis_score"),
    embeddings=("video", "audio"),
    modalities=("video", "audio"),
    options=ImageBindOptions,
    families=("imagebind",),
    weights=("imagebind",),
    bench=(
        BenchMetric("javisbench", "avh_score", output="avh_score"),
        BenchMetric("javisbench", "javis_score", output="javis_score"),
    ),
    summary="ImageBind audio-visual harmony (AVHScore, JavisScore)",
    batch_rtol=1e-5,
)
SCORERS = (SPEC, AVH_SPEC)
