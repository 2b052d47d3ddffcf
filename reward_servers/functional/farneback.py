"""Farneback dense optical flow in numpy, following OpenCV's CPU `calcOpticalFlowFarneback` (flags = 0).

Steps per pyramid level k (coarse to fine; levels are dropped while a side would fall below 32 px):
1. both 8-bit frames -> float32 -> Gaussian blur (size round(5 sigma) | 1, at least 3, sigma = (1/scale - 1) / 2;
   sigma 0 means OpenCV's fixed [1/4, 1/2, 1/4] kernel), reflect-101 border -> bilinear resize (half-pixel
   centres, edge clamp; an exact 2x reduction averages 2x2 blocks) to round(size * scale);
2. polynomial expansion (Gaussian-weighted quadratic fit, poly_n, poly_sigma) with replicated borders;
3. the flow of the coarser level is bilinearly enlarged and multiplied by 1 / pyr_scale (zero on the first level);
4. `iterations` times: 15x15 box-filtered (replicated border) normal equations -> new flow, then the matrices are
   recomputed from the new flow (except after the last iteration). The 5 px frame border is down-weighted.
Approximations: the arithmetic follows OpenCV's float32/float64 split, but summation order, SIMD/IPP kernels and
fused multiply-adds are not reproduced, so values differ at float32 rounding level (checked against cv2 4.10).
"""

from __future__ import annotations

import numpy as np

MIN_SIZE = 32
_BORDER_WEIGHTS = np.array([0.14, 0.14, 0.4472, 0.4472, 0.4472], dtype=np.float32)
_SMALL_GAUSSIAN = {
    1: [1.0],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
}


def cv_round(x: float) -> int:
    """cvRound: round half to even."""
    return int(np.rint(x))


def gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """getGaussianKernel(ksize, sigma, CV_32F): fixed small kernels when sigma <= 0, else normalised exp."""
    if sigma <= 0 and ksize in _SMALL_GAUSSIAN:
        return np.array(_SMALL_GAUSSIAN[ksize], dtype=np.float32)
    if sigma <= 0:
        sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    x = np.arange(ksize, dtype=np.float64) - (ksize - 1) * 0.5
    k = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return (k / k.sum()).astype(np.float32)


def _filter_1d(img: np.ndarray, kernel: np.ndarray, axis: int, mode: str) -> np.ndarray:
    """Correlate along one axis with a symmetric float32 kernel, padding with numpy `mode`."""
    r = kernel.shape[0] // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r, r)
    p = np.pad(img, pad, mode=mode)  # type: ignore[call-overload]
    n = img.shape[axis]
    out = np.zeros(img.shape, dtype=np.float32)
    for i, w in enumerate(kernel):
        sl = p[i : i + n] if axis == 0 else p[:, i : i + n]
        out += w * sl
    return out


