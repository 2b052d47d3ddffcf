"""Contract check: the trainer loop drives the tiny LTX-2 adapter against a spawned reward server (2 epochs)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("omninft.trainer.policies.ltx2")

from omninft.trainer.config import load_config  # noqa: E402
from omninft.trainer.loop import Trainer  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_tiny_ltx2_two_epochs_with_embedded_server(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"id": "a", "prompt_av": "a dog barks"})
        + "\n"
        + json.dumps({"id": "b", "prompt_av": "rain on a roof"})
        + "\n"
    )
    cfg = load_config(
        {
            "out_dir": str(tmp_path / "run"),
            "epochs": 2,
            "threads": 1,
            "policy": {"kind": "ltx2", "options": {"weights": "tiny"}},
            "data": {"prompts": str(prompts), "groups_per_epoch": 2, "group_size": 2, "rollout_batch": 2},
            "sampler": {"steps": 4},
            "rewards": [
                {"name": "video_mean_luma", "scorer": "video_stats", "route": "video"},
                {"name": "audio_rms_dbfs", "scorer": "audio_stats", "route": "audio"},
            ],
            "servers": {"local": "embedded"},
            "train": {"micro_batch": 2, "sigma_frac": 0.5},
            "regions": {"warmup_steps": 0},
            "log": {"checkpoint_every": 1},
        }
    )
    trainer = Trainer(cfg)
    recs = trainer.run()
    assert trainer.step == 2 and len(recs) == 2
    for r in recs:
        assert r["reward_fail_rate/video_mean_luma"] == 0.0 and r["reward_fail_rate/audio_rms_dbfs"] == 0.0
        assert math.isfinite(r["grad_norm"]) and 1.0 <= r["region_w_min"] <= r["region_w_max"] <= 1.5
        assert 0.0 <= r["surgery_grad_ratio"] <= 1.0
    assert (tmp_path / "run" / "ckpt-000002.pt").exists()
