"""VBench suite loading, file naming and conditions on small generated suites (and on the real files when present)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from omninft.bench.suites.vbench.conditions import (
    ConditionError,
    action_label,
    color_target_object,
    condition_text,
)
from omninft.bench.suites.vbench.dimensions import resolve_dimensions
from omninft.bench.suites.vbench.locate import plan_standard, prompt_from_filename
from omninft.bench.suites.vbench.suite import OFFICIAL_FILES, load_dimension_to_folder, load_full_info

# The real suite files beside the checkout (shared/data/vbench), when present; never committed.
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "vbench"


def test_reference_file_name_rules() -> None:
    assert prompt_from_filename("a cat-12.mp4") == "a cat" and prompt_from_filename("a-b.gif") == "a-b"
    assert action_label("/v/A person is riding a bike-3.mp4") == "riding a bike"
    assert action_label("x/a person is dancing_ballet-0.mp4") == "dancing"  # the reference's '_' split
    assert (
        color_target_object("a red car", "red") == "car"
        and color_target_object("an orange bird", "orange") == "bird"
    )


def test_conditions_need_auxiliary_info() -> None:
    spatial = {
        "spatial_relationship": {
            "spatial_relationship": {"object_a": "cat", "object_b": "dog", "relationship": "on the left of"}
        }
    }
    assert json.loads(condition_text("spatial_relationship", "p", spatial, "p-0.mp4"))["object_b"] == "dog"
    with pytest.raises(ConditionError, match="auxiliary_info\\['color'\\]"):
        condition_text("color", "a red car", {}, "a red car-0.mp4")
    with pytest.raises(ConditionError, match="'scene'"):
        condition_text("scene", "alley", {"scene": {"scene": {}}}, "alley-0.mp4")


def test_folder_layout_and_missing(tmp_path: Path) -> None:
    suite = tmp_path / "full_info.json"
    suite.write_text(
        json.dumps(
            [
                {"prompt_en": "a cat", "dimension": ["subject_consistency", "dynamic_degree"]},
                {
                    "prompt_en": "an alley",
                    "dimension": ["scene"],
                    "auxiliary_info": {"scene": {"scene": {"scene": "alley"}}},
                },
            ]
        )
    )
    folders = {
        "subject_consistency": "subject_consistency",
        "dynamic_degree": "subject_consistency",
        "scene": "scene",
    }
    (tmp_path / "v" / "subject_consistency").mkdir(parents=True)
    for i in range(5):
        (tmp_path / "v" / "subject_consistency" / f"a cat-{i}.mp4").write_bytes(b"x")
    (tmp_path / "v" / "scene").mkdir()
    (tmp_path / "v" / "scene" / "an alley-2.mp4").write_bytes(b"x")
    plan = plan_standard(load_full_info(suite), tmp_path / "v", resolve_dimensions(None), folders=folders)
    assert [len(plan.videos[d]) for d in ("subject_consistency", "dynamic_degree", "scene")] == [5, 5, 1]
    assert [(m.prompt, m.index) for m in plan.missing] == [("an alley", i) for i in (0, 1, 3, 4)]
    assert plan.full_info[1] == {
        "prompt_en": "an alley",
        "dimension": ["scene"],
        "auxiliary_info": {"scene": {"scene": {"scene": "alley"}}},
        "video_list": [str(tmp_path / "v" / "scene" / "an alley-2.mp4")],
    }


@pytest.mark.skipif(
    not (REAL / "VBench_full_info.json").exists(), reason="the real suite files are not on this machine"
)
def test_loader_on_the_official_files() -> None:
    suite = load_full_info(REAL / "VBench_full_info.json")
    assert len(suite.entries) == 946 and not suite.problems
    assert suite.sha256 == OFFICIAL_FILES["VBench_full_info.json"][1]
    counts = Counter(d for e in suite.entries for d in e.dimension)
    assert counts["human_action"] == 100 and counts["subject_consistency"] == 72 and counts["scene"] == 86
    folders = load_dimension_to_folder(REAL / "dimension_to_folder.json")
    assert folders["dynamic_degree"] == "subject_consistency" and len(folders) == 16
    for e in suite.entries:  # every entry yields its dimensions' conditions
        for d in e.dimension:
            condition_text(d, e.prompt_en, e.auxiliary_info, f"{e.prompt_en}-0.mp4")
