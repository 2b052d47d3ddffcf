"""The JavisBench suite perf script's pure pieces: demo set -> URI samples, scrape deltas, stage breakdown."""

from __future__ import annotations

from pathlib import Path

from omninft.bench.demo_data import write_demo_set
from omninft.bench.perf.scripts.javisbench_suite import (
    CONFIGS,
    EMBED_SCORERS,
    SCORE_SCORERS,
    SUITE,
    delta,
    demo_samples,
    histogram_means,
    stage_breakdown,
)


def test_demo_samples_are_file_uris(tmp_path: Path) -> None:
    """Each CSV row becomes one sample whose mp4 video and wav audio are file:// URIs under the demo dir."""
    write_demo_set(tmp_path, n=2, seconds=0.25, height=32, width=48)
    samples = demo_samples(tmp_path)
    assert [s.id for s in samples] == ["sample_0000", "sample_0001"]
    assert samples[0].video.uri.endswith("sample_0000.mp4") and samples[0].video.uri.startswith("file://")
    assert samples[0].audio.uri.endswith("sample_0000.wav")
    assert samples[0].prompt and samples[0].audio_prompt


def test_configs_cover_the_suite() -> None:
    """Both configs name every scorer; mid keeps VideoReward tiny and the rest at full size."""
    assert set(SCORE_SCORERS) | set(EMBED_SCORERS) == set(SUITE) and len(SUITE) == 10
    assert set(CONFIGS["tiny"].values()) == {"tiny"}
    assert CONFIGS["mid"]["videoalign"] == "tiny"
    assert CONFIGS["mid"]["clip"] == "random"


def test_stage_breakdown_from_scrape_deltas() -> None:
    """Counter deltas split per scorer and stage; percentages are of the summed stage time."""
    name = "omninft_stage_seconds_total"

    def key(scorer: str, stage: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (name, (("scorer", scorer), ("stage", stage)))

    before = {key("", "decode"): 1.0, key("clip", "forward"): 2.0}
    after = {
        key("", "decode"): 2.0,
        key("clip", "forward"): 5.0,
        key("clip", "preprocess"): 1.0,
        ("omninft_batch_size_sum", (("scorer", "clip"),)): 8.0,
        ("omninft_batch_size_count", (("scorer", "clip"),)): 2.0,
    }
    d = delta(after, before, name)
    bd = stage_breakdown(d)
    assert bd["sum_s"] == 5.0
    assert bd["by_stage"]["forward"] == {"s": 3.0, "pct": 60.0}
    assert bd["by_scorer"]["(decode)"]["decode"]["s"] == 1.0
    assert list(bd["scorer_total_s"]) == ["clip", "(decode)"]
    assert histogram_means(after, {}, "omninft_batch_size", "scorer") == {"clip": 4.0}