def gaussian_blur(img: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """GaussianBlur(img, (ksize, ksize), sigma, sigma) on float32 with the default reflect-101 border."""
    k = gaussian_kernel(ksize, sigma)
    return _filter_1d(_filter_1d(img.astype(np.float32, copy=False), k, 1, "reflect"), k, 0, "reflect")


def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR source indices (i0, i1) and weight of i1 for each destination index."""
    scale = src / dst
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    frac = (f - i0.astype(np.float32)).astype(np.float32)
    low = i0 < 0
    frac[low], i0[low] = 0.0, 0
    high = i0 >= src - 1
    frac[high], i0[high] = 0.0, src - 1
    return i0, np.minimum(i0 + 1, src - 1), frac


def resize_linear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """cv2.resize(img, (width, height), INTER_LINEAR) for float32 images with 1 or more channels (H, W[, C])."""
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img.astype(np.float32, copy=True)
    if h == 2 * height and w == 2 * width:  # OpenCV switches to the exact 2x2 area average here
        a = img.astype(np.float32, copy=False)
        return ((a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2]) * np.float32(0.25)).astype(
            np.float32
        )
    x0, x1, fx = _linear_taps(w, width)
    y0, y1, fy = _linear_taps(h, height)
    extra = (1,) * (img.ndim - 2)
    fxb = fx.reshape((1, width) + extra)
    rows = img[:, x0] * (np.float32(1) - fxb) + img[:, x1] * fxb
    fyb = fy.reshape((height, 1) + extra)
    return (rows[y0] * (np.float32(1) - fyb) + rows[y1] * fyb).astype(np.float32)


def _poly_constants(
    n: int, sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float, float]:
    """Gaussian g, x*g, x*x*g (float32, index k+n) and the needed entries of the inverse moment matrix."""
    if sigma < np.finfo(np.float32).eps:
        sigma = n * 0.3
    x = np.arange(-n, n + 1)
    raw = np.exp(-(x * x) / (2.0 * sigma * sigma)).astype(np.float32).astype(np.float64)
    g = (raw * (1.0 / raw.sum())).astype(np.float32)
    xg = (x * g.astype(np.float64)).astype(np.float32)
    xxg = (x * x * g.astype(np.float64)).astype(np.float32)
    gd = g.astype(np.float64)
    gy, gx = np.meshgrid(gd, gd, indexing="ij")
    yy, xx = np.meshgrid(x, x, indexing="ij")
    G = np.zeros((6, 6))
    G[0, 0] = (gy * gx).sum()
    G[1, 1] = (gy * gx * xx * xx).sum()
    G[3, 3] = (gy * gx * xx**4).sum()
    G[5, 5] = (gy * gx * xx * xx * yy * yy).sum()
    G[2, 2] = G[0, 3] = G[0, 4] = G[3, 0] = G[4, 0] = G[1, 1]
    G[4, 4] = G[3, 3]
    G[3, 4] = G[4, 3] = G[5, 5]
    inv = np.linalg.inv(G)
    return g, xg, xxg, float(inv[1, 1]), float(inv[0, 3]), float(inv[3, 3]), float(inv[5, 5])


def poly_expansion(img: np.ndarray, n: int = 5, sigma: float = 1.2) -> np.ndarray:
    """Per-pixel quadratic-fit coefficients (H, W, 5) float32 in OpenCV's channel order.

    Channels: [d/dy, d/dx, y^2, x^2, xy] coefficients (OpenCV stores them as r3, r2, r5, r4, r6 of its fit).
    """
    g, xg, xxg, ig11, ig03, ig33, ig55 = _poly_constants(n, sigma)
    src = img.astype(np.float32, copy=False)
    h, w = src.shape
    p = np.pad(src, ((n, n), (0, 0)), mode="edge")
    # vertical pass in float32, k = 1..n accumulated in order as OpenCV does
    v0 = src * g[n]
    v1 = np.zeros_like(src)
    v2 = np.zeros_like(src)
    for k in range(1, n + 1):
        up, down = p[n - k : n - k + h], p[n + k : n + k + h]
        s = up + down
        v0 = v0 + g[n + k] * s
        v1 = v1 + xg[n + k] * (down - up)
        v2 = v2 + xxg[n + k] * s
    # horizontal pass in float64 on replicated borders
    q0, q1, q2 = (np.pad(v, ((0, 0), (n, n)), mode="edge") for v in (v0, v1, v2))
    b1 = (v0 * g[n]).astype(np.float64)
    b3 = (v1 * g[n]).astype(np.float64)
    b5 = (v2 * g[n]).astype(np.float64)
    b2 = np.zeros((h, w))
    b4 = np.zeros((h, w))
    b6 = np.zeros((h, w))
    for k in range(1, n + 1):
        left, right = slice(n - k, n - k + w), slice(n + k, n + k + w)
        tg = (q0[:, right] + q0[:, left]).astype(np.float64)
        b1 += tg * float(g[n + k])
        b4 += tg * float(xxg[n + k])
        b2 += ((q0[:, right] - q0[:, left]) * xg[n + k]).astype(np.float64)
        b3 += (q1[:, right] + q1[:, left]).astype(np.float64) * float(g[n + k])
        b6 += ((q1[:, right] - q1[:, left]) * xg[n + k]).astype(np.float64)
        b5 += (q2[:, right] + q2[:, left]).astype(np.float64) * float(g[n + k])
    out = np.empty((h, w, 5), dtype=np.float32)
    out[..., 0] = b3 * ig11
    out[..., 1] = b2 * ig11
    out[..., 2] = b1 * ig03 + b5 * ig33
    out[..., 3] = b1 * ig03 + b4 * ig33
    out[..., 4] = b6 * ig55
    return out


def _border_scale(h: int, w: int) -> np.ndarray:
    """Per-pixel weight that fades the outermost 5 rows/columns (1 inside)."""

    def side(n: int) -> np.ndarray:
        s = np.ones(n, dtype=np.float32)
        b = min(5, n)
        s[:b] *= _BORDER_WEIGHTS[:b]
        s[n - b :] *= _BORDER_WEIGHTS[:b][::-1]
        return s

    return side(h)[:, None] * side(w)[None, :]


def update_matrices(r0: np.ndarray, r1: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """The 5 normal-equation terms per pixel (H, W, 5) for the current flow estimate (float32 math)."""
    h, w = flow.shape[:2]
    one = np.float32(1)
    dx, dy = flow[..., 0], flow[..., 1]
    fx = np.arange(w, dtype=np.float32)[None, :] + dx
    fy = np.arange(h, dtype=np.float32)[:, None] + dy
    x1 = np.floor(fx).astype(np.int64)
    y1 = np.floor(fy).astype(np.int64)
    fx = fx - x1.astype(np.float32)
    fy = fy - y1.astype(np.float32)
    inside = (x1 >= 0) & (x1 < w - 1) & (y1 >= 0) & (y1 < h - 1)
    xc, yc = np.clip(x1, 0, w - 2), np.clip(y1, 0, h - 2)
    a00 = ((one - fx) * (one - fy))[..., None]
    a01 = (fx * (one - fy))[..., None]
    a10 = ((one - fx) * fy)[..., None]
    a11 = (fx * fy)[..., None]
    flat = r1.reshape(-1, 5)
    idx = yc * w + xc
    interp = a00 * flat[idx] + a01 * flat[idx + 1] + a10 * flat[idx + w] + a11 * flat[idx + w + 1]
    half, quarter = np.float32(0.5), np.float32(0.25)
    r2 = np.where(inside, interp[..., 0], 0).astype(np.float32)
    r3 = np.where(inside, interp[..., 1], 0).astype(np.float32)
    r4 = np.where(inside, (r0[..., 2] + interp[..., 2]) * half, r0[..., 2])
    r5 = np.where(inside, (r0[..., 3] + interp[..., 3]) * half, r0[..., 3])
    r6 = np.where(inside, (r0[..., 4] + interp[..., 4]) * quarter, r0[..., 4] * half)
    r2 = (r0[..., 0] - r2) * half
    r3 = (r0[..., 1] - r3) * half
    r2 = r2 + r4 * dy + r6 * dx
    r3 = r3 + r6 * dy + r5 * dx
    s = _border_scale(h, w)
    r2, r3, r4, r5, r6 = (a * s for a in (r2, r3, r4, r5, r6))
    m = np.empty((h, w, 5), dtype=np.float32)
    m[..., 0] = r4 * r4 + r6 * r6
    m[..., 1] = (r4 + r5) * r6
    m[..., 2] = r5 * r5 + r6 * r6
    m[..., 3] = r4 * r2 + r6 * r3
    m[..., 4] = r6 * r2 + r5 * r3
    return m


def _box_sum(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sum over a (2 radius + 1) window along axis with replicated borders, float64."""
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius + 1, radius)
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
    n = a.shape[axis]
    c = np.moveaxis(c, axis, 0)
    return np.moveaxis(c[2 * radius + 1 : 2 * radius + 1 + n] - c[:n], 0, axis)


