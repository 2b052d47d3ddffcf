"""RAFT (raft-things): official key layout, loading rules, test-mode inference, padding, golden numerics."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional.flow_padding import centred_padding, pad_replicate, unpad
from omninft.reward_servers.functional.vbench_motion import DYNAMIC_TOP_FRACTION, flow_top_mean
from omninft.reward_servers.models import raft
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.weights import sha256_file
from tests.helpers.flow_frames import texture as _texture

# sha256 over sorted "key:shape" lines of RAFT(small=False).state_dict() in VBench's third_party/RAFT (the
# keys of raft-things.pth once "module." is stripped).
OFFICIAL_MANIFEST = "a5366ed34c03254c2922a3f83d304d65e552de481e7746a83be4d9f65f97fb36"
GOLDEN = Path(__file__).parents[1] / "golden" / "raft_random_seed0.json"


def _manifest(sd: dict) -> str:
    return hashlib.sha256(
        "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items())).encode()
    ).hexdigest()


@pytest.fixture(scope="module")
def full():
    return raft.load("random", seed=0)


@pytest.fixture(scope="module")
def tiny():
    return raft.load("tiny", seed=0)[0]


# ------------------------------------------------------------------------------------------ layout and loading


def test_full_size_matches_the_official_layout_and_parameter_count(full):
    model, ident = full
    sd = model.state_dict()
    assert len(sd) == raft.OFFICIAL_KEYS == 179
    assert _manifest(sd) == OFFICIAL_MANIFEST
    assert raft.count_parameters(model) == raft.OFFICIAL_PARAMS == 5_257_536  # the paper's "5.3M"
    assert ident.tiny and ident.weights_id == "random-init(official-architecture, seed=0)"
    # the strided blocks' shortcut norm is registered twice, as in the reference
    assert "cnet.layer2.0.norm3.running_mean" in sd and "cnet.layer2.0.downsample.1.running_mean" in sd
    assert not any(k.startswith("fnet.norm") for k in sd)  # instance norm: no parameters


def test_official_spec_is_declared_in_the_family():
    spec = raft.OFFICIAL_WEIGHTS
    assert spec.source.endswith("/models.zip") and spec.files == ("raft-things.pth",)
    assert raft.OFFICIAL_MEMBER == "models/raft-things.pth" and raft.OFFICIAL_KEY_PREFIX == "module."


def _dataparallel_file(model: torch.nn.Module, path: Path) -> Path:
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    return path


def test_round_trip_through_the_official_file_forms(full, tmp_path: Path):
    model, _ = full
    pth = _dataparallel_file(model, tmp_path / "raft-things.pth")
    loaded, ident = raft.load(str(pth))
    assert not ident.tiny and ident.sha256 == sha256_file(pth)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    # the folder VBench unzips into, with the other checkpoints of models.zip next to it
    folder = tmp_path / "raft_model" / "models"
    folder.mkdir(parents=True)
    (folder / "raft-chairs.pth").write_bytes(b"not this one")
    (folder / "raft-things.pth").write_bytes(pth.read_bytes())
    assert raft.identify(str(folder.parent)).sha256 == ident.sha256
    # the authors' zip, read in place: the recorded sha256 is the member's, same as the unzipped file's
    archive = tmp_path / "models.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("models/raft-chairs.pth", b"decoy")
        zf.write(pth, raft.OFFICIAL_MEMBER)
    zipped, zid = raft.load(str(archive))
    assert zid.sha256 == ident.sha256 and zid.weights_id.endswith("!models/raft-things.pth")
    assert torch.equal(
        zipped.state_dict()["update_block.mask.2.bias"], model.state_dict()["update_block.mask.2.bias"]
    )
    # keys without the prefix load too (a re-saved plain state dict)
    plain = tmp_path / "plain.pth"
    torch.save(model.state_dict(), plain)
    raft.load(str(plain))


def test_strict_loading_names_the_problem(full, tmp_path: Path):
    model, _ = full
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    missing = dict(sd)
    missing.pop("module.update_block.gru.convq2.bias")
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(WeightsLoadError, match="missing.*convq2"):
        raft.load(str(tmp_path / "missing.pth"))
    wrong = dict(sd)
    wrong["module.fnet.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(WeightsLoadError, match="shape mismatch.*fnet.conv2.weight"):
        raft.load(str(tmp_path / "wrong.pth"))
    tiny_sd = raft.build(raft.RAFTConfig.tiny()).state_dict()
    torch.save(tiny_sd, tmp_path / "tiny.pth")
    with pytest.raises(WeightsLoadError):
        raft.load(str(tmp_path / "tiny.pth"))


def test_official_is_offline_and_names_the_download(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="models.zip"):
        raft.load("official", cache_dir=tmp_path)


# ------------------------------------------------------------------------------------------ inference


def test_tiny_flow_shapes_padding_and_determinism(tiny):
    img1 = _texture(130, 141)
    img2 = torch.roll(img1, shifts=(1, 2), dims=(2, 3))
    with torch.no_grad():
        flow, pad = raft.padded_flow(tiny, img1, img2)
        again, _ = raft.padded_flow(tiny, img1, img2)
    assert pad == centred_padding(130, 141, 8) == (1, 2, 3, 3)
    assert flow.shape == (1, 2, 136, 144) and torch.isfinite(flow).all()
    assert torch.equal(flow, again)
    assert unpad(flow, pad).shape == (1, 2, 130, 141)
    low, up = tiny(pad_replicate(img1, pad), pad_replicate(img2, pad))
    assert low.shape == (1, 2, 17, 18) and torch.equal(up, flow)
    with pytest.raises(ValueError, match="divisible by 8"):
        tiny(img1, img2)


def test_batch_make_up_does_not_change_a_pair(tiny):
    a1 = _texture(128, 136)
    a2 = torch.roll(a1, shifts=(2, 1), dims=(2, 3))
    b1 = torch.flip(a1, dims=(3,))
    b2 = torch.roll(b1, shifts=(-1, 3), dims=(2, 3))
    with torch.no_grad():
        alone = tiny(a1, a2)[1]
        batched = tiny(torch.cat([a1, b1]), torch.cat([a2, b2]))[1]
    # CPU convolutions may pick batch-size-dependent kernels: bound the difference instead of promising bits
    torch.testing.assert_close(batched[:1], alone, rtol=0, atol=1e-4)


def test_flow_scores_are_finite_from_128_px(tiny):
    img = _texture(128, 128)
    with torch.no_grad():
        still = flow_top_mean(raft.padded_flow(tiny, img, img)[0][0].numpy(), DYNAMIC_TOP_FRACTION)
        moved = raft.padded_flow(tiny, img, torch.roll(img, shifts=(4, 4), dims=(2, 3)))[0][0].numpy()
    assert np.isfinite(still) and np.isfinite(flow_top_mean(moved, DYNAMIC_TOP_FRACTION))


def test_frames_under_128_px_give_nan_flow_like_the_reference(tiny):
    # at 1/8 resolution the coarsest pyramid level is 1 px wide: the reference's (W-1) normalisation divides
    # by zero and grid_sample returns NaN on CPU. Kept as is (parity); scorers must treat it as "no motion".
    img = _texture(64, 128)
    with torch.no_grad():
        flow = tiny(img, img)[1]
    assert torch.isnan(flow).any()


def test_full_size_random_weights_reproduce_the_reference_golden(full):
    gold = json.loads(GOLDEN.read_text())
    model, _ = full
    x = _texture(132, 140)
    y = torch.roll(x, shifts=(2, 3), dims=(2, 3))
    x, y = x[..., :129, :131], y[..., :129, :131]
    pad = centred_padding(129, 131, 8)
    assert list(pad) == gold["padding"]
    with torch.no_grad():
        low, up = model(pad_replicate(x, pad), pad_replicate(y, pad), iters=4)
    assert list(up.shape) == gold["shape"]
    assert up.double().sum().item() == pytest.approx(gold["flow_up_sum"], rel=1e-5)
    assert up.double().abs().sum().item() == pytest.approx(gold["flow_up_abs_sum"], rel=1e-5)
    assert low.double().sum().item() == pytest.approx(gold["flow_low_sum"], rel=1e-4, abs=1e-3)
    for key, val in gold["flow_up_points"].items():
        i, j = map(int, key.split(","))
        np.testing.assert_allclose(up[0, :, i, j].numpy(), val, atol=1e-4)
