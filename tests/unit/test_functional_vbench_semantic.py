"""VBench human_action, scene, temporal_style and overall_consistency math on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional import vbench_semantic as S

CLASSES = [f"class {i}" for i in range(10)]


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("videos/A person is riding a bike-3.mp4", "riding a bike"),
        ("/x/y/A PERSON IS Playing Guitar-0.mp4", "playing guitar"),
        ("a person is tying knot (not on a tie)-4.mp4", "tying knot (not on a tie)"),
        ("a person is dancing_extra words-1.mp4", "dancing"),  # '_' cuts the label
        ("my-dir/a person is sneezing-2.mp4", "sneezing"),  # only the basename is parsed
        ("skateboarding-0.mp4", "skateboarding"),  # no 'person is': the whole stem before '-'
        ("a person is high-kick-0.mp4", "high"),  # the reference cuts at the first '-'
    ],
)
def test_human_action_label_from_file_name(path: str, label: str) -> None:
    assert S.human_action_label(path) == label


def test_unknown_label_is_a_named_error() -> None:
    assert S.check_human_action_label("a person is class 3-0.mp4", CLASSES) == "class 3"
    with pytest.raises(ValueError, match=r"'a person is flying-0\.mp4' parses to 'flying'"):
        S.check_human_action_label("a person is flying-0.mp4", CLASSES)


def test_top5_threshold_uses_rounded_probabilities() -> None:
    p = np.zeros(10, np.float32)
    p[[2, 5, 7, 8, 9, 1]] = [0.9, 0.849951, 0.84994, 0.86, 0.5, 0.99]
    # top-5: 1 (0.99), 2 (0.9), 8 (0.86), 5 (0.849951 -> 0.85 kept), 7 (0.84994 -> 0.8499 dropped); 9 is 6th
    assert S.human_action_top_classes(p) == [1, 2, 8, 5]
    q = np.zeros(10, np.float32)
    q[:7] = 0.95  # 7 classes above the threshold: only 5 are considered
    assert len(S.human_action_top_classes(q)) == 5
    np.testing.assert_allclose(S.sigmoid(np.array([0.0, 2.0])), [0.5, 1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_human_action_video_and_accuracy() -> None:
    p = np.full(10, 0.1, np.float32)
    p[3], p[4] = 0.97, 0.86
    good = S.human_action_video("a person is class 4-1.mp4", p, CLASSES)
    bad = S.human_action_video("a person is class 6-1.mp4", p, CLASSES)
    assert good == {"video_path": "a person is class 4-1.mp4", "video_results": True, "cor_num_per_video": 1}
    assert bad["video_results"] is False and bad["cor_num_per_video"] == 0
    assert S.human_action_aggregate([good, bad, good]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        S.human_action_aggregate([])


def test_scene_substring_rule() -> None:
    assert S.scene_frame_success("a picture of an indoor swimming pool with people", "indoor swimming pool")
    assert S.scene_frame_success(
        "a poolside view indoors while swimming", "indoor swimming pool"
    )  # substrings
    assert not S.scene_frame_success("an outdoor swimming pool", "indoor swimming pool")
    assert S.scene_frame_success("anything at all", "")  # '' is in every string, as in the reference
    assert S.scene_frame_success("a bar", "bar  ")  # double space: empty words match


def test_scene_video_and_frame_weighted_aggregate() -> None:
    a = S.scene_video("a.mp4", ["a kitchen"] * 3 + ["a room"], "kitchen")
    b = S.scene_video("b.mp4", ["a kitchen"] + ["a room"] * 11, "kitchen")
    assert a == {"video_path": "a.mp4", "video_results": 0.75, "success_frame_count": 3, "frame_count": 4}
    assert b["video_results"] == pytest.approx(1 / 12)
    # (3 + 1) / (4 + 12) = 0.25, not the mean of the rates (0.4167)
    assert S.scene_aggregate([a, b]) == pytest.approx(0.25)


def test_viclip_cosine_and_mean() -> None:
    v = np.array([3.0, 4.0, 0.0], np.float32)
    t = np.array([4.0, 3.0, 0.0], np.float32)
    assert S.viclip_similarity(v, t) == pytest.approx(24 / 25, abs=1e-7)
    assert S.viclip_similarity(v, -v) == pytest.approx(-1.0, abs=1e-7)  # negative cosines are kept
    r1 = S.temporal_style_video("x.mp4", v, t)
    r2 = S.overall_consistency_video("y.mp4", v, np.array([0.0, 0.0, 1.0]))
    assert (
        r1 == {"video_path": "x.mp4", "video_results": pytest.approx(0.96, abs=1e-7)}
        and r2["video_results"] == 0
    )
    assert S.overall_consistency_aggregate([r1, r2]) == pytest.approx(0.48, abs=1e-7)
    assert S.temporal_style_aggregate is S.viclip_aggregate
