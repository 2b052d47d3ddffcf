"""The VBench runner end to end over real gRPC: a FakeRewardServer hosts TEST FIXTURE scorers (simple real
quantities from the decoded videos, `tests/helpers/vbench_fixtures.py`) under the contract's names.

Covers the three modes, missing videos, bad input (corrupt, empty, 1-frame, short, mixed extensions, ambiguous
names, an entry without prompt), resume after a failure mid-run (same numbers as an uninterrupted run), the
reference JSON formats, and an empty dimension.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from omninft.bench.demo_data import write_mp4
from omninft.bench.runner import BenchRunError, open_session
from omninft.bench.suites.vbench.demo import write_demo_vbench
from omninft.bench.suites.vbench.dimensions import LEADERBOARD_ORDER, resolve_dimensions
from omninft.bench.suites.vbench.locate import plan_category, plan_custom, plan_standard
from omninft.bench.suites.vbench.outputs import REFERENCE_DIR, write_all
from omninft.bench.suites.vbench.runner import VBenchConfig, VBenchRun, provenance, run_plan
from omninft.bench.suites.vbench.scores import group_scores
from omninft.bench.suites.vbench.suite import load_full_info
from omninft.bench.synth import bouncing_disc_clip
from omninft_client.testing import FakeRewardServer
from tests.helpers.vbench_fixtures import SCORE_FIXTURES, fixture_server, on_the_wire

# §4: the per-video keys the reference writes for each dimension.
RECORD_KEYS = {
    "background_consistency": {"video_sim", "cnt_per_video"},
    "object_class": {"success_frame_count", "frame_count"},
    "multiple_objects": {"success_frame_count", "frame_count"},
    "scene": {"success_frame_count", "frame_count"},
    "human_action": {"cor_num_per_video"},
    "color": {"cur_success_frame_rate"},
    "spatial_relationship": {"frame_results"},
    "appearance_style": {"frame_results", "cur_sim"},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("vbench")
    suite = write_demo_vbench(root / "videos", per_prompt=5, seconds=1.0, height=48, width=64, fps=8.0)
    return root / "videos", suite


@pytest.fixture(scope="module")
def server() -> Any:
    with fixture_server() as srv:
        yield srv


def _run(
    videos: Path, out: Path, plan: Any, dims: list[Any], address: str, **kw: Any
) -> tuple[VBenchRun, dict[str, Any]]:
    cfg = VBenchConfig(
        videos=videos, out=out, server=address, progress=False, chunk_size=4, timeout_s=60.0, **kw
    )
    run = run_plan(cfg, plan, dims)
    doc = write_all(run, out, cfg.name, provenance(cfg, run), {})
    return run, doc


def _standard(
    videos: Path, suite: Path, out: Path, address: str, dims: list[str] | None = None, **kw: Any
) -> tuple[VBenchRun, dict[str, Any]]:
    d = resolve_dimensions(dims)
    return _run(videos, out, plan_standard(load_full_info(suite), videos, d), d, address, **kw)


@pytest.fixture(scope="module")
def full(
    demo: tuple[Path, Path], server: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[VBenchRun, Path]:
    out = tmp_path_factory.mktemp("full")
    run, _ = _standard(*demo, out, server.address)
    return run, out


def test_all_16_dimensions_through_a_server(full: tuple[VBenchRun, Path]) -> None:
    run, out = full
    values = {d.name: d.value for d in run.dimensions}
    assert list(values) == list(LEADERBOARD_ORDER) and all(v is not None for v in values.values())
    assert values["temporal_flickering"] > 0.99  # the demo's flickering videos are frozen frames
    assert values["human_action"] == 1.0  # the label parsed from "A person is juggling balls-<i>.mp4"
    assert not run.plan.missing and not any(d.errors for d in run.dimensions)
    doc = json.loads((out / "results.json").read_text())
    scores = doc["vbench"]["scores"]
    assert scores["missing"] == {} and scores["total"] == pytest.approx(
        (4 * scores["quality"] + scores["semantic"]) / 5
    )
    assert doc["counts"]["subject_consistency"] == {"total": 5, "scored": 5, "failed": 0, "dropped": 0}


def test_reference_eval_results_format(full: tuple[VBenchRun, Path]) -> None:
    _, out = full
    ev = json.loads((out / REFERENCE_DIR / "results_eval_results.json").read_text())
    assert set(ev) == set(LEADERBOARD_ORDER)
    for dim, (agg, videos) in ev.items():
        assert isinstance(agg, float) and isinstance(videos, list) and videos
        for v in videos:
            assert set(v) == {"video_path", "video_results"} | RECORD_KEYS.get(dim, set()), dim
    assert all(isinstance(v["video_results"], bool) for v in ev["dynamic_degree"][1] + ev["human_action"][1])
    # What cal_final_score.py does with the folder: json[key][0] per key, '_' -> ' '.
    upload = {k.replace("_", " "): v[0] for k, v in ev.items()}
    ours = group_scores({k.replace(" ", "_"): v for k, v in upload.items()})
    doc = json.loads((out / "results.json").read_text())
    assert ours.total == doc["vbench"]["scores"]["total"]
    info = json.loads((out / REFERENCE_DIR / "results_full_info.json").read_text())
    assert len(info) == 11 and all(
        len(e["video_list"]) == 5 and "prompt_en" in e and "dimension" in e for e in info
    )
    page = (out / "report.html").read_text()
    assert (
        page.count("<svg") >= 2
        and page.count("<details>") == 16
        and "## VBench scores" in (out / "report.md").read_text()
    )


def test_weighted_aggregates_from_per_video_lines(full: tuple[VBenchRun, Path]) -> None:
    _, out = full
    lines = [json.loads(x) for x in (out / "per_video.jsonl").read_text().splitlines()]
    bg = [x for x in lines if x["dimension"] == "background_consistency"]
    ev = json.loads((out / REFERENCE_DIR / "results_eval_results.json").read_text())
    assert ev["background_consistency"][0] == pytest.approx(
        sum(x["video_sim"] for x in bg) / sum(x["cnt_per_video"] for x in bg)
    )
    sp = [f for x in lines if x["dimension"] == "spatial_relationship" for f in x["frame_results"]]
    assert ev["spatial_relationship"][0] == pytest.approx(float(np.mean(sp)))


def _write(path: Path, frames: int, seed: int = 3) -> None:
    clip = bouncing_disc_clip(seed, seconds=frames / 8.0, height=48, width=64, fps=8.0)
    write_mp4(path, replace(clip, frames=clip.frames[:frames]), mux_audio=False)


def test_missing_and_bad_videos_are_listed_and_excluded(
    demo: tuple[Path, Path], server: Any, tmp_path: Path
) -> None:
    src, suite = demo
    videos = tmp_path / "videos"
    shutil.copytree(src, videos)
    p = "a red ball bouncing in a box"
    (videos / f"{p}-4.mp4").unlink()  # missing
    (videos / f"{p}-3.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")  # corrupt
    (videos / f"{p}-2.mp4").write_bytes(b"")  # zero bytes
    _write(videos / f"{p}-1.mp4", 1)  # one frame: no pair
    _write(videos / f"{p}-0.mp4", 2)  # two frames: too short for the smoothness fixture
    (videos / "a ball in an alley-0.mp4").rename(videos / "a ball in an alley-0.mkv")  # mixed extensions
    shutil.copy(videos / "a person-0.mp4", videos / "a person-0.mkv")  # same prompt and index twice
    (videos / "notes.txt").write_text("not a video")
    data = json.loads(suite.read_text()) + [{"dimension": ["scene"]}]  # an entry without a prompt
    bad_suite = tmp_path / "suite.json"
    bad_suite.write_text(json.dumps(data))
    loaded = load_full_info(bad_suite)
    assert loaded.problems == ["entry 11: no prompt_en, skipped (dimensions ['scene'])"]
    run, doc = _standard(videos, bad_suite, tmp_path / "out", server.address)
    by = {d.name: d for d in run.dimensions}
    assert [(m.prompt, m.index) for m in run.plan.missing] == [(p, 4)]
    reasons = {Path(e.video_path).name: e.message for e in by["subject_consistency"].errors}
    assert "cannot decode" in reasons[f"{p}-3.mp4"] and reasons[f"{p}-2.mp4"] == "empty file (0 bytes)"
    assert "no frame pair" in reasons[f"{p}-1.mp4"] and len(by["subject_consistency"].videos) == 1
    assert (
        "too short"
        in {Path(e.video_path).name: e.message for e in by["motion_smoothness"].errors}[f"{p}-0.mp4"]
    )
    assert by["subject_consistency"].value is not None  # the run finished with what was valid
    assert len(by["scene"].videos) == 5 and any("mixed extensions" in w for w in run.plan.warnings)
    assert len(by["object_class"].videos) == 4  # "a person-0" is ambiguous: neither file is used
    unusable = {Path(u.path.split(",")[0]).name: u.reason for u in run.plan.unusable}
    assert "several extensions" in unusable["a person-0.mp4"] and "not a video" in unusable["notes.txt"]
    assert doc["counts"]["subject_consistency"] == {"total": 4, "scored": 1, "failed": 3, "dropped": 0}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Missing videos (1)" in md and f"| {p} | 4 |" in md and "empty file" in md


def test_resume_after_a_failure_gives_identical_numbers(
    demo: tuple[Path, Path], full: tuple[VBenchRun, Path], tmp_path: Path
) -> None:
    videos, suite = demo
    out = tmp_path / "out"
    calls = {"n": 0}
    srv_box: dict[str, FakeRewardServer] = {}

    def dying(s: Any) -> Any:  # after a few videos every further call fails, like a server going away
        calls["n"] += 1
        if calls["n"] == 3:
            srv_box["srv"].fail_next(10_000, grpc.StatusCode.INTERNAL, "server went away")
        return on_the_wire("vbench_subject_consistency", SCORE_FIXTURES["vbench_subject_consistency"])(s)

    with fixture_server() as srv:
        srv._scorers["vbench_subject_consistency"] = dying
        srv_box["srv"] = srv
        with pytest.raises(BenchRunError, match="rerun the same command to resume"):
            _standard(videos, suite, out, srv.address)
    assert not (out / "results.json").exists()
    with fixture_server() as srv:
        run, doc = _standard(videos, suite, out, srv.address)
    store = doc["provenance"]["store"]
    assert store["outcomes_reused"] > 0 and store["outcomes_computed"] > 0
    ref_run, ref_out = full
    assert [d.value for d in run.dimensions] == [d.value for d in ref_run.dimensions]
    assert [[v.record for v in d.videos] for d in run.dimensions] == [
        [v.record for v in d.videos] for d in ref_run.dimensions
    ]
    with fixture_server() as srv:  # a third run computes nothing
        _, doc = _standard(videos, suite, out, srv.address)
        assert doc["provenance"]["store"]["outcomes_computed"] == 0 and not srv.calls[1:]


def test_custom_input_refuses_auxiliary_dimensions_and_scores_the_rest(
    demo: tuple[Path, Path], server: Any, tmp_path: Path
) -> None:
    videos, _ = demo
    with pytest.raises(ValueError, match="custom_input cannot evaluate object_class, color"):
        plan_custom(videos, resolve_dimensions(["object_class,color,subject_consistency"]))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps({"a person-0.mp4": "a person waving", str(videos / "a person-1.mp4"): "someone"})
    )
    dims = resolve_dimensions(["subject_consistency,overall_consistency"])
    plan = plan_custom(videos, dims, prompt_file=prompts)
    assert [v.prompt for v in plan.videos["subject_consistency"]] == ["a person waving", "someone"]
    assert len(plan.unusable) == 53 and all("no prompt for this video" in u.reason for u in plan.unusable)
    plan = plan_custom(videos, dims)
    assert plan.videos["overall_consistency"][0].prompt == "A person is juggling balls"  # stem minus -<i>
    run, doc = _run(videos, tmp_path / "out", plan, dims, server.address)
    assert all(len(d.videos) == 55 for d in run.dimensions)
    assert doc["vbench"]["scores"]["total"] is None and doc["vbench"]["scores"]["missing"]["Quality"]


def test_category_mode_matches_prefixes(demo: tuple[Path, Path], server: Any, tmp_path: Path) -> None:
    videos, _ = demo
    dims = resolve_dimensions(["aesthetic_quality"])
    with pytest.raises(ValueError, match="vbench_category cannot evaluate scene"):
        plan_category(videos, resolve_dimensions(["scene"]), "animal", ["a"])
    plan = plan_category(videos, dims, "toys", ["a bouncing ball", "a unicorn"])
    assert [len(e["video_list"]) for e in plan.full_info] == [10, 0]  # ", pixel art" and ", zoom in" prompts
    assert [(m.prompt, m.index) for m in plan.missing] == [("a unicorn", None)]
    run, _ = _run(videos, tmp_path / "out", plan, dims, server.address)
    assert len(run.dimensions[0].videos) == 10


def test_empty_dimension_is_an_explicit_error(demo: tuple[Path, Path], server: Any, tmp_path: Path) -> None:
    src, suite = demo
    videos = tmp_path / "videos"
    shutil.copytree(src, videos)
    for f in videos.glob("a ball in an alley-*.mp4"):
        f.unlink()
    run, doc = _standard(videos, suite, tmp_path / "out", server.address, ["scene", "temporal_style"])
    assert run.dimensions[0].value is None and "scene: no video was scored" in run.dimensions[0].error
    assert doc["results"]["scene"] is None and "scene" in doc["vbench"]["dimension_errors"]
    ev = json.loads((tmp_path / "out" / REFERENCE_DIR / "results_eval_results.json").read_text())
    assert list(ev) == ["temporal_style"]  # never a NaN or 0 for scene
    assert [m.index for m in run.plan.missing] == [0, 1, 2, 3, 4]


def test_through_omninft_serve_one_decode_per_video(
    demo: tuple[Path, Path], full: tuple[VBenchRun, Path], tmp_path: Path
) -> None:
    """The real server (embedded; the project's own VBench scorers with tiny weights where they exist, the
    contract's fixture scorers as plugins for the others): the fixture dimensions give the same numbers as over
    the fake server, every dimension is filled, and each video is decoded once for all the dimensions that read
    it (the server's decode cache)."""
    from omninft.bench.perf.scripts._common import free_port, scrape
    from omninft.reward_servers.scorers import registry

    videos, suite = demo
    names = [f"vbench_{d}" for d in LEADERBOARD_ORDER]
    # Fixture plugins for the dimensions without a built-in scorer, and (explicitly replacing the built-ins) for
    # the GRiT ones: tiny GRiT describes ~50 detections a frame (minutes for these 55 videos) and its random names
    # would drop every color video; tests/integration/test_vbench_grit_runner.py runs the real GRiT scorers.
    grit_dims = (
        "vbench_object_class",
        "vbench_multiple_objects",
        "vbench_spatial_relationship",
        "vbench_color",
    )
    plugged = [n for n in names if n not in registry.available() or n in grit_dims]
    port = free_port()
    extra = {"plugins": {n: "tests.helpers.vbench_plugin:build" for n in plugged}, "metricsPort": port}
    cfg = VBenchConfig(
        videos=videos,
        out=tmp_path / "out",
        progress=False,
        chunk_size=4,
        timeout_s=120.0,
        embedded_config=extra,
    )
    dims = resolve_dimensions(None)
    plan = plan_standard(load_full_info(suite), videos, dims)
    with open_session(cfg.session_config(), tuple(sorted(names))) as session:
        run = run_plan(cfg, plan, dims, session=session)
        metrics = scrape(port)
    decodes = sum(
        v
        for (name, labels), v in metrics.items()
        if name == "omninft_decodes_total" and ("modality", "video") in labels
    )
    n_videos = len({v.path for vs in plan.videos.values() for v in vs})
    n_requests = len({(str(v.path), d) for d, vs in plan.videos.items() for v in vs})
    assert n_videos == 55 and n_requests == 80  # 80 (video, dimension) pairs, 55 distinct videos
    assert decodes == n_videos  # decodes per video = 1.00
    ref_run, _ = full
    fixture = [i for i, d in enumerate(run.dimensions) if f"vbench_{d.name}" in plugged]
    assert [[v.record for v in run.dimensions[i].videos] for i in fixture] == [
        [v.record for v in ref_run.dimensions[i].videos] for i in fixture
    ]
    assert [run.dimensions[i].value for i in fixture] == [ref_run.dimensions[i].value for i in fixture]
    assert all(
        d.value is not None and not d.errors and len(d.videos) + len(d.dropped) == d.total
        for d in run.dimensions
    )


def test_routes_split_dimensions_across_servers(
    demo: tuple[Path, Path], full: tuple[VBenchRun, Path], tmp_path: Path
) -> None:
    videos, suite = demo
    with fixture_server() as a, fixture_server() as b:
        routes = tmp_path / "routes.yaml"
        routes.write_text(f"vbench_scene: {b.address}\nvbench_appearance_style: [{b.address}, {a.address}]\n")
        run, doc = _standard(videos, suite, tmp_path / "out", a.address, servers_file=routes)
        assert {c.scorers for c in b.calls if c.method != "ListScorers"} >= {("vbench_scene",)}
        servers = doc["provenance"]["servers"]
        assert servers[b.address] == ["vbench_scene"]
        assert servers[f"{b.address},{a.address}"] == ["vbench_appearance_style"]
    ref_run, _ = full
    assert [d.value for d in run.dimensions] == [d.value for d in ref_run.dimensions]
