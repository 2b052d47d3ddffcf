"""The served VBench GRiT scorers (scorers/vbench_grit.py): the reference's per-video decisions on hand-made
detections, the frames GRiT is given (16 middle frames, the two >768 resize paths), one shared GRiT whose
detections the four dimensions reuse, and, on tiny weights, equality with GRiT run directly plus the rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import torch

from omninft.bench.suites.vbench.dimensions import DIMENSIONS
from omninft.reward_servers.functional import vbench_grit_dims as rules
from omninft.reward_servers.functional.vbench_frames import vbench_frame_indices
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import grit
from omninft.reward_servers.models.grit import GRiTDetections
from omninft.reward_servers.models.grit import vbench as gv
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers._shared import sharing
from omninft.reward_servers.scorers.base import InvalidSample, ScorerConfig
from omninft.reward_servers.scorers.spec import InvalidOptions

GRIT_SCORERS = (
    "vbench_object_class",
    "vbench_multiple_objects",
    "vbench_spatial_relationship",
    "vbench_color",
)
SPATIAL = json.dumps({"object_a": "dog", "object_b": "cat", "relationship": "on the left of"})
COLOR = json.dumps({"color": "red", "object": "car"})


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scorers() -> dict[str, object]:
    with sharing():
        return {n: registry.build(n, ScorerConfig(weights="tiny")) for n in GRIT_SCORERS}


def _clip(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    frames[:, h // 4 : h // 2, w // 4 : w // 2] = (200, 30, 30)
    return frames


def _sample(frames: np.ndarray, prompt: str) -> DecodedSample:
    return DecodedSample(id="v", prompt=prompt, video=DecodedVideo(frames, fps=8.0))


def _det(*objs: tuple[str, Sequence[float], str] | tuple[str, Sequence[float]]) -> GRiTDetections:
    """Detections from (ObjectDet name, xyxy box[, DenseCap caption]) in score order."""
    boxes = np.asarray([o[1] for o in objs], dtype=np.float32).reshape(-1, 4)
    caps = tuple(o[2] for o in objs if len(o) == 3)  # type: ignore[misc]
    return GRiTDetections(
        boxes=boxes,
        scores=np.ones(len(objs), dtype=np.float32),
        object_names=tuple(o[0] for o in objs),
        captions=caps if len(caps) == len(objs) else None,
    )


class StubDetector:
    """Hand-made detections per frame index (cycled), recording the frames and tasks it was asked for."""

    def __init__(self, per_frame: Sequence[GRiTDetections]) -> None:
        self.per_frame = per_frame
        self.calls: list[tuple[tuple[int, ...], bool]] = []

    def detect_frames(self, frames: np.ndarray, captions: bool = False) -> list[GRiTDetections]:
        self.calls.append((tuple(frames.shape), captions))
        return [self.per_frame[i % len(self.per_frame)] for i in range(len(frames))]


def _with_stub(
    scorer: object, per_frame: Sequence[GRiTDetections], prompt: str, frames: np.ndarray | None = None
) -> tuple[dict, StubDetector]:
    """Score one video with the scorer's own parsing, frames and rules, but hand-made detections."""
    import copy

    stub = StubDetector(per_frame)
    s = copy.copy(scorer)
    s.detector = stub  # type: ignore[attr-defined]
    clip = _clip(20, 24, 32) if frames is None else frames
    out = s.forward([s.preprocess(_sample(clip, prompt))])[0]  # type: ignore[attr-defined]
    if isinstance(out, Exception):
        raise out
    res = s.postprocess(out)  # type: ignore[attr-defined]
    return (res.embeddings or res.scores), stub


# ------------------------------------------------------------------------------ decisions on hand-made detections


def test_outputs_follow_the_runner_contract(scorers) -> None:
    for name in GRIT_SCORERS:
        dim = DIMENSIONS[name.removeprefix("vbench_")]
        spec = registry.spec(name)
        declared = spec.embeddings if dim.rpc == "embed" else spec.outputs
        assert set(dim.wire_outputs) == set(declared), name
        assert spec.modalities == ("video", "prompt") and spec.families == ("grit",)
        assert scorers[name].info.input_spec.video_frames == 16


