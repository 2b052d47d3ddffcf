"""The served VBench Quality scorers (scorers/vbench_{motion,consistency,aesthetic,imaging}.py) on tiny weights:
each equals an independent computation of its dimension on generated frames, follows the runner's contract
(wire names, counts, per-video errors), and shares its model with the other scorers of one server.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from omninft.bench.suites.vbench.dimensions import DIMENSIONS, QUALITY_LIST, STATIC_FILTER_SCORER
from omninft.reward_servers.functional import vbench_motion as vm
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import amt, raft
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers._shared import sharing
from omninft.reward_servers.scorers.base import InvalidSample, ScorerConfig
from omninft.reward_servers.scorers.spec import InvalidOptions
from tests.helpers.flow_frames import texture

QUALITY_SCORERS = tuple(f"vbench_{d}" for d in QUALITY_LIST)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add contention on the shared CI cores
    yield
    torch.set_num_threads(before)


def _clip(t: int, h: int, w: int, step: int = 3) -> np.ndarray:
    """t frames of a texture drifting `step` px right per frame, uint8 (T, H, W, 3)."""
    base = texture(h, w + step * t)
    return np.stack(
        [base[0, :, :, step * k : step * k + w].permute(1, 2, 0).numpy() for k in range(t)]
    ).astype(np.uint8)


def _sample(frames: np.ndarray, fps: float = 8.0, sid: str = "v") -> DecodedSample:
    return DecodedSample(id=sid, prompt="a drifting texture", video=DecodedVideo(frames, fps=fps))


def _score(scorer, sample: DecodedSample) -> dict[str, float]:
    out = scorer.forward([scorer.preprocess(sample)])[0]
    if isinstance(out, Exception):
        raise out
    res = scorer.postprocess(out)
    return res.embeddings if scorer.info.embeddings else res.scores


def _build(name: str, **options) -> object:
    return registry.build(name, ScorerConfig(weights="tiny", options=options))


def test_outputs_follow_the_runner_contract() -> None:
    for name in QUALITY_SCORERS:
        dim = DIMENSIONS[name.removeprefix("vbench_")]
        spec = registry.spec(name)
        assert dim.scorer == name and set(dim.wire_outputs) <= set(spec.outputs), name
        assert spec.modalities == ("video",)
    assert registry.spec(STATIC_FILTER_SCORER).embeddings == ("pair_scores", "frame_shape")


def test_temporal_flickering_is_the_mae_formula() -> None:
    frames = np.random.default_rng(3).integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)
    got = _score(_build("vbench_temporal_flickering"), _sample(frames))
    x = frames.astype(np.float64)
    mae = [np.abs(x[t + 1] - x[t]).mean() for t in range(4)]
    assert got["temporal_flickering_video_results"] == pytest.approx((255 - np.mean(mae)) / 255, rel=1e-6)
    with pytest.raises(InvalidSample, match="at least 2 frames"):
        _build("vbench_temporal_flickering").preprocess(_sample(frames[:1]))


@pytest.fixture(scope="module")
def raft_scorers() -> tuple[object, object]:
    with sharing():
        dyn = _build("vbench_dynamic_degree")
        static = _build(STATIC_FILTER_SCORER)
    return dyn, static


def test_raft_loads_once_for_dynamic_degree_and_the_static_filter(raft_scorers) -> None:
    dyn, static = raft_scorers
    assert dyn.compute.__closure__ is not None and static.compute.__closure__ is not None
    models = [
        {id(c.cell_contents) for c in s.compute.__closure__ if isinstance(c.cell_contents, torch.nn.Module)}
        for s in (dyn, static)
    ]
    assert models[0] == models[1] and len(models[0]) == 1
    assert dyn.info.weights == static.info.weights and dyn.info.weights.tiny


def test_dynamic_degree_matches_the_per_video_rule(raft_scorers) -> None:
    dyn, _ = raft_scorers
    model = raft.load("tiny", seed=0)[0]
    frames = _clip(6, 128, 136)
    for fps in (8.0, 16.0):
        got = _score(dyn, _sample(frames, fps))["dynamic_degree_video_results"]
        assert got == (1.0 if raft.dynamic_degree_video(model, frames, fps).decision else 0.0)
    # One frame: no pair, not dynamic (the reference's rule), not an error.
    assert _score(dyn, _sample(frames[:1]))["dynamic_degree_video_results"] == 0.0


def test_static_filter_returns_every_pair_and_the_shape(raft_scorers) -> None:
    _, static = raft_scorers
    model = raft.load("tiny", seed=0)[0]
    frames = _clip(4, 128, 128)
    got = _score(static, _sample(frames))
    want = [
        raft.pair_score(model, frames, i, j, vm.STATIC_TOP_FRACTION) for i, j in vm.static_filter_pairs(4)
    ]
    assert got["pair_scores"].dtype == np.float64 and got["pair_scores"].tolist() == want  # N+1 = 5 values
    assert got["frame_shape"].tolist() == [4.0, 128.0, 128.0]


def test_frames_too_small_for_the_pyramid_are_edge_padded(raft_scorers) -> None:
    """Under 121 px RAFT's coarsest correlation level is 1 px and its flow NaN: the scorers pad (edge, centred)
    to 128 px first; thresholds and the reported shape stay those of the original frames."""
    dyn, static = raft_scorers
    model = raft.load("tiny", seed=0)[0]
    frames = _clip(3, 96, 130)
    padded = np.pad(frames, ((0, 0), (16, 16), (0, 0), (0, 0)), mode="edge")
    assert np.isnan(raft.pair_score(model, frames, 0, 1, vm.STATIC_TOP_FRACTION))  # why the padding exists
    got = _score(static, _sample(frames))
    want = [
        raft.pair_score(model, padded, i, j, vm.STATIC_TOP_FRACTION) for i, j in vm.static_filter_pairs(3)
    ]
    assert got["pair_scores"].tolist() == want and got["frame_shape"].tolist() == [3.0, 96.0, 130.0]
    th = vm.dynamic_thresholds(96, 130, 3)
    dyn_want = vm.is_dynamic(
        [raft.pair_score(model, padded, k, k + 1, vm.DYNAMIC_TOP_FRACTION) for k in range(2)], th
    )
    assert _score(dyn, _sample(frames))["dynamic_degree_video_results"] == float(dyn_want)


def test_motion_smoothness_matches_amt_and_records_the_scale() -> None:
    model = amt.load("tiny", seed=0)[0]
    frames = _clip(5, 128, 128)
    got = _score(_build("vbench_motion_smoothness"), _sample(frames))
    want = amt.motion_smoothness_video(model, frames, scale=1.0)
    assert got == {"motion_smoothness_video_results": want.score, "motion_smoothness_scale": 1.0}
    # "auto" is the reference's rule; on a CPU it keeps 1.0 for small frames.
    assert (
        _score(_build("vbench_motion_smoothness", scale="auto"), _sample(frames))["motion_smoothness_scale"]
        == 1.0
    )
    # At scale 0.5 these frames are too small for AMT-S's pyramid: edge-padded to 256, the original pixels scored.
    half = _score(_build("vbench_motion_smoothness", scale=0.5), _sample(frames))
    assert half["motion_smoothness_scale"] == 0.5 and 0.0 < half["motion_smoothness_video_results"] <= 1.0
    small = _score(_build("vbench_motion_smoothness"), _sample(_clip(3, 40, 56)))[
        "motion_smoothness_video_results"
    ]
    assert 0.0 < small <= 1.0
    with pytest.raises(InvalidOptions, match="scale"):
        _build("vbench_motion_smoothness", scale=1.5)
    with pytest.raises(InvalidSample, match="at least 3 frames"):
        _build("vbench_motion_smoothness").preprocess(_sample(frames[:2]))


def test_background_consistency_equals_the_reference_loop() -> None:
    """Frame by frame as the reference: clip_transform, CLIP B/32 image feature, normalise, the two cosines."""
    from omninft.reward_servers.functional.vbench_frames import clip_transform, frames_to_tensor
    from omninft.reward_servers.models import clip

    frames = _clip(4, 40, 56)
    got = _score(_build("vbench_background_consistency", image_batch_size=1), _sample(frames))
    model = clip.load("tiny", 0)[0]
    core = clip.ClipImageCore(model).eval()
    with torch.no_grad():
        feats = [
            core(clip_transform(frames_to_tensor(frames[i : i + 1]), 224)).double().numpy()[0]
            for i in range(len(frames))
        ]
    unit = [f / np.linalg.norm(f) for f in feats]
    sim = sum(
        (max(0.0, unit[t - 1] @ unit[t]) + max(0.0, unit[0] @ unit[t])) / 2 for t in range(1, len(unit))
    )
    assert got["background_consistency_cnt_per_video"] == 3.0
    assert got["background_consistency_video_sim"] == pytest.approx(sim, rel=1e-6)
    chunked = _score(_build("vbench_background_consistency", image_batch_size=3), _sample(frames))
    assert chunked["background_consistency_video_sim"] == pytest.approx(sim, rel=1e-5)


def test_a_video_does_not_depend_on_its_batch() -> None:
    scorer = _build("vbench_background_consistency", image_batch_size=2)
    a, b = _sample(_clip(3, 40, 48), sid="a"), _sample(_clip(5, 48, 40, step=1), sid="b")
    alone = scorer.postprocess(scorer.forward([scorer.preprocess(a)])[0]).scores
    both = scorer.forward([scorer.preprocess(b), scorer.preprocess(a)])
    assert scorer.postprocess(both[1]).scores == alone
    with pytest.raises(InvalidSample, match="at least 2 frames"):
        scorer.preprocess(_sample(_clip(1, 40, 48)))


def test_generated_vbench_routes_are_fresh_and_match_the_runner_contract() -> None:
    """bench/suites/vbench/routes.json (scripts/gen_bench_routes.py) names, per dimension, the scorer the runner
    calls and its first contract output."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "gen_bench_routes", root / "scripts" / "gen_bench_routes.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    table = gen.build_tables()["vbench"]
    path = root / "bench" / "suites" / "vbench" / "routes.json"
    assert path.read_text() == gen.render(table), "stale: run python scripts/gen_bench_routes.py"
    for key, route in json.loads(path.read_text())["metrics"].items():
        dim = DIMENSIONS[key]
        assert route["scorer"] == dim.scorer and route["output"] == dim.wire_outputs[0]


