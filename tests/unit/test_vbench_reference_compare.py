"""The reference-comparison driver's pure part: per-dimension comparison of two `<name>_eval_results.json`."""

from __future__ import annotations

import pytest

from omninft.bench.perf.scripts.vbench_reference import compare


def test_compare_matches_videos_by_file_name_whatever_the_order() -> None:
    ref = {
        "subject_consistency": [
            0.5,
            [
                {"video_path": "/r/a-0.mp4", "video_results": 0.4},
                {"video_path": "/r/b-0.mp4", "video_results": 0.6},
            ],
        ],
        "dynamic_degree": [
            0.5,
            [
                {"video_path": "/r/a-0.mp4", "video_results": True},
                {"video_path": "/r/b-0.mp4", "video_results": False},
            ],
        ],
    }
    ours = {
        "subject_consistency": [
            0.5000001,
            [
                {"video_path": "/o/b-0.mp4", "video_results": 0.6000002},
                {"video_path": "/o/a-0.mp4", "video_results": 0.4},
                {"video_path": "/o/c-0.mp4", "video_results": 0.1},
            ],
        ],
        "dynamic_degree": [
            0.5,
            [
                {"video_path": "/o/b-0.mp4", "video_results": True},
                {"video_path": "/o/a-0.mp4", "video_results": True},
            ],
        ],
    }
    out = compare(ref, ours, ["subject_consistency", "dynamic_degree", "imaging_quality"])
    sc = out["subject_consistency"]
    assert sc["videos_compared"] == 2 and sc["videos_only_in"] == {"reference": [], "ours": ["c-0.mp4"]}
    assert sc["max_per_video_abs_diff"] == pytest.approx(2e-7) and sc["rel_diff"] == pytest.approx(2e-7)
    assert out["dynamic_degree"]["max_per_video_abs_diff"] == 1.0  # booleans compare as 0/1
    assert out["imaging_quality"] == {"missing_in": ["reference", "ours"]}