def solve_flow(m: np.ndarray, winsize: int) -> np.ndarray:
    """Flow (H, W, 2) float32 from box-filtered normal equations (OpenCV FarnebackUpdateFlow_Blur)."""
    r = winsize // 2
    s = _box_sum(_box_sum(m.astype(np.float64), r, 0), r, 1) * (1.0 / (winsize * winsize))
    g11, g12, g22, h1, h2 = (s[..., i] for i in range(5))
    idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3)
    flow = np.empty(m.shape[:2] + (2,), dtype=np.float32)
    flow[..., 0] = (g11 * h2 - g12 * h1) * idet
    flow[..., 1] = (g22 * h1 - g12 * h2) * idet
    return flow


def pyramid_plan(height: int, width: int, pyr_scale: float, levels: int) -> list[tuple[float, int, int]]:
    """(scale, height, width) of each level used, coarsest first."""
    scale, k = 1.0, 0
    while k < levels:
        scale *= pyr_scale
        if width * scale < MIN_SIZE or height * scale < MIN_SIZE:
            break
        k += 1
    plan = []
    for level in range(k, -1, -1):
        s = 1.0
        for _ in range(level):  # repeated products, as OpenCV computes the level scale
            s *= pyr_scale
        plan.append((s, cv_round(height * s), cv_round(width * s)))
    return plan


