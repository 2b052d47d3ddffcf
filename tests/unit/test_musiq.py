"""MUSIQ (pyiqa 0.1.10 architecture, SPAQ layout): patches, reference numerics, loading, ONNX."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import check_graph, export_graph
from omninft.reward_servers.functional import musiq_patches as mp
from omninft.reward_servers.models import musiq
from omninft.reward_servers.models._hf import WeightsLoadError

# sha256 over sorted "key:shape" lines of pyiqa 0.1.10 MUSIQ(pretrained=False).state_dict() (= the SPAQ
# checkpoint's layout: num_class=1), computed once by running the reference code outside the project.
OFFICIAL_MANIFEST = "f2de599a417c39e012496bc185ab484a80b4c74d677673f2ed3d937a019ed994"
# pyiqa 0.1.10 on torch.rand(2, 3, H, W, generator=Generator(1)) drawn in this order: multi-scale patch
# shape, float64 sum of all tokens, sum of the three extra columns, and the tiny MUSIQ(hidden 32, mlp 64,
# heads 2, layers 2) MOS with _seeded(…, 0) weights in eval mode (model.training = False).
REFERENCE = {
    (40, 56): ((2, 197, 3075), 13187.087660253377, 13356.0, [0.03129628, 0.08410348]),
    (120, 90): ((2, 205, 3075), 15726.088441129665, 14926.0, [0.03508444, 0.05611724]),
    (200, 200): ((2, 242, 3075), 23390.66296608303, 22484.0, [0.05152553, 0.04835019]),
}


def _manifest(sd: dict) -> str:
    return hashlib.sha256(
        "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items())).encode()
    ).hexdigest()


def _seeded(sd: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(sd):
        v = torch.randn(sd[k].shape, generator=g) * 0.05
        if ("norm" in k or "gn" in k) and k.endswith("weight"):
            v = v + 1
        out[k] = v
    return out


def test_full_size_matches_official_layout_and_count():
    with torch.device("meta"):
        model = musiq.build(musiq.MusiqConfig.official())
    assert _manifest(model.state_dict()) == OFFICIAL_MANIFEST
    assert sum(p.numel() for p in model.parameters()) == 27_125_825


def test_hand_computed_patch_geometry():
    assert mp.scale_size(360, 640, 224) == (126, 224)  # round(126.0)
    assert mp.scale_size(40, 56, 224) == (160, 224)
    assert mp.scale_size(100, 100, 384) == (384, 384)
    # grid 10 over 3 columns: nearest picks 0, 3, 6 (floor(j * 10 / 3)); rows over 2: 0, 5
    assert mp.hashed_positions(10, 2, 3).tolist() == [0.0, 3.0, 6.0, 50.0, 53.0, 56.0]
    x = torch.arange(2 * 40 * 40, dtype=torch.float32).reshape(1, 2, 40, 40) + 1
    p = mp.extract_patches(x, 32)  # padded to 64 x 64: 24 zero rows/cols, 12 before
    assert p.shape == (1, 2 * 32 * 32, 4)
    first = p[0, :, 0].reshape(2, 32, 32)  # channel-major (c, y, x), as F.unfold
    assert float(first[0, 11, 11]) == 0.0 and float(first[0, 12, 12]) == float(x[0, 0, 0, 0])
    assert float(first[1, 12, 13]) == float(x[0, 1, 0, 1])
    last = p[0, :, 3].reshape(2, 32, 32)  # bottom-right patch: image rows/cols 20..39, then 12 zeros
    assert float(last[0, 19, 19]) == float(x[0, 0, 39, 39]) and float(last[0, 20, 20]) == 0.0


def test_patches_and_scores_match_reference():
    model = musiq.build(musiq.MusiqConfig.tiny()).eval()
    model.load_state_dict(_seeded(model.state_dict(), 0), strict=True)
    g = torch.Generator().manual_seed(1)
    for hw, (shape, total, extra, mos) in REFERENCE.items():
        x = torch.rand(2, 3, *hw, generator=g)
        tokens = mp.musiq_input(x)
        assert tuple(tokens.shape) == shape
        assert float(tokens.double().sum()) == pytest.approx(total, rel=1e-9)
        assert float(tokens[..., -3:].sum()) == extra
        # scale 224 is padded to 49 tokens with zero rows (mask 0), scale 384 to 144
        assert tokens[0, :49, -2].max() == 0 and tokens[0, 49:193, -2].min() in (0.0, 1.0)
        with torch.no_grad():
            got = musiq.score_frames(model, x)
        np.testing.assert_allclose(got.numpy(), mos, rtol=0, atol=2e-7)


def test_batch_invariance_and_tiny_loading():
    model, ident = musiq.load("tiny", seed=0)
    assert ident.tiny and musiq.identify("tiny", seed=0) == ident
    x = torch.rand(3, 3, 48, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = musiq.score_frames(model, x)
        single = torch.cat([musiq.score_frames(model, x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, single, rtol=0, atol=1e-6)


def test_checkpoint_strict_with_module_prefix(tmp_path: Path):
    model = musiq.build(musiq.MusiqConfig.official())
    sd = _seeded(model.state_dict(), 3)
    path = tmp_path / "musiq_spaq_ckpt-358bb6af.pth"
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)  # pyiqa strips DataParallel prefixes
    loaded, ident = musiq.load(str(path))
    assert not ident.tiny and torch.equal(loaded.head.weight, sd["head.weight"])
    bad = dict(sd)
    bad["head.weight"] = torch.zeros(10, 384)  # the AVA checkpoint's 10-bin head does not fit SPAQ's
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsLoadError, match="shape mismatch"):
        musiq.load(str(tmp_path / "bad.pth"))
    assert musiq.OFFICIAL_WEIGHTS.source.endswith(f"-{musiq.OFFICIAL_SHA256_PREFIX}.pth")
    with pytest.raises(FileNotFoundError, match="not available offline"):
        musiq.load("official", cache_dir=tmp_path)


@pytest.mark.slow
def test_onnx_export_matches_torch(tmp_path: Path):
    model, _ = musiq.load("tiny", seed=0)
    tokens = mp.musiq_input(torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0)))
    spec = GraphSpec(
        model, ("tokens",), ("mos",), {"tokens": tokens.numpy()}, dynamic_axes={"tokens": {1: "n"}}
    )
    path = export_graph(spec, tmp_path / "musiq.onnx")
    ranges = {
        "tokens": (0.0, 1.0)
    }  # random tokens in [0, 1): valid indices 0 and mask 0/1 after .long()/.bool()
    assert check_graph(spec, path, batch_sizes=(1, 3), input_ranges=ranges).ok(1e-3)