def _pair_sum(feats: list[np.ndarray]) -> float:
    unit = [f / np.linalg.norm(f) for f in feats]
    return sum(
        (max(0.0, unit[t - 1] @ unit[t]) + max(0.0, unit[0] @ unit[t])) / 2 for t in range(1, len(unit))
    )


def test_subject_consistency_equals_the_reference_loop() -> None:
    """Frame by frame: dino_transform (short side 224, no crop), DINO CLS feature, the two cosines."""
    from omninft.reward_servers.functional.vbench_frames import dino_transform, frames_to_tensor
    from omninft.reward_servers.models import dino

    frames = _clip(3, 36, 52)
    got = _score(_build("vbench_subject_consistency", image_batch_size=1), _sample(frames))
    model = dino.load("tiny", 0)[0]
    with torch.no_grad():
        feats = [
            model(dino_transform(frames_to_tensor(frames[i : i + 1]), 224)).double().numpy()[0]
            for i in range(len(frames))
        ]
    assert got["subject_consistency_cnt_per_video"] == 2.0
    assert got["subject_consistency_video_sim"] == pytest.approx(_pair_sum(feats), rel=1e-6)


def test_clip_precision_follows_the_reference() -> None:
    from omninft.reward_servers.scorers._vbench import clip_precision

    assert clip_precision("vbench-v1", "cuda:0") == "fp16" and clip_precision("vbench-v1", "cpu") == "fp32"
    assert clip_precision("vbench-v1-fp32", "cuda") == "fp32"
    assert registry.spec("vbench_background_consistency").protocols == ("vbench-v1", "vbench-v1-fp32")


