"""DINO ViT-B/16 (VBench subject_consistency): official key layout, reference numerics, loading, ONNX."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import check_graph, export_graph
from omninft.reward_servers.models import dino
from omninft.reward_servers.models._hf import WeightsLoadError

# sha256 over sorted "key:shape" lines of facebookresearch/dino@7c446df vit_base(patch_size=16, num_classes=0)
OFFICIAL_MANIFEST = "ce750467bd5b253d5b2be2a503fdc863ef4e96e1d2f6c23af47b1855d3e83eb8"
# CLS features [:, :6] of the reference VisionTransformer (dino@7c446df, embed 32, depth 2, heads 2) with
# _seeded(…, 0) weights on torch.randn(2, 3, H, W) inputs drawn in this order from Generator(1); computed
# once by running the reference code outside the project.
REFERENCE = {
    (224, 224): [
        -0.612809,
        1.286672,
        -1.386393,
        -0.304517,
        -0.224029,
        0.657256,
        -0.552156,
        1.315903,
        -1.441472,
        -0.277495,
        -0.271126,
        0.631478,
    ],
    (224, 400): [
        -0.737085,
        1.229828,
        -1.517675,
        -0.306122,
        -0.199733,
        0.627024,
        -0.681702,
        1.253304,
        -1.480315,
        -0.309054,
        -0.185803,
        0.624751,
    ],
    (240, 160): [
        -0.53158,
        1.202217,
        -1.412846,
        -0.3061,
        -0.197544,
        0.559219,
        -0.805642,
        1.167901,
        -1.659873,
        -0.407969,
        -0.272079,
        0.591728,
    ],
}


def _manifest(sd: dict) -> str:
    return hashlib.sha256(
        "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items())).encode()
    ).hexdigest()


def _seeded(sd: dict, seed: int) -> dict:
    """Deterministic weights for every key (sorted order), LayerNorm gains around 1."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(sd):
        v = torch.randn(sd[k].shape, generator=g) * 0.05
        if k.endswith(("norm1.weight", "norm2.weight")) or k == "norm.weight":
            v = v + 1
        out[k] = v
    return out


def test_full_size_matches_official_layout_and_count():
    with torch.device("meta"):
        model = dino.build(dino.DinoConfig.official())
    assert _manifest(model.state_dict()) == OFFICIAL_MANIFEST
    assert sum(p.numel() for p in model.parameters()) == 85_798_656


def test_matches_reference_numerics_including_position_interpolation():
    model = dino.build(dino.DinoConfig.tiny()).eval()
    model.load_state_dict(_seeded(model.state_dict(), 0), strict=True)
    g = torch.Generator().manual_seed(1)
    for hw, ref in REFERENCE.items():
        x = torch.randn(2, 3, *hw, generator=g)
        with torch.no_grad():
            y = model(x)
        assert y.shape == (2, 32)
        np.testing.assert_allclose(y[:, :6].flatten().numpy(), ref, rtol=0, atol=2e-6)


def test_batch_invariance():
    model, _ = dino.load("tiny", seed=0)
    x = torch.randn(3, 3, 224, 288, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, single, rtol=0, atol=1e-6)


def test_load_tiny_is_seeded():
    tiny, ident = dino.load("tiny", seed=3)
    assert ident.tiny and ident.weights_id.startswith("tiny") and tiny.cfg == dino.DinoConfig.tiny()
    again, ident2 = dino.load("tiny", seed=3)
    assert ident2.sha256 == ident.sha256
    assert dino.identify("tiny", seed=3) == ident


@pytest.mark.slow
def test_load_official_layout_checkpoint_strict(tmp_path: Path):
    model = dino.build(dino.DinoConfig.official())
    path = tmp_path / "dino_vitbase16_pretrain.pth"
    torch.save(_seeded(model.state_dict(), 5), path)
    loaded, lid = dino.load(str(path))
    assert not lid.tiny and lid.weights_id == f"local:{path.resolve()}"
    assert torch.equal(loaded.pos_embed, torch.load(path)["pos_embed"])

    bad = dict(torch.load(path))
    bad["head.weight"] = torch.zeros(1000, 768)  # a classifier head the hub model does not have
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsLoadError, match="unexpected"):
        dino.load(str(tmp_path / "bad.pth"))


def test_official_spec_and_offline_error(tmp_path: Path):
    assert dino.OFFICIAL_WEIGHTS.source.endswith("/dino_vitbase16_pretrain.pth")
    with pytest.raises(FileNotFoundError, match="not available offline"):
        dino.load("official", cache_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("hw", [(224, 224), (224, 400)])  # square table, and the interpolated 16:9 table
def test_onnx_export_matches_torch(tmp_path: Path, hw):
    """Dynamic batch at a fixed frame size (the position-table resize is resolved at export time)."""
    model, _ = dino.load("tiny", seed=0)
    rng = np.random.default_rng(0)
    spec = GraphSpec(
        model, ("pixels",), ("cls",), {"pixels": rng.standard_normal((2, 3, *hw)).astype(np.float32)}
    )
    path = export_graph(spec, tmp_path / "dino.onnx")
    assert check_graph(spec, path, batch_sizes=(1, 3)).ok(1e-4)
