"""AMT-S: official key layout, loading rules (ckpt['state_dict']), padded midpoint interpolation, golden numerics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional.flow_padding import centred_padding, pad_replicate
from omninft.reward_servers.functional.vbench_motion import (
    frame_abs_diff_mean,
    interpolation_plan,
    motion_smoothness_score,
    to_uint8_truncate,
)
from omninft.reward_servers.models import amt
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.weights import sha256_file
from tests.helpers.flow_frames import texture as _texture

# sha256 over sorted "key:shape" lines of networks/AMT-S.py Model(3, 4, 3).state_dict() (VBench third_party/amt).
OFFICIAL_MANIFEST = "ffbf2f4f6637dc92e2ca0e61555938a3d23a4e6ac76f1d7cc381322db80afbda"
GOLDEN = Path(__file__).parents[1] / "golden" / "amt_s_random_seed0.json"


def _manifest(sd: dict) -> str:
    return hashlib.sha256(
        "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items())).encode()
    ).hexdigest()


@pytest.fixture(scope="module")
def full():
    return amt.load("random", seed=0)


@pytest.fixture(scope="module")
def tiny():
    return amt.load("tiny", seed=0)[0]


def test_full_size_matches_the_official_layout_and_parameter_count(full):
    model, ident = full
    sd = model.state_dict()
    assert len(sd) == amt.OFFICIAL_KEYS == 213
    assert _manifest(sd) == OFFICIAL_MANIFEST
    assert amt.count_parameters(model) == amt.OFFICIAL_PARAMS == 2_990_543  # the paper's "2.99M"
    assert ident.tiny and ident.weights_id == "random-init(official-architecture, seed=0)"
    assert amt.OFFICIAL_WEIGHTS.source.endswith("/amt-s.pth") and amt.OFFICIAL_ENTRY == "state_dict"


def test_round_trip_through_a_training_checkpoint(full, tmp_path: Path):
    model, _ = full
    ckpt = tmp_path / "amt-s.pth"
    torch.save({"state_dict": model.state_dict(), "epoch": 299}, ckpt)
    loaded, ident = amt.load(str(ckpt))
    assert not ident.tiny and ident.sha256 == sha256_file(ckpt)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert amt.identify(str(tmp_path)).sha256 == ident.sha256  # a folder holding amt-s.pth
    plain = tmp_path / "plain.pth"
    torch.save(model.state_dict(), plain)
    amt.load(str(plain))


def test_strict_loading_names_the_problem(full, tmp_path: Path):
    model, _ = full
    sd = dict(model.state_dict())
    sd.pop("comb_block.1.weight")
    torch.save({"state_dict": sd}, tmp_path / "missing.pth")
    with pytest.raises(WeightsLoadError, match="missing.*comb_block.1.weight"):
        amt.load(str(tmp_path / "missing.pth"))
    torch.save({"state_dict": amt.build(amt.AMTConfig.tiny()).state_dict()}, tmp_path / "tiny.pth")
    with pytest.raises(WeightsLoadError, match="shape mismatch"):
        amt.load(str(tmp_path / "tiny.pth"))
    with pytest.raises(FileNotFoundError, match="amt-s.pth"):
        amt.load("official", cache_dir=tmp_path / "empty")


def test_tiny_midpoint_shapes_range_and_determinism(tiny):
    a = _texture(130, 141) / 255.0
    b = torch.roll(a, shifts=(2, 3), dims=(2, 3))
    with torch.no_grad():
        mid = amt.interpolate_midpoint(tiny, a, b)
        again = amt.interpolate_midpoint(tiny, a, b)
    assert centred_padding(130, 141, 16) == (1, 2, 7, 7)
    assert mid.shape == (1, 3, 130, 141) and torch.equal(mid, again)
    assert float(mid.min()) >= 0.0 and float(mid.max()) <= 1.0
    padded = pad_replicate(a, (1, 2, 7, 7))
    with torch.no_grad():
        direct = tiny(padded, pad_replicate(b, (1, 2, 7, 7)), torch.tensor(0.5).view(1, 1, 1, 1))
    assert direct.shape == (1, 3, 144, 144) and torch.equal(direct[..., 7:137, 1:142], mid)


def test_batch_make_up_is_bounded(tiny):
    a = _texture(128, 144) / 255.0
    b = torch.roll(a, shifts=(1, 2), dims=(2, 3))
    c = torch.flip(a, dims=(2,))
    with torch.no_grad():
        alone = amt.interpolate_midpoint(tiny, a, b)
        batched = amt.interpolate_midpoint(tiny, torch.cat([a, c]), torch.cat([b, a]))
    torch.testing.assert_close(batched[:1], alone, rtol=0, atol=1e-4)


def test_vbench_protocol_end_to_end_on_a_tiny_model(tiny):
    """The motion_smoothness recipe on 5 generated frames: interpolate 0-2 and 2-4, score against 1 and 3."""
    base = _texture(128, 144)
    frames = np.stack(
        [torch.roll(base, shifts=(0, 2 * t), dims=(2, 3))[0].permute(1, 2, 0).numpy() for t in range(5)]
    ).astype(np.uint8)
    plan = interpolation_plan(len(frames))
    diffs = []
    for (i, j), target in zip(plan.pairs, plan.targets, strict=True):
        x0 = torch.from_numpy(frames[i]).permute(2, 0, 1)[None] / 255.0
        x1 = torch.from_numpy(frames[j]).permute(2, 0, 1)[None] / 255.0
        with torch.no_grad():
            pred = amt.interpolate_midpoint(tiny, x0, x1)[0].permute(1, 2, 0).numpy()
        diffs.append(frame_abs_diff_mean(to_uint8_truncate(pred), frames[target]))
    score = motion_smoothness_score(diffs)
    assert len(diffs) == 2 and 0.0 <= score <= 1.0


def _check(out: torch.Tensor, gold: dict) -> None:
    assert out.double().sum().item() == pytest.approx(gold["sum"], rel=1e-5)
    for key, val in gold["points"].items():
        i, j = map(int, key.split(","))
        np.testing.assert_allclose(out[0, :, i, j].numpy(), val, atol=1e-5)


def test_full_size_random_weights_reproduce_the_reference_golden(full):
    gold = json.loads(GOLDEN.read_text())
    model, _ = full
    x = _texture(140, 150)
    a, b = x[..., :129, :131] / 255.0, torch.roll(x, shifts=(3, 4), dims=(2, 3))[..., :129, :131] / 255.0
    pad = centred_padding(129, 131, 16)
    assert list(pad) == gold["padding"]
    with torch.no_grad():
        out = model(pad_replicate(a, pad), pad_replicate(b, pad), torch.tensor(0.5).view(1, 1, 1, 1))
    assert list(out.shape) == gold["shape"]
    _check(out, gold["scale_1"])


@pytest.mark.slow
def test_full_size_golden_at_the_memory_rule_scale(full):
    gold = json.loads(GOLDEN.read_text())["scale_0.5"]
    model, _ = full
    y = _texture(260, 270)
    a, b = y[..., :250, :260] / 255.0, torch.roll(y, shifts=(5, -3), dims=(2, 3))[..., :250, :260] / 255.0
    pad = centred_padding(250, 260, 32)  # int(16 / scale)
    assert list(pad) == gold["padding"]
    with torch.no_grad():
        out = model(
            pad_replicate(a, pad), pad_replicate(b, pad), torch.tensor(0.5).view(1, 1, 1, 1), scale_factor=0.5
        )
    assert list(out.shape) == gold["shape"]
    _check(out, gold)