def test_object_class_counts_exact_name_matches(scorers) -> None:
    frames = [
        _det(("person", [0, 0, 5, 5]), ("dog", [1, 1, 4, 4])),
        _det(),
        _det(("persons", [0, 0, 5, 5])),
        _det(("dog", [0, 0, 5, 5]), ("person", [2, 2, 9, 9])),
    ]
    got, stub = _with_stub(scorers["vbench_object_class"], frames, "person")
    # 16 frames cycle the 4 hand-made ones: 2 of every 4 name a person
    assert got == {"object_class_success_frame_count": 8.0, "object_class_frame_count": 16.0}
    assert stub.calls == [((16, 24, 32, 3), False)]  # ObjectDet on 16 frames at the input size
    got, _ = _with_stub(scorers["vbench_object_class"], frames, "Person")
    assert got["object_class_success_frame_count"] == 0.0


def test_multiple_objects_needs_both_names_in_one_frame(scorers) -> None:
    frames = [
        _det(("bird", [0, 0, 5, 5]), ("cat", [5, 5, 9, 9])),
        _det(("bird", [0, 0, 5, 5])),
        _det(("cat", [0, 0, 2, 2])),
    ]
    got, _ = _with_stub(scorers["vbench_multiple_objects"], frames, "bird and cat ")
    # frames 0, 3, 6, 9, 12, 15 are the (bird, cat) frame
    assert got == {"multiple_objects_success_frame_count": 6.0, "multiple_objects_frame_count": 16.0}
    with pytest.raises(InvalidSample, match="'A and B'"):
        scorers["vbench_multiple_objects"].preprocess(_sample(_clip(3, 8, 8), "bird, cat"))


def test_spatial_relationship_frame_scores(scorers) -> None:
    apart = _det(("dog", [0, 0, 10, 10]), ("cat", [20.9, 2, 30, 12]), ("car", [0, 0, 40, 40]))
    overlap = _det(("cat", [0, 0, 10, 10]), ("cat", [4, 0, 14, 10]))  # same class twice: IoU 60/140
    vertical = _det(("dog", [0, 0, 10, 10]), ("cat", [0, 30, 10, 40]))
    got, _ = _with_stub(scorers["vbench_spatial_relationship"], [apart, overlap, vertical, _det()], SPATIAL)
    want = [1.0, 0.1 / (60 / 140), 0.0, 0.0] * 4
    assert got["frame_results"].dtype == np.float64 and got["frame_results"].shape == (16,)
    np.testing.assert_allclose(got["frame_results"], want, rtol=0, atol=1e-15)
    right = json.dumps({"object_a": "dog", "object_b": "cat", "relationship": "on the right of"})
    assert (
        _with_stub(scorers["vbench_spatial_relationship"], [apart], right)[0]["frame_results"].tolist()
        == [1.0] * 16
    )
    # zero union area: the reference divides by zero; here that video alone fails
    flat = _det(("dog", [3, 3, 3.5, 8]), ("cat", [5, 5, 5.9, 9]))
    with pytest.raises(InvalidSample, match="zero union"):
        _with_stub(scorers["vbench_spatial_relationship"], [flat], SPATIAL)
    for bad in ("dog left of cat", json.dumps({"object_a": "dog", "object_b": "cat"})):
        with pytest.raises(InvalidSample, match="relationship|JSON"):
            scorers["vbench_spatial_relationship"].preprocess(_sample(_clip(2, 8, 8), bad))


