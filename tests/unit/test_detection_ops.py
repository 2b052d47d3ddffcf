"""Box coder, NMS, ROIAlign and level assignment against hand-computed cases and plain numpy loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional.detection_ops import (
    DEFAULT_SCALE_CLAMP,
    apply_deltas,
    assign_levels,
    batched_nms,
    clip_boxes,
    get_deltas,
    multilevel_roi_align,
    nms,
    roi_align,
)

# ----------------------------------------------------------------------------------------------- box coder


def test_apply_deltas_hand_computed():
    box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # w 20, h 40, centre (20, 40)
    # weights (10, 10, 5, 5): dx = 1/10, dy = -2/10, dw = log 2 / 5 * 5, dh = 0
    deltas = torch.tensor([[1.0, -2.0, 5 * math.log(2.0), 0.0]])
    out = apply_deltas(deltas, box, (10.0, 10.0, 5.0, 5.0))
    # centre x 20 + 0.1 * 20 = 22, width 40; centre y 40 - 0.2 * 40 = 32, height 40
    assert torch.allclose(out, torch.tensor([[2.0, 12.0, 42.0, 52.0]]), atol=1e-5)


def test_apply_deltas_zero_is_identity_and_clamp():
    box = torch.tensor([[0.0, 0.0, 16.0, 8.0]])
    assert torch.allclose(apply_deltas(torch.zeros(1, 4), box, (1.0, 1.0, 1.0, 1.0)), box)
    huge = apply_deltas(torch.tensor([[0.0, 0.0, 100.0, 100.0]]), box, (1.0, 1.0, 1.0, 1.0))
    # clamped at log(1000/16): width 16 -> 1000, height 8 -> 500, centre (8, 4) kept
    assert torch.allclose(huge, torch.tensor([[8 - 500.0, 4 - 250.0, 8 + 500.0, 4 + 250.0]]), atol=1e-3)
    assert math.isclose(DEFAULT_SCALE_CLAMP, math.log(62.5))


def test_get_deltas_hand_computed_and_round_trip():
    src = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    tgt = torch.tensor([[5.0, 0.0, 25.0, 10.0]])  # centre +10 in x, width x2
    d = get_deltas(src, tgt, (20.0, 20.0, 10.0, 10.0))
    assert torch.allclose(d, torch.tensor([[20.0, 0.0, 10 * math.log(2.0), 0.0]]), atol=1e-5)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (50, 2))
    wh = rng.uniform(1, 50, (50, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
    deltas = torch.tensor(rng.normal(0, 1, (50, 4)), dtype=torch.float32)
    w = (30.0, 30.0, 15.0, 15.0)
    assert torch.allclose(get_deltas(boxes, apply_deltas(deltas, boxes, w), w), deltas, atol=1e-3)


def test_clip_boxes():
    b = torch.tensor([[-5.0, 3.0, 120.0, 90.0]])
    assert clip_boxes(b, height=50, width=100).tolist() == [[0.0, 3.0, 100.0, 50.0]]


# ----------------------------------------------------------------------------------------------------- NMS


def _np_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            xx1, yy1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx2, yy2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            ai = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            aj = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (ai + aj - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("thr", [0.3, 0.5, 0.9])
def test_nms_matches_brute_force(thr):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 60, (200, 2))
    wh = rng.uniform(5, 40, (200, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(200).astype(np.float32) / 200  # distinct scores
    keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr)
    assert keep.tolist() == _np_nms(boxes.astype(np.float64), scores, thr)


def test_nms_hand_computed_threshold_is_strict():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # IoU(0, 1) = 50 / 100 = 0.5: kept at threshold 0.5 (strict >), dropped at 0.49
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.49).tolist() == [0, 2]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


def test_batched_nms_is_per_label_and_sorted():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    scores = torch.tensor([0.5, 0.9, 0.7])
    labels = torch.tensor([0, 0, 1])
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == [1, 2]


# ------------------------------------------------------------------------------------------------ ROIAlign


def _np_bilinear(f: np.ndarray, y: float, x: float) -> np.ndarray:
    h, w = f.shape[1:]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(f.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * f[:, y0, x0]
        + (1 - ly) * lx * f[:, y0, x1]
        + ly * (1 - lx) * f[:, y1, x0]
        + ly * lx * f[:, y1, x1]
    )


def _np_roi_align(
    f: np.ndarray, box: np.ndarray, out: int, scale: float, ratio: int, aligned: bool
) -> np.ndarray:
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = box * scale - off
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    gh = ratio if ratio > 0 else math.ceil(rh / out)
    gw = ratio if ratio > 0 else math.ceil(rw / out)
    res = np.zeros((f.shape[0], out, out))
    for py in range(out):
        for px in range(out):
            acc = np.zeros(f.shape[0])
            for iy in range(gh):
                y = y1 + py * rh / out + (iy + 0.5) * rh / out / gh
                for ix in range(gw):
                    x = x1 + px * rw / out + (ix + 0.5) * rw / out / gw
                    acc += _np_bilinear(f, y, x)
            res[:, py, px] = acc / max(gh * gw, 1)
    return res


@pytest.mark.parametrize("ratio,aligned", [(0, True), (2, True), (0, False)])
def test_roi_align_matches_numpy_loops(ratio, aligned):
    rng = np.random.default_rng(2)
    feat = rng.normal(size=(2, 3, 11, 13)).astype(np.float32)
    boxes = np.array(
        [
            [0, 3.0, 5.0, 40.0, 30.0],
            [1, -6.0, -4.0, 20.0, 12.0],
            [0, 80.0, 70.0, 110.0, 100.0],
            [1, 10.0, 10.0, 10.5, 60.0],
            [0, 0.0, 0.0, 104.0, 88.0],
            [1, 50.0, 2.0, 51.0, 3.0],
        ],
        dtype=np.float32,
    )
    got = roi_align(torch.from_numpy(feat), torch.from_numpy(boxes), 4, 1 / 8, ratio, aligned).numpy()
    for k, row in enumerate(boxes):
        ref = _np_roi_align(
            feat[int(row[0])].astype(np.float64), row[1:].astype(np.float64), 4, 1 / 8, ratio, aligned
        )
        np.testing.assert_allclose(got[k], ref, atol=1e-5, err_msg=f"roi {k}")


def test_roi_align_hand_computed_constant_and_ramp():
    # a ramp f[y, x] = x: aligned ROIAlign of a box [0, 0, 8, 8] at scale 1 into 1 bin averages sample x's
    feat = torch.arange(16, dtype=torch.float32).repeat(16, 1)[None, None]
    out = roi_align(feat, torch.tensor([[0.0, 0.0, 0.0, 8.0, 8.0]]), 1, 1.0, 0, True)
    # box shifted by -0.5 -> [-0.5, 7.5], 8 samples at -0.5+0.5..: 0, 1, ..., 7 (first clamps from 0) -> mean 3.5
    assert out.item() == pytest.approx(3.5)
    assert roi_align(feat, torch.zeros(0, 5), 7, 1.0).shape == (0, 1, 7, 7)


def test_assign_levels_canonical_rule():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 224.0, 224.0],
            [0.0, 0.0, 111.0, 111.0],
            [0.0, 0.0, 112.0, 112.0],
            [0.0, 0.0, 900.0, 900.0],
            [0.0, 0.0, 2.0, 2.0],
        ]
    )
    # 224 -> level 4; 111 -> floor(4 + log2(0.4955)) = 2 -> clamped to 3; 112 -> 3; 900 -> 6 -> 5; tiny -> 3
    assert assign_levels(boxes, 3, 5).tolist() == [1, 0, 0, 2, 0]


def test_multilevel_roi_align_routes_each_box_to_its_level():
    rng = np.random.default_rng(3)
    feats = [
        torch.from_numpy(rng.normal(size=(1, 2, 64 // s, 64 // s)).astype(np.float32)) for s in (8, 16, 32)
    ]
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0], [0.0, 0.0, 300.0, 250.0], [2.0, 3.0, 600.0, 500.0]])
    got = multilevel_roi_align(feats, boxes, 7, (1 / 8, 1 / 16, 1 / 32))
    for k, lvl in enumerate([0, 1, 2]):
        want = roi_align(
            feats[lvl], torch.cat([torch.zeros(1, 1), boxes[k : k + 1]], 1), 7, (1 / 8, 1 / 16, 1 / 32)[lvl]
        )
        assert torch.equal(got[k : k + 1], want)
