"""Optical-flow building blocks (functional/optical_flow.py) against independent numpy references."""

from __future__ import annotations

import numpy as np
import torch

from omninft.reward_servers.functional import optical_flow as of


def _bilinear_zeros(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Bilinear sample of a (C, H, W) image at pixel (x, y); taps outside the image contribute zero."""
    c, h, w = img.shape
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    out = np.zeros(c)
    for yy, xx, wgt in (
        (y0, x0, (x0 + 1 - x) * (y0 + 1 - y)),
        (y0, x0 + 1, (x - x0) * (y0 + 1 - y)),
        (y0 + 1, x0, (x0 + 1 - x) * (y - y0)),
        (y0 + 1, x0 + 1, (x - x0) * (y - y0)),
    ):
        if 0 <= yy < h and 0 <= xx < w:
            out += wgt * img[:, yy, xx]
    return out


def _bilinear_border(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Bilinear sample with the coordinate clamped into the image (grid_sample's border padding)."""
    c, h, w = img.shape
    return _bilinear_zeros(img, min(max(x, 0.0), w - 1), min(max(y, 0.0), h - 1))


def test_coords_grid():
    g = of.coords_grid(2, 3, 4)
    assert g.shape == (2, 2, 3, 4) and g.dtype == torch.float32
    assert g[1, 0, 2, 3] == 3 and g[1, 1, 2, 3] == 2  # channel 0 = x, channel 1 = y


def test_all_pairs_correlation_matches_einsum():
    rng = np.random.default_rng(0)
    f1 = rng.standard_normal((2, 6, 3, 4)).astype(np.float32)
    f2 = rng.standard_normal((2, 6, 3, 4)).astype(np.float32)
    corr = of.all_pairs_correlation(torch.from_numpy(f1), torch.from_numpy(f2)).numpy()
    ref = np.einsum("bcij,bckl->bijkl", f1.astype(np.float64), f2.astype(np.float64)) / np.sqrt(6)
    assert corr.shape == (2, 3, 4, 1, 3, 4)
    np.testing.assert_allclose(corr[:, :, :, 0], ref, rtol=1e-5, atol=1e-5)


def test_pyramid_is_2x2_average_pooling_of_the_second_image_side():
    rng = np.random.default_rng(1)
    corr = rng.standard_normal((1, 2, 3, 1, 8, 12)).astype(np.float32)
    pyr = of.correlation_pyramid(torch.from_numpy(corr), 3)
    assert [tuple(p.shape) for p in pyr] == [(6, 1, 8, 12), (6, 1, 4, 6), (6, 1, 2, 3)]
    lvl1 = corr.reshape(6, 1, 8, 12).reshape(6, 1, 4, 2, 6, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(pyr[1].numpy(), lvl1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        pyr[2].numpy(), lvl1.reshape(6, 1, 2, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-5, atol=1e-6
    )


def test_transposed_correlation_swaps_the_images():
    rng = np.random.default_rng(2)
    f1 = torch.from_numpy(rng.standard_normal((1, 5, 2, 3)).astype(np.float32))
    f2 = torch.from_numpy(rng.standard_normal((1, 5, 2, 3)).astype(np.float32))
    t = of.transposed_correlation(of.all_pairs_correlation(f1, f2))
    torch.testing.assert_close(t, of.all_pairs_correlation(f2, f1), rtol=1e-5, atol=1e-6)


def test_bilinear_sample_pixels_matches_numpy_with_zero_outside():
    rng = np.random.default_rng(3)
    img = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
    pts = np.array(
        [[0.0, 0.0], [6.0, 4.0], [2.3, 1.7], [-0.5, 2.0], [6.5, 3.2], [3.0, -1.2], [10.0, 2.0]],
        dtype=np.float32,
    )
    out = of.bilinear_sample_pixels(torch.from_numpy(img), torch.from_numpy(pts).view(1, 1, -1, 2))
    for k, (x, y) in enumerate(pts):
        np.testing.assert_allclose(out[0, :, 0, k].numpy(), _bilinear_zeros(img[0], x, y), atol=1e-5)


def test_window_offsets_move_x_along_the_first_axis():
    d = of.window_offsets(2)
    assert d.shape == (5, 5, 2)
    assert d[0, 4].tolist() == [-2.0, 2.0] and d[4, 0].tolist() == [2.0, -2.0]


def test_lookup_pyramid_matches_numpy_windows():
    rng = np.random.default_rng(4)
    b, h, w, r, levels = 1, 4, 6, 1, 2
    f1 = torch.from_numpy(rng.standard_normal((b, 3, h, w)).astype(np.float32))
    f2 = torch.from_numpy(rng.standard_normal((b, 3, h, w)).astype(np.float32))
    pyr = of.correlation_pyramid(of.all_pairs_correlation(f1, f2), levels)
    coords = of.coords_grid(b, h, w) + torch.from_numpy(
        rng.uniform(-1.5, 1.5, (b, 2, h, w)).astype(np.float32)
    )
    out = of.lookup_pyramid(pyr, coords, r).numpy()
    k = 2 * r + 1
    assert out.shape == (b, levels * k * k, h, w)
    for i in range(h):
        for j in range(w):
            x, y = coords[0, :, i, j].tolist()
            feats = []
            for lvl in range(levels):
                vol = pyr[lvl][i * w + j].numpy()  # (1, H2, W2)
                for a in range(k):  # first window axis shifts x, second shifts y (reference order)
                    for bb in range(k):
                        feats.append(_bilinear_zeros(vol, x / 2**lvl + a - r, y / 2**lvl + bb - r)[0])
            np.testing.assert_allclose(out[0, :, i, j], feats, atol=1e-5)


def test_convex_upsample_matches_numpy_loops():
    rng = np.random.default_rng(5)
    n, h, w, f = 1, 3, 4, 2
    flow = rng.standard_normal((n, 2, h, w)).astype(np.float32)
    mask = rng.standard_normal((n, 9 * f * f, h, w)).astype(np.float32)
    out = of.convex_upsample(torch.from_numpy(flow), torch.from_numpy(mask), factor=f).numpy()
    assert out.shape == (n, 2, f * h, f * w)
    m = mask.reshape(n, 9, f, f, h, w).astype(np.float64)
    padded = np.pad(f * flow.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    for i in range(h):
        for j in range(w):
            for di in range(f):
                for dj in range(f):
                    logits = m[0, :, di, dj, i, j]
                    wts = np.exp(logits - logits.max())
                    wts /= wts.sum()
                    neigh = np.stack([padded[0, :, i + a, j + b] for a in range(3) for b in range(3)], axis=1)
                    np.testing.assert_allclose(
                        out[0, :, f * i + di, f * j + dj], neigh @ wts, rtol=1e-5, atol=1e-5
                    )


def test_convex_upsample_of_a_constant_flow_is_scaled_constant_inside():
    flow = torch.full((1, 2, 4, 5), 1.5)
    up = of.convex_upsample(flow, torch.randn(1, 9 * 64, 4, 5))
    assert up.shape == (1, 2, 32, 40)
    torch.testing.assert_close(up[:, :, 8:24, 8:32], torch.full((1, 2, 16, 24), 12.0))


def test_backward_warp_matches_numpy_border_sampling():
    rng = np.random.default_rng(6)
    img = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    flow = rng.uniform(-3, 3, (1, 2, 5, 6)).astype(np.float32)
    out = of.backward_warp(torch.from_numpy(img), torch.from_numpy(flow)).numpy()
    for i in range(5):
        for j in range(6):
            ref = _bilinear_border(img[0], j + flow[0, 0, i, j], i + flow[0, 1, i, j])
            np.testing.assert_allclose(out[0, :, i, j], ref, atol=1e-5)
    zero = of.backward_warp(torch.from_numpy(img), torch.zeros(1, 2, 5, 6))
    torch.testing.assert_close(zero, torch.from_numpy(img), atol=1e-6, rtol=0)
