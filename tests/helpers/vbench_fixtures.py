"""TEST FIXTURES standing in for the VBench scorers (which are built elsewhere): each `fixture_*` function computes
a simple real quantity from the decoded video (mean-colour cosines, frame differences, brightness) and returns it
in the VBench scorer contract's shape, so the runner can be tested end to end over real gRPC. They are not VBench.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from omninft_client.testing import FakeRewardServer, FakeSample


def decode(sample: FakeSample) -> np.ndarray:
    """All frames of the sample's container bytes as uint8 T x H x W x 3 (ValueError when undecodable/empty)."""
    import av

    if sample.frames is not None:  # already decoded (the served plugin of tests/helpers/vbench_plugin.py)
        return np.asarray(sample.frames)
    if sample.video_bytes is None:
        raise ValueError("fixture scorers need the video as container bytes")
    try:
        with av.open(io.BytesIO(sample.video_bytes)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except Exception as err:  # noqa: BLE001 - any decoder failure is a bad sample
        raise ValueError(f"cannot decode the video: {err}") from None
    if not frames:
        raise ValueError("the video has no frames")
    return np.stack(frames)


def middle_indices(num: int, vlen: int) -> list[int]:
    """The reference's 'middle' frame index rule, padded with the last index when vlen < num."""
    n = min(num, vlen)
    edges = np.linspace(0, vlen, n + 1).astype(int)
    idx = [int((edges[k] + edges[k + 1] - 1) // 2) for k in range(n)]
    return idx + [idx[-1]] * (num - n)


def _feat(frames: np.ndarray) -> np.ndarray:
    f = frames.reshape(frames.shape[0], -1, 3).mean(axis=1, dtype=np.float64) + 1.0
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def fixture_consistency(s: FakeSample) -> dict[str, float]:
    """Mean-colour cosine to the previous and the first frame, the consistency formula's sums."""
    f = _feat(decode(s))
    if len(f) < 2:
        raise ValueError("no frame pair (1-frame video)")
    sim = 0.0
    for t in range(1, len(f)):
        sim += (max(0.0, float(f[t - 1] @ f[t])) + max(0.0, float(f[0] @ f[t]))) / 2
    return {"video_sim": sim, "cnt_per_video": float(len(f) - 1)}


def fixture_flicker(s: FakeSample) -> dict[str, float]:
    """(255 − mean MAE of consecutive frames)/255."""
    x = decode(s).astype(np.float32)
    if len(x) < 2:
        raise ValueError("no frame pair")
    return {"video_results": (255.0 - float(np.mean(np.abs(x[1:] - x[:-1])))) / 255.0}


def fixture_smoothness(s: FakeSample) -> dict[str, float]:
    """1 − mean |average of even neighbours − odd frame| / 255."""
    x = decode(s).astype(np.float64)
    if len(x) < 3:
        raise ValueError(f"too short: {len(x)} frames, interpolation needs 3")
    mids = (x[0:-2:2] + x[2::2]) / 2
    return {"video_results": 1.0 - float(np.mean(np.abs(mids - x[1 : 1 + 2 * len(mids) : 2]))) / 255.0}


def fixture_dynamic(s: FakeSample) -> dict[str, float]:
    """1.0 when consecutive frames differ by more than 0.5 grey level on average."""
    x = decode(s).astype(np.float32)
    if len(x) < 2:
        raise ValueError("no frame pair")
    return {"video_results": float(np.mean(np.abs(x[1:] - x[:-1])) > 0.5)}


def fixture_brightness(s: FakeSample) -> dict[str, float]:
    """Mean brightness in [0, 1]."""
    return {"video_results": float(decode(s).mean(dtype=np.float64) / 255.0)}


def fixture_contrast_mos(s: FakeSample) -> dict[str, float]:
    """A 0-100 'MOS': pixel standard deviation / 1.28."""
    return {"video_results": float(decode(s).std(dtype=np.float64) / 1.28)}


def _sixteen(s: FakeSample) -> np.ndarray:
    x = decode(s)
    return x[middle_indices(16, len(x))]


def fixture_bright_frames(s: FakeSample) -> dict[str, float]:
    """Frames (of 16) with a pixel brighter than 200."""
    x = _sixteen(s)
    return {"success_frame_count": float(sum(int(f.max() > 200) for f in x)), "frame_count": float(len(x))}


def fixture_action(s: FakeSample) -> dict[str, float]:
    """Correct iff the parsed label is 'juggling balls' and the video moves."""
    return {
        "video_results": float(s.prompt == "juggling balls" and fixture_dynamic(s)["video_results"] == 1.0)
    }


def fixture_color(s: FakeSample) -> dict[str, float]:
    """Object frames: a saturated pixel; colour frames: the named channel dominates the saturated pixels."""
    cond = json.loads(s.prompt)
    channel = {"red": 0, "green": 1, "blue": 2}.get(cond["color"], 0)
    objects = colors = 0
    for f in _sixteen(s).astype(np.int32):
        sat = f.max(axis=2) - f.min(axis=2) > 100
        if not sat.any():
            continue
        objects += 1
        colors += int(np.argmax(f[sat].mean(axis=0)) == channel)
    return {"object_frame_count": float(objects), "color_frame_count": float(colors)}


def fixture_frame_brightness16(s: FakeSample) -> dict[str, np.ndarray]:
    """Per sampled frame (16): the fraction of pixels brighter than 128."""
    return {"frame_results": np.array([float((f.max(axis=2) > 128).mean()) for f in _sixteen(s)], np.float64)}


def fixture_frame_brightness(s: FakeSample) -> dict[str, np.ndarray]:
    """Per frame: mean brightness / 1000 (an appearance-style-sized number)."""
    x = decode(s)
    return {"frame_results": x.reshape(len(x), -1).mean(axis=1, dtype=np.float64) / 1000}


def fixture_text_colour(s: FakeSample) -> dict[str, float]:
    """Cosine between the mean colour and a colour named in the prompt (grey when none)."""
    names = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1)}
    target = np.array(next((v for k, v in names.items() if k in s.prompt.lower()), (1, 1, 1)), np.float64)
    f = decode(s).reshape(-1, 3).mean(axis=0, dtype=np.float64)
    return {"video_results": float(f @ target / (np.linalg.norm(f) * np.linalg.norm(target) + 1e-9))}


def fixture_static_filter(s: FakeSample) -> dict[str, np.ndarray]:
    """pair_scores: mean of the top 2 % absolute grey differences per pair (consecutive, first→last, last→first)."""
    x = decode(s).astype(np.float64).mean(axis=3)
    n, h, w = x.shape
    pairs = [(i, i + 1) for i in range(n - 1)] + [(0, n - 1), (n - 1, 0)]
    k = max(1, int(h * w * 0.02))
    scores = [float(np.sort(np.abs(x[b] - x[a]).ravel())[::-1][:k].mean()) for a, b in pairs]
    return {"pair_scores": np.array(scores, np.float64), "frame_shape": np.array([n, h, w], np.float64)}


SCORE_FIXTURES: dict[str, Callable[[FakeSample], Mapping[str, float]]] = {
    "vbench_subject_consistency": fixture_consistency,
    "vbench_background_consistency": fixture_consistency,
    "vbench_temporal_flickering": fixture_flicker,
    "vbench_motion_smoothness": fixture_smoothness,
    "vbench_dynamic_degree": fixture_dynamic,
    "vbench_aesthetic_quality": fixture_brightness,
    "vbench_imaging_quality": fixture_contrast_mos,
    "vbench_object_class": fixture_bright_frames,
    "vbench_multiple_objects": fixture_bright_frames,
    "vbench_scene": fixture_bright_frames,
    "vbench_human_action": fixture_action,
    "vbench_color": fixture_color,
    "vbench_temporal_style": fixture_text_colour,
    "vbench_overall_consistency": fixture_text_colour,
}
EMBED_FIXTURES: dict[str, Callable[[FakeSample], Mapping[str, np.ndarray]]] = {
    "vbench_spatial_relationship": fixture_frame_brightness16,
    "vbench_appearance_style": fixture_frame_brightness,
    "vbench_static_filter": fixture_static_filter,
}


def on_the_wire(
    scorer: str, fn: Callable[[FakeSample], Mapping[str, float]]
) -> Callable[[FakeSample], dict[str, float]]:
    """A fixture whose output names carry the dimension prefix of the contract ("<dimension>_<field>")."""
    prefix = scorer.removeprefix("vbench_") + "_"

    def scored(s: FakeSample) -> dict[str, float]:
        return {prefix + k: v for k, v in fn(s).items()}

    return scored


def fixture_server(**kw: Any) -> FakeRewardServer:
    """A FakeRewardServer hosting every fixture under the contract's scorer names and outputs."""
    from omninft.bench.suites.vbench.dimensions import DIMENSIONS

    outputs = {d.scorer: d.wire_outputs for d in DIMENSIONS.values() if d.rpc == "score"}
    names = {d.scorer: d.wire_outputs for d in DIMENSIONS.values() if d.rpc == "embed"}
    names["vbench_static_filter"] = ("pair_scores", "frame_shape")
    scorers = {k: on_the_wire(k, fn) for k, fn in SCORE_FIXTURES.items()}
    return FakeRewardServer(
        scorers, embedders=dict(EMBED_FIXTURES), outputs=outputs, embedding_names=names, **kw
    )