def test_color_uses_the_first_detection_name_and_densecap(scorers) -> None:
    # frame A: first detection is a car; a caption of another instance says "red" -> object and colour frame
    a = _det(("car", [0, 0, 5, 5], "a blue sky"), ("tree", [1, 1, 4, 4], "a red car"))
    # frame B: the red car is the second detection; the first is a person -> not an object frame (the quirk)
    b = _det(("person", [0, 0, 5, 5], "a man"), ("car", [1, 1, 4, 4], "a red car"))
    # frame C: car named first, only a non-target colour -> object frame, not a colour frame
    c = _det(
        ("car", [0, 0, 5, 5], "a green car"),
    )
    got, stub = _with_stub(scorers["vbench_color"], [a, b, c, _det()], COLOR)
    assert got == {"color_object_frame_count": 8.0, "color_color_frame_count": 4.0}
    assert stub.calls[0][1] is True  # DenseCap
    got, _ = _with_stub(scorers["vbench_color"], [b, _det()], COLOR)
    assert got == {"color_object_frame_count": 0.0, "color_color_frame_count": 0.0}  # the runner drops it
    with pytest.raises(InvalidSample, match="color condition lacks object"):
        scorers["vbench_color"].preprocess(
            _sample(_clip(2, 8, 8), json.dumps({"color": "red", "object": " "}))
        )


def test_a_missing_condition_or_video_fails_the_sample(scorers) -> None:
    for name in GRIT_SCORERS:
        with pytest.raises(InvalidSample, match="condition"):
            scorers[name].preprocess(_sample(_clip(2, 8, 8), "  "))
        with pytest.raises(InvalidSample, match="needs a video"):
            scorers[name].preprocess(DecodedSample(id="x", prompt="person"))


# ------------------------------------------------------------------------------------------------------ frames


def test_sixteen_middle_frames_with_the_last_index_repeated() -> None:
    frames = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((5, 2, 3, 3), dtype=np.uint8)
    got = gv.sample_frames(frames)
    assert got.shape == (16, 2, 3, 3) and got[:, 0, 0, 0].tolist() == [0, 1, 2, 3] + [4] * 12
    long = np.arange(48, dtype=np.uint8)[:, None, None, None] * np.ones((48, 1, 1, 3), dtype=np.uint8)
    assert gv.sample_frames(long)[:, 0, 0, 0].tolist() == list(range(1, 48, 3))
    assert vbench_frame_indices(16, 48).tolist() == list(range(1, 48, 3))


def test_no_resize_up_to_768_and_the_two_resize_paths_above() -> None:
    small = _clip(3, 40, 60)
    np.testing.assert_array_equal(gv.detection_frames(small), gv.sample_frames(small).astype(np.float32))
    np.testing.assert_array_equal(gv.color_frames(small), gv.sample_frames(small))
    big = _clip(2, 770, 800, seed=1)
    det = gv.detection_frames(big, num_frames=2)
    assert det.dtype == np.float32 and det.shape == (2, 720, 748, 3)  # int(720/770*800) = 748
    np.testing.assert_array_equal(det, rules.resize_frames_torchvision(big.astype(np.float32), (720, 748)))
    assert not np.array_equal(det, gv.detection_frames(big, num_frames=2, antialias=False))
    col = gv.color_frames(big, num_frames=2)
    import cv2

    assert col.dtype == np.uint8 and col.shape == (2, 720, 748, 3)
    np.testing.assert_array_equal(col[1], cv2.resize(big[1], (748, 720), interpolation=cv2.INTER_LINEAR))


def test_frame_keys_follow_pixel_values() -> None:
    f = _clip(1, 6, 7)[0]
    assert gv.frame_key(f) == gv.frame_key(f.astype(np.float32))
    g = f.copy()
    g[0, 0, 0] ^= 1
    assert gv.frame_key(f) != gv.frame_key(g) and gv.frame_key(f) != gv.frame_key(f.reshape(7, 6, 3))


# ------------------------------------------------------------------------------------------- tiny GRiT, shared


def test_one_grit_is_shared_and_its_detections_reused(scorers) -> None:
    detectors = {id(s.detector) for s in scorers.values()}
    models = {id(s.detector.model) for s in scorers.values()}
    assert len(detectors) == 1 and len(models) == 1
    assert all(
        s.info.weights.tiny and s.info.weights == scorers["vbench_color"].info.weights
        for s in scorers.values()
    )


