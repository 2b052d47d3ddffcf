"""One-line meaning and unit of every JavisBench key, shown next to the numbers in the reports."""

from __future__ import annotations

METRIC_INFO: dict[str, tuple[str, str]] = {
    "fvd": ("Fréchet distance of I3D video features, generated vs ground-truth set", "unitless"),
    "kvd": ("kernel (cubic polynomial MMD²) distance of the same I3D features", "unitless"),
    "fad": ("Fréchet distance of AudioCLIP audio features, generated vs ground-truth set", "×1e4"),
    "visual_quality": ("VideoReward visual-quality head", "raw head output"),
    "motion_quality": ("VideoReward motion-quality head", "raw head output"),
    "audio_quality": ("Audiobox Aesthetics, mean of CE, CU, PC, PQ", "score ~1-10"),
    "ib_tv": ("ImageBind cosine similarity of the text prompt and the video", "cosine"),
    "ib_ta": ("ImageBind cosine similarity of the text prompt and the audio", "cosine"),
    "ib_av": ("ImageBind cosine similarity of the audio and the video", "cosine"),
    "avh_score": ("ImageBind audio-visual harmony over 2 s windows (lowest 40 %)", "cosine"),
    "javis_score": ("JavisScore: windowed audio-visual synchrony from ImageBind", "cosine"),
    "clip_score": ("CLIP ViT-B/32 frame/text cosine, mean over 48 frames", "cosine"),
    "clap_score": ("CLAP audio/text cosine", "cosine"),
    "desync": ("Synchformer audio-video offset", "seconds"),
    "av_align": ("audio onsets vs optical-flow peaks, IoU within ±1 frame", "IoU 0-1"),
}

DEMO_NOTE = (
    "What these demo numbers mean: nothing about quality. Tiny random weights map every clip to nearly the "
    "same features, so FVD/FAD come out near 0 and KVD can be slightly negative (it is an unbiased "
    "estimate of a distance that is ~0); the run only proves the pipeline works end to end."
)


def describe(key: str) -> tuple[str, str]:
    """(description, unit) of a metric key; empty strings for keys of other suites."""
    return METRIC_INFO.get(key, ("", ""))
