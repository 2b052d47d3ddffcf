"""functional.sampling (JavisBench frame indices) and functional.similarity (torch eps conventions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional.sampling import javisbench_frame_indices, take_frames
from omninft.reward_servers.functional.similarity import cosine_similarity, l2_normalize


@pytest.mark.parametrize(
    ("t", "n", "expected"),
    [
        (48, 48, list(range(48))),
        (3, 4, [0, 1, 1, 2]),  # 0, .67, 1.33, 2
        (2, 3, [0, 0, 1]),  # 0.5 rounds half to even -> 0
        (4, 3, [0, 2, 3]),  # 1.5 -> 2
        (6, 3, [0, 2, 5]),  # 2.5 -> 2
        (1, 5, [0, 0, 0, 0, 0]),
        (65, 4, [0, 21, 43, 64]),
    ],
)
def test_javisbench_indices_hand_cases(t, n, expected):
    idx = javisbench_frame_indices(t, n)
    assert idx.dtype == np.int64
    assert idx.tolist() == expected


def test_javisbench_indices_cover_whole_clip():
    for t in (10, 47, 49, 65, 102, 121, 1000):
        idx = javisbench_frame_indices(t, 48)
        assert idx[0] == 0 and idx[-1] == t - 1 and len(idx) == 48
        assert np.all(np.diff(idx) >= 0)
        # same as float32 torch.linspace(...).round() by construction; float64 numpy agrees on these lengths
        np.testing.assert_array_equal(idx, np.round(np.linspace(0, t - 1, 48)).astype(np.int64))


def test_javisbench_indices_reject_empty():
    with pytest.raises(ValueError):
        javisbench_frame_indices(0, 48)
    with pytest.raises(ValueError):
        javisbench_frame_indices(10, 0)


def test_take_frames():
    frames = np.arange(5)[:, None]
    np.testing.assert_array_equal(take_frames(frames, np.array([0, 0, 4])), [[0], [0], [4]])
    with pytest.raises(IndexError):
        take_frames(frames, np.array([5]))


def test_cosine_similarity_matches_torch():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 9)).astype(np.float32)
    b = rng.standard_normal((6, 9)).astype(np.float32)
    a[0] = 0.0
    b[1] = 1e-9
    for eps in (1e-8, 1e-6):
        ref = torch.nn.functional.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b), dim=1, eps=eps)
        np.testing.assert_allclose(cosine_similarity(a, b, eps=eps), ref.numpy(), atol=1e-6)
    # broadcasting: one text vector against many frames
    np.testing.assert_allclose(cosine_similarity(a, b[2]), [cosine_similarity(r, b[2]) for r in a])


def test_l2_normalize_matches_torch():
    x = np.random.default_rng(1).standard_normal((4, 7)).astype(np.float32)
    x[0] = 0.0
    ref = torch.nn.functional.normalize(torch.from_numpy(x), dim=-1).numpy()
    out = l2_normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-7)