def test_aesthetic_quality_equals_the_reference_loop() -> None:
    """clip_transform, OpenAI-layout CLIP ViT-L/14 (tiny) embedding, fp32 normalise, LAION head, mean of score/10."""
    from omninft.reward_servers.functional.vbench_frames import clip_transform, frames_to_tensor
    from omninft.reward_servers.models import clip
    from omninft.reward_servers.models.clip import aesthetic

    frames = _clip(5, 40, 60)
    got = _score(_build("vbench_aesthetic_quality", image_batch_size=2), _sample(frames))
    model = clip.load_openai("tiny", 0, arch="ViT-L/14")[0]
    head = aesthetic.load("tiny", 0)[0]
    with torch.no_grad():
        pixels = clip_transform(frames_to_tensor(frames), int(model.config.vision_config.image_size))
        emb = clip.ClipImageCore(model)(pixels).double().numpy()
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    raw = unit @ head.weight.detach().double().numpy()[0] + float(head.bias)
    assert got["aesthetic_quality_video_results"] == pytest.approx(
        float(np.mean(raw / 10)), rel=1e-5, abs=1e-7
    )
    scorer = registry.build("vbench_aesthetic_quality", ScorerConfig(weights="tiny"))
    assert scorer.info.weights.tiny and "laion_head" in scorer.info.weights.weights_id
    with pytest.raises(InvalidOptions, match="image_batch_size"):
        _build("vbench_aesthetic_quality", image_batch_size=0)


def test_imaging_quality_equals_the_reference_loop() -> None:
    """transform(images, mode) then MUSIQ frame by frame; the video value is the mean MOS (0-100)."""
    from omninft.reward_servers.functional.vbench_frames import frames_to_tensor, imaging_quality_transform
    from omninft.reward_servers.models import musiq

    frames = _clip(3, 40, 56)
    model = musiq.load("tiny", 0)[0]
    for mode in ("longer", "None"):
        got = _score(_build("vbench_imaging_quality", preprocessing_mode=mode), _sample(frames))
        x = imaging_quality_transform(frames_to_tensor(frames), mode)
        with torch.no_grad():
            mos = [float(musiq.score_frames(model, x[i : i + 1])[0]) for i in range(len(frames))]
        assert got["imaging_quality_video_results"] == sum(mos) / len(mos)
    batched = _score(_build("vbench_imaging_quality", image_batch_size=2), _sample(frames))
    assert batched["imaging_quality_video_results"] == pytest.approx(sum(mos) / len(mos), rel=1e-5)
    with pytest.raises(InvalidOptions, match="preprocessing_mode"):
        _build("vbench_imaging_quality", preprocessing_mode="longest")