def test_scores_equal_grit_run_directly_with_the_rules(scorers) -> None:
    """Tiny GRiT through the scorers equals GRiT.detect on the 16 sampled frames plus the functional rules; the
    DenseCap pass of color serves the ObjectDet dimensions (one model call per distinct frame)."""
    model, _ = grit.load("tiny", seed=0)
    decoder = grit.load_decoder("tiny")
    frames = _clip(6, 40, 56, seed=3)
    sampled = gv.sample_frames(frames)
    direct = [model.detect(f, decoder, captions=True) for f in frames]  # 6 distinct frames of 16 sampled
    dets = [direct[i] for i in vbench_frame_indices(16, 6)]
    names = [d.object_names for d in dets]
    assert any(names)  # random tiny weights still detect things here
    target = names[0][0] if names[0] else "person"
    detector = scorers["vbench_color"].detector
    before = detector.model_calls
    col = scorers["vbench_color"]
    out = col.postprocess(
        col.forward([col.preprocess(_sample(frames, json.dumps({"color": "l", "object": target})))])[0]
    )
    assert detector.model_calls - before == 6
    objects = colors = 0
    for d in dets:
        o, c = rules.color_frame_flags(rules.color_frame_pairs(d.captions, d.object_names), target, "l")
        objects, colors = objects + o, colors + c
    assert out.scores == {"color_object_frame_count": objects, "color_color_frame_count": colors}
    oc = scorers["vbench_object_class"]
    got = oc.postprocess(oc.forward([oc.preprocess(_sample(frames, target))])[0]).scores
    assert got["object_class_success_frame_count"] == rules.object_class_successes(
        [rules.frame_names(n) for n in names], target
    )
    sp = scorers["vbench_spatial_relationship"]
    cond = json.dumps({"object_a": target, "object_b": "cat", "relationship": "on the top of"})
    emb = sp.postprocess(sp.forward([sp.preprocess(_sample(frames, cond))])[0]).embeddings["frame_results"]
    assert emb.tolist() == [
        rules.spatial_frame_score(d.object_names, d.boxes.tolist(), target, "cat", "on the top of")
        for d in dets
    ]
    assert detector.model_calls - before == 6  # the ObjectDet dimensions came from the cache
    # the detections GRiT gives for the sampled frames are those of the frames themselves
    np.testing.assert_array_equal(sampled[5], frames[vbench_frame_indices(16, 6)[5]])


def test_objectdet_result_is_not_reused_for_captions() -> None:
    model, _ = grit.load("tiny", seed=0)
    detector = gv.SharedDetector(model, grit.load_decoder("tiny"), cache_frames=1)
    f, g = _clip(2, 32, 40, seed=5)
    first = detector.detect(f)
    assert first.captions is None and detector.detect(f) is first and detector.model_calls == 1
    with_caps = detector.detect(f, captions=True)
    assert with_caps.captions is not None and detector.model_calls == 2
    assert with_caps.object_names == first.object_names
    assert detector.detect(f) is with_caps  # DenseCap answers ObjectDet
    detector.detect(g)
    assert detector.detect(f) is not with_caps and detector.model_calls == 4  # evicted (cache of one frame)
    off = gv.SharedDetector(model, grit.load_decoder("tiny"), cache_frames=0)
    off.detect(f)
    off.detect(f)
    assert off.model_calls == 2


def test_options_are_checked() -> None:
    with pytest.raises(InvalidOptions, match="detection_cache_frames"):
        registry.build(
            "vbench_object_class", ScorerConfig(weights="tiny", options={"detection_cache_frames": -1})
        )
    with pytest.raises(InvalidOptions, match="resize_antialias"):
        registry.build("vbench_color", ScorerConfig(weights="tiny", options={"resize_antialias": False}))
    with pytest.raises(ValueError, match="torch backend"):
        registry.build("vbench_color", ScorerConfig(weights="tiny", backend="onnxruntime"))
