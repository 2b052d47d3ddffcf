"""The five non-GRiT Semantic dimensions through the VBench runner and a real embedded `omninft-serve` (tiny weights).

All 16 dimensions run on the demo set (the project's own scorers where they exist, the contract's TEST FIXTURE
scorers as plugins for the others), so the runner forms Quality, Semantic and Total; those are checked against the
leaderboard formula written out here with the constants of `scripts/constant.py`. Each of the five dimensions'
per-video values equals the scorer run in-process on the same decoded file, and its aggregate equals the
reference's single-GPU formula recomputed from the per-video records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omninft.bench.runner import open_session
from omninft.bench.suites.vbench.demo import write_demo_vbench
from omninft.bench.suites.vbench.dimensions import LEADERBOARD_ORDER, resolve_dimensions
from omninft.bench.suites.vbench.locate import plan_standard
from omninft.bench.suites.vbench.outputs import write_all
from omninft.bench.suites.vbench.runner import VBenchConfig, VBenchRun, provenance, run_plan
from omninft.bench.suites.vbench.suite import load_full_info

MINE = ("human_action", "scene", "appearance_style", "temporal_style", "overall_consistency")
# scripts/constant.py (spec §3): dimension -> (Min, Max, weight); Quality first, then Semantic.
CONSTANTS = {
    "subject_consistency": (0.1462, 1.0, 1.0),
    "background_consistency": (0.2615, 1.0, 1.0),
    "temporal_flickering": (0.6293, 1.0, 1.0),
    "motion_smoothness": (0.706, 0.9975, 1.0),
    "dynamic_degree": (0.0, 1.0, 0.5),
    "aesthetic_quality": (0.0, 1.0, 1.0),
    "imaging_quality": (0.0, 1.0, 1.0),
    "object_class": (0.0, 1.0, 1.0),
    "multiple_objects": (0.0, 1.0, 1.0),
    "human_action": (0.0, 1.0, 1.0),
    "color": (0.0, 1.0, 1.0),
    "spatial_relationship": (0.0, 1.0, 1.0),
    "scene": (0.0, 0.8222, 1.0),
    "appearance_style": (0.0009, 0.2855, 1.0),
    "temporal_style": (0.0, 0.364, 1.0),
    "overall_consistency": (0.0, 0.364, 1.0),
}
QUALITY = tuple(CONSTANTS)[:7]
SEMANTIC = tuple(CONSTANTS)[7:]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[VBenchRun, dict[str, Any], Path]:
    from omninft.reward_servers.scorers import registry

    root = tmp_path_factory.mktemp("vbench-semantic")
    videos = root / "videos"
    suite = write_demo_vbench(videos, per_prompt=2, seconds=1.0, height=48, width=64, fps=8.0)
    names = [f"vbench_{d}" for d in LEADERBOARD_ORDER]
    assert all(f"vbench_{d}" in registry.available() for d in MINE)
    grit = ("vbench_object_class", "vbench_multiple_objects", "vbench_spatial_relationship", "vbench_color")
    plugged = [
        n for n in names if n not in registry.available() or n in grit
    ]  # tiny GRiT: slow, drops colour
    cfg = VBenchConfig(
        videos=videos,
        out=root / "out",
        progress=False,
        chunk_size=4,
        timeout_s=300.0,
        embedded_config={"plugins": {n: "tests.helpers.vbench_plugin:build" for n in plugged}},
    )
    dims = resolve_dimensions(None)
    plan = plan_standard(load_full_info(suite), videos, dims)
    with open_session(cfg.session_config(), tuple(sorted(names))) as session:
        run = run_plan(cfg, plan, dims, session=session)
    doc = write_all(run, cfg.out, cfg.name, provenance(cfg, run), {})
    return run, doc, cfg.out


def _in_process(name: str, path: Path, text: str) -> Any:
    from omninft.reward_servers.media import DecodedSample, decode_video
    from omninft.reward_servers.scorers import registry
    from omninft.reward_servers.scorers.base import ScorerConfig

    scorer = registry.build(name, ScorerConfig(weights="tiny"))
    video = decode_video(path.read_bytes(), max_frames=10_000, max_pixels=10**8)
    out = scorer.forward([scorer.preprocess(DecodedSample(id="x", prompt=text, video=video))])[0]
    res = scorer.postprocess(out)
    return res.embeddings if scorer.info.embeddings else res.scores


def test_the_five_dimensions_are_filled_and_equal_the_scorers_in_process(
    served: tuple[VBenchRun, dict[str, Any], Path],
) -> None:
    run, _, _ = served
    by_name = {d.name: d for d in run.dimensions}
    for name in MINE:
        d = by_name[name]
        assert d.value is not None and not d.errors and len(d.videos) == d.total == 2, (name, d.errors)
    scene = by_name["scene"].videos[0].record
    got = _in_process("vbench_scene", Path(scene["video_path"]), "alley")
    assert (scene["success_frame_count"], scene["frame_count"]) == (got["scene_success_frame_count"], 16)
    action = by_name["human_action"].videos[1].record
    assert Path(action["video_path"]).name == "A person is juggling balls-1.mp4"
    got = _in_process("vbench_human_action", Path(action["video_path"]), "juggling balls")
    assert action["video_results"] is (got["human_action_video_results"] == 1.0)
    style = by_name["appearance_style"].videos[0].record
    got = _in_process("vbench_appearance_style", Path(style["video_path"]), "pixel art")
    assert style["frame_results"] == [float(x) for x in got["frame_results"]]  # float64 survives the wire
    assert style["cur_sim"] == style["frame_results"][-1]
    for name, prompt in (
        ("temporal_style", "a bouncing ball, zoom in"),
        ("overall_consistency", "a ball rolling on a table"),
    ):
        rec = by_name[name].videos[0].record
        got = _in_process(f"vbench_{name}", Path(rec["video_path"]), prompt)
        assert rec["video_results"] == got[f"{name}_video_results"]


def test_aggregates_are_the_reference_single_gpu_formulas(
    served: tuple[VBenchRun, dict[str, Any], Path],
) -> None:
    run, _, _ = served
    recs = {d.name: [v.record for v in d.videos] for d in run.dimensions}
    value = {d.name: d.value for d in run.dimensions}
    assert value["human_action"] == sum(r["cor_num_per_video"] for r in recs["human_action"]) / 2
    assert value["scene"] == (
        sum(r["success_frame_count"] for r in recs["scene"]) / sum(r["frame_count"] for r in recs["scene"])
    )
    frames = [f for r in recs["appearance_style"] for f in r["frame_results"]]
    assert value["appearance_style"] == pytest.approx(
        sum(frames) / len(frames), rel=1e-12
    )  # per frame, not cur_sim
    for name in ("temporal_style", "overall_consistency"):
        assert value[name] == float(np.mean([r["video_results"] for r in recs[name]]))


def test_quality_semantic_total_with_all_16_dimensions(
    served: tuple[VBenchRun, dict[str, Any], Path],
) -> None:
    """cal_final_score.py over our reference file: raw_d = json[d][0]; n_d = w (raw - Min) / (Max - Min) unclipped;
    Σ n / Σ w per group; Total = (4 Q + S) / 5."""
    import json

    run, doc, out = served
    ev = json.loads((out / "evaluation_results" / "results_eval_results.json").read_text())
    assert sorted(ev) == sorted(CONSTANTS)
    raw = {k: ev[k][0] for k in CONSTANTS}
    assert raw == {d.name: d.value for d in run.dimensions}

    def group(names: tuple[str, ...]) -> float:
        norm = [
            CONSTANTS[n][2] * (raw[n] - CONSTANTS[n][0]) / (CONSTANTS[n][1] - CONSTANTS[n][0]) for n in names
        ]
        return sum(norm) / sum(CONSTANTS[n][2] for n in names)

    q, s = group(QUALITY), group(SEMANTIC)
    scores = doc["vbench"]["scores"]
    assert scores["quality"] == pytest.approx(q, rel=1e-12)
    assert scores["semantic"] == pytest.approx(s, rel=1e-12)
    assert scores["total"] == pytest.approx((4 * q + s) / 5, rel=1e-12)
    assert not scores["missing"]
