"""VBench's GRiT dimensions on hand-made detections, with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from omninft.reward_servers.functional.vbench_grit_dims import (
    DegenerateBoxPair,
    color_aggregate,
    color_frame_flags,
    color_frame_pairs,
    color_target_object,
    color_video_score,
    frame_names,
    grit_frame_size,
    multiple_objects_successes,
    object_class_successes,
    position_score,
    resize_frames_torchvision,
    spatial_aggregate,
    spatial_frame_score,
    spatial_video_score,
    split_object_pair,
    success_rate,
    truncate_box,
)


def test_object_class_exact_membership():
    frames = [
        frame_names(["person", "dog"]),
        frame_names([]),
        frame_names(["persons"]),
        frame_names(["person"]),
    ]
    assert object_class_successes(frames, "person") == 2
    assert object_class_successes(frames, "Person") == 0
    assert success_rate([2, 5], [4, 16]) == pytest.approx(7 / 20)
    with pytest.raises(ValueError):
        success_rate([], [])


def test_multiple_objects_needs_both_names():
    frames = [
        frame_names(["bird", "cat"]),
        frame_names(["bird"]),
        frame_names(["cat", "bird", "dog"]),
        frame_names([]),
    ]
    assert multiple_objects_successes(frames, "bird and cat") == 2
    assert split_object_pair("dining table and chair ") == ("dining table", "chair")
    with pytest.raises(ValueError, match="A and B"):
        split_object_pair("bird, cat and dog and cow")


def test_truncate_box_is_int_toward_zero():
    assert truncate_box([3.9, 0.2, 10.999, 7.0]) == (3, 0, 10, 7)


def test_position_score_hand_computed():
    left, right = (0, 0, 10, 10), (20, 2, 30, 12)  # dx 20, dy 2, no overlap
    assert position_score("on the left of", left, right) == 1.0
    assert position_score("on the right of", left, right) == 1.0  # direction not checked
    assert position_score("on the top of", left, right) == 0.0
    # overlap: boxes (0,0,10,10) and (4,0,14,10): inter 60, union 140, IoU 3/7; dx 4 > dy 0
    assert position_score("on the left of", (0, 0, 10, 10), (4, 0, 14, 10)) == pytest.approx(0.1 / (60 / 140))
    below = (1, 30, 11, 40)
    assert position_score("on the bottom of", left, below) == 1.0
    assert position_score("under", left, below) == 0.0  # not a known relation
    assert position_score("left", left, right) == 1.0  # substring test, as the reference
    with pytest.raises(DegenerateBoxPair):
        position_score("on the left of", (3, 3, 3, 8), (5, 5, 5, 9))


def test_spatial_frame_pairs_and_max():
    names = ["dog", "cat", "dog", "car"]
    boxes = [[0, 0, 10.7, 10], [20, 0, 30, 10], [2, 0, 12, 10], [50, 50, 60, 60]]
    # pairs among dog0, cat, dog2: (dog0, cat) 1.0; (dog0, dog2) IoU 8/12 -> 0.1/(8/12) ... max is 1
    assert spatial_frame_score(names, boxes, "dog", "cat", "on the left of") == 1.0
    assert spatial_frame_score(names, boxes, "dog", "cat", "on the top of") == 0.0
    # only two overlapping dogs: truncated boxes (0,0,10,10), (2,0,12,10): inter 80, union 120
    assert spatial_frame_score(names[::2], boxes[::2], "dog", "horse", "on the right of") == pytest.approx(
        0.1 / (80 / 120)
    )
    assert spatial_frame_score([], [], "dog", "cat", "on the left of") == 0.0
    assert spatial_frame_score(["dog"], [[0, 0, 5, 5]], "dog", "cat", "on the left of") == 0.0
    assert spatial_video_score([1.0, 0.0, 0.5, 0.5]) == 0.5
    assert spatial_aggregate([[1.0, 0.0], [0.5]]) == pytest.approx(0.5)


def test_color_target_object_quirks():
    assert color_target_object("a red car", "red") == "car"
    assert color_target_object("an orange umbrella", "orange") == "umbrella"
    # plain replace: 'a ' inside a word is removed too
    assert color_target_object("a black banana cake", "black") == "banancake"


def test_color_pairs_use_the_first_detection_name():
    assert color_frame_pairs(["a red car", "a blue bird"], ["car", "bird"]) == [
        ("a red car", "car"),
        ("a blue bird", "car"),
    ]
    assert color_frame_pairs([], []) == [("", "")]
    # the bird's caption counts for the car because the first name is 'car'
    assert color_frame_flags(
        color_frame_pairs(["a bird", "a blue bird"], ["car", "bird"]), "car", "blue"
    ) == (True, True)
    assert color_frame_flags(color_frame_pairs(["a red car"], ["bird"]), "car", "red") == (False, False)
    # an object frame without the target colour
    assert color_frame_flags([("a green car", "car")], "car", "red") == (True, False)


def test_color_video_score_and_dropped_videos():
    frames = [
        (["a red car"], ["car"]),  # object + colour
        (["a green car"], ["car"]),  # object only
        ([], []),  # nothing
        (["a car"], ["car"]),  # no colour word at all: not an object frame
    ]
    assert color_video_score(frames, "car", "red") == 0.5
    assert color_video_score([([], []), (["a red bird"], ["bird"])], "car", "red") is None
    assert color_aggregate([0.5, None, 1.0]) == 0.75
    with pytest.raises(ValueError, match="dropped"):
        color_aggregate([None])


def test_grit_frame_size_rule():
    assert grit_frame_size(768, 1366) is None
    assert grit_frame_size(1080, 1920) == (720, 1280)
    assert grit_frame_size(1000, 777) == (926, 720)  # int(720 / 777 * 1000) = 926


def test_torchvision_resize_hand_computed_halving():
    # antialiased bilinear at scale 1/2: the triangle filter widened to 2 input pixels gives weights
    # 1/8, 3/8, 3/8, 1/8 over the 4 nearest input pixels (edge weights renormalised)
    row = np.array([0.0, 8.0, 16.0, 24.0, 32.0, 40.0, 48.0, 56.0], dtype=np.float32)
    frames = np.broadcast_to(row[None, None, :, None], (1, 4, 8, 3)).copy()
    out = resize_frames_torchvision(frames, (4, 4))
    interior = (8 * 1 + 16 * 3 + 24 * 3 + 32 * 1) / 8  # output pixel 1 centred between inputs 2 and 3
    first = (0 * 3 + 8 * 3 + 16 * 1) / 7  # the pixel left of input 0 does not exist
    assert out[0, 0, 1, 0] == pytest.approx(interior) and out[0, 0, 0, 0] == pytest.approx(first)
    plain = resize_frames_torchvision(frames, (4, 4), antialias=False)
    assert plain[0, 0, 1, 0] == pytest.approx((16 + 24) / 2)