def level_expansions(
    gray: np.ndarray, plan: list[tuple[float, int, int]], poly_n: int = 5, poly_sigma: float = 1.2
) -> list[np.ndarray]:
    """Polynomial expansion of one uint8 frame at every planned level (reusable across frame pairs)."""
    f = gray.astype(np.float32)
    out = []
    for scale, h, w in plan:
        sigma = (1.0 / scale - 1.0) * 0.5
        size = max(cv_round(sigma * 5) | 1, 3)
        out.append(poly_expansion(resize_linear(gaussian_blur(f, size, sigma), h, w), poly_n, poly_sigma))
    return out


def farneback_from_expansions(
    prev: list[np.ndarray],
    nxt: list[np.ndarray],
    plan: list[tuple[float, int, int]],
    *,
    pyr_scale: float = 0.5,
    winsize: int = 15,
    iterations: int = 3,
) -> np.ndarray:
    """Flow (H, W, 2) float32 from the per-level expansions of two frames."""
    flow: np.ndarray | None = None
    for (_, h, w), r0, r1 in zip(plan, prev, nxt, strict=True):
        if flow is None:
            flow = np.zeros((h, w, 2), dtype=np.float32)
        else:
            flow = (resize_linear(flow, h, w) * np.float32(1.0 / pyr_scale)).astype(np.float32)
        m = update_matrices(r0, r1, flow)
        for i in range(iterations):
            flow = solve_flow(m, winsize)
            if i < iterations - 1:
                m = update_matrices(r0, r1, flow)
    assert flow is not None
    return flow


def farneback_flow(
    prev: np.ndarray,
    nxt: np.ndarray,
    pyr_scale: float = 0.5,
    levels: int = 3,
    winsize: int = 15,
    iterations: int = 3,
    poly_n: int = 5,
    poly_sigma: float = 1.2,
) -> np.ndarray:
    """cv2.calcOpticalFlowFarneback(prev, next, None, pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, 0)."""
    if prev.shape != nxt.shape or prev.ndim != 2:
        raise ValueError(f"need two grayscale frames of one size, got {prev.shape} and {nxt.shape}")
    if not 0 < pyr_scale < 1:
        raise ValueError("pyr_scale must be in (0, 1)")
    plan = pyramid_plan(prev.shape[0], prev.shape[1], pyr_scale, levels)
    return farneback_from_expansions(
        level_expansions(prev, plan, poly_n, poly_sigma),
        level_expansions(nxt, plan, poly_n, poly_sigma),
        plan,
        pyr_scale=pyr_scale,
        winsize=winsize,
        iterations=iterations,
    )
