"""End to end: the toy trainer against a real reward server on 127.0.0.1 (2 epochs, resume, masking, sync mode)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from omninft.trainer.config import TrainConfig, load_config
from omninft.trainer.loop import Trainer
from omninft.trainer.rollout import EmbeddedRewardServer

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # The toy is tiny: intra-op threads only add contention on a shared 2-core machine.
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with EmbeddedRewardServer(["toy_video", "toy_audio", "toy_sync"], startup_timeout_s=120) as srv:
        yield srv.address


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toy-base")


def _cfg(out: Path, base: Path, **sections: Any) -> TrainConfig:
    data: dict[str, Any] = {
        "out_dir": str(out),
        "epochs": 2,
        "seed": 3,
        "threads": 1,
        "policy": {
            "base_checkpoint": str(base / "base.pt"),
            "pretrain_steps": 20,
            "pretrain_batch": 16,
            "options": {"model": {"blocks": 2, "video_dim": 32, "audio_dim": 16, "cond_dim": 32}},
        },
        "data": {"groups_per_epoch": 4, "group_size": 4, "rollout_batch": 8},
        "sampler": {"steps": 6},
        "train": {"micro_batch": 8, "sigma_frac": 0.5, "lr": 1e-3},
        "regions": {"warmup_steps": 0},
        "log": {"checkpoint_every": 1, "keep_checkpoints": 3},
    }
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return load_config(data)


def _params(tr: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in tr.adapter.trainable_parameters()]


@pytest.fixture(scope="module")
def straight(
    server: str, base_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Trainer, list[dict[str, Any]]]:
    tr = Trainer(_cfg(tmp_path_factory.mktemp("straight"), base_dir), reward_addresses={"local": server})
    return tr, tr.run()


def test_two_epochs_against_real_server(straight: tuple[Trainer, list[dict[str, Any]]]) -> None:
    tr, recs = straight
    assert [r["epoch"] for r in recs] == [0, 1] and tr.step == 2
    for r in recs:
        for name in ("toy_video", "toy_audio", "toy_sync"):
            assert math.isfinite(r[f"reward/{name}"]) and r[f"reward_fail_rate/{name}"] == 0.0
        assert math.isfinite(r["loss_policy/video"]) and math.isfinite(r["grad_norm"])
        assert 0.0 <= r["sign_disagreement_rate"] <= 1.0
        assert 1.0 <= r["region_w_min"] <= r["region_w_max"] <= 1.5
        assert 0.0 <= r["surgery_grad_ratio"] <= 1.0
        for k in ("rollout_s", "decode_s", "reward_wait_s", "train_s", "epoch_s"):
            assert r[k] >= 0.0
    lines = (tr.out_dir / "log.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["step"] == 2
    prov = json.loads((tr.out_dir / "provenance.json").read_text())
    assert prov["adapter"]["adapter"] == "toy" and any(
        "toy_sync" in v for v in prov["reward_servers"].values()
    )
    base = torch.load(tr.cfg.policy.base_checkpoint, weights_only=True)["state"]
    moved = any(not torch.equal(p, base[k]) for k, p in tr.adapter.train_model.state_dict().items())
    assert moved


def test_resume_is_bit_identical(
    straight: tuple[Trainer, list[dict[str, Any]]], server: str, base_dir: Path, tmp_path: Path
) -> None:
    ref, ref_recs = straight
    first = Trainer(_cfg(tmp_path, base_dir, epochs=1), reward_addresses={"local": server})
    first.run()
    resumed = Trainer(_cfg(tmp_path, base_dir), reward_addresses={"local": server})
    recs = resumed.run(resume="auto")
    assert [r["epoch"] for r in recs] == [1] and resumed.step == ref.step
    for a, b in zip(_params(resumed), _params(ref), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(resumed.adapter.old_model.parameters(), ref.adapter.old_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert recs[0]["reward/toy_video"] == ref_recs[1]["reward/toy_video"]


def test_sequential_rewards_match_async(
    straight: tuple[Trainer, list[dict[str, Any]]], server: str, base_dir: Path, tmp_path: Path
) -> None:
    _, ref_recs = straight
    tr = Trainer(
        _cfg(tmp_path, base_dir, epochs=1, reward={"async": False}), reward_addresses={"local": server}
    )
    rec = tr.run()[0]
    for name in ("toy_video", "toy_audio", "toy_sync"):
        assert rec[f"reward/{name}"] == ref_recs[0][f"reward/{name}"]


def test_failed_rewards_are_masked(server: str, base_dir: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    rows = [
        {"id": "ok", "prompt_av": "toy class 1", "class": 1},
        {"id": "bad", "prompt_av": "a blob", "prompt_v": "a blob", "prompt_a": "a tone", "class": 2},
    ]
    prompts.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = _cfg(tmp_path / "run", base_dir, epochs=1, data={"prompts": str(prompts), "groups_per_epoch": 2})
    rec = Trainer(cfg, reward_addresses={"local": server}).run()[0]
    assert rec["reward_fail_rate/toy_video"] == 0.0
    assert rec["reward_fail_rate/toy_audio"] == 0.5 and rec["reward_fail_rate/toy_sync"] == 0.5
    assert rec["skipped_groups/toy_audio"] == 1.0
    # Sync feeds both routes, so the failing group is masked on both branches; the other one trains.
    assert rec["valid_ratio/video"] == 0.5 and rec["valid_ratio/audio"] == 0.5
    assert rec["reward_errors"] > 0 and math.isfinite(rec["grad_norm"])
