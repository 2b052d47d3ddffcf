"""Synchformer model family: official key layout and size, strict round trips, loading, ONNX-ready cores."""

from __future__ import annotations

import re

import pytest
import torch

from omninft.reward_servers.models import synchformer as S
from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.scorers import registry

# Key layout of synchformer_state_dict.pth (specs/models.md §2.1), written out independently of the model code.
_BLOCK = (
    r"(norm1|norm2|norm3|attn\.qkv|attn\.proj|timeattn\.qkv|timeattn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)"
)
_AGG = r"(cls_token|self_attn\.in_proj_(weight|bias)|self_attn\.out_proj\.(weight|bias)|(linear1|linear2|norm1|norm2)\.(weight|bias))"
_AST_LAYER = (
    r"(attention\.attention\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense"
    r"|layernorm_before|layernorm_after)\.(weight|bias)"
)
_SYNC_BLOCK = r"(ln1|ln2|attn\.(key|query|value|proj)|mlp\.0|mlp\.2)\.(weight|bias)"
OFFICIAL_KEY_PATTERNS = [
    r"vfeat_extractor\.(cls_token|pos_embed|temp_embed)",
    r"vfeat_extractor\.(patch_embed|patch_embed_3d)\.proj\.(weight|bias)",
    rf"vfeat_extractor\.blocks\.(\d|1[01])\.{_BLOCK}",
    r"vfeat_extractor\.norm\.(weight|bias)",
    rf"vfeat_extractor\.spatial_attn_agg\.{_AGG}",
    r"afeat_extractor\.ast\.embeddings\.(cls_token|distillation_token|position_embeddings)",
    r"afeat_extractor\.ast\.embeddings\.patch_embeddings\.projection\.(weight|bias)",
    rf"afeat_extractor\.ast\.encoder\.layer\.(\d|1[01])\.{_AST_LAYER}",
    r"afeat_extractor\.ast\.layernorm\.(weight|bias)",
    rf"afeat_extractor\.freq_attn_agg\.{_AGG}",
    r"(vproj|aproj)\.(weight|bias)",
    r"transformer\.(OFF_tok|MOD_tok|pos_emb_cfg\.pos_emb)",
    r"transformer\.(vis_in_lnorm|aud_in_lnorm|ln_f|off_head)\.(weight|bias)",
    rf"transformer\.blocks\.[012]\.{_SYNC_BLOCK}",
]
OFFICIAL_SHAPES = {
    "vfeat_extractor.pos_embed": (1, 197, 768),
    "vfeat_extractor.temp_embed": (1, 8, 768),
    "vfeat_extractor.patch_embed.proj.weight": (768, 3, 16, 16),
    "vfeat_extractor.patch_embed_3d.proj.weight": (768, 3, 2, 16, 16),
    "vfeat_extractor.blocks.0.attn.qkv.weight": (2304, 768),
    "vfeat_extractor.spatial_attn_agg.cls_token": (1, 1, 768),
    "vfeat_extractor.spatial_attn_agg.linear1.weight": (3072, 768),
    "afeat_extractor.ast.embeddings.position_embeddings": (1, 74, 768),
    "afeat_extractor.ast.embeddings.patch_embeddings.projection.weight": (768, 1, 16, 16),
    "afeat_extractor.ast.encoder.layer.11.intermediate.dense.weight": (3072, 768),
    "afeat_extractor.freq_attn_agg.self_attn.in_proj_weight": (2304, 768),
    "transformer.pos_emb_cfg.pos_emb": (1, 198, 768),
    "transformer.blocks.2.mlp.0.weight": (3072, 768),
    "transformer.off_head.weight": (21, 768),
}


@pytest.fixture(scope="module")
def official_meta() -> S.Synchformer:
    return S.build(S.SynchformerConfig.official(), device="meta")


@pytest.fixture(scope="module")
def tiny() -> S.Synchformer:
    return S.build(S.SynchformerConfig.tiny(), seed=0)


def test_official_architecture_matches_the_checkpoint_layout(official_meta: S.Synchformer) -> None:
    sd = official_meta.state_dict()
    assert len(sd) == S.OFFICIAL_KEYS == 513
    assert S.count_parameters(official_meta) == S.OFFICIAL_PARAMS == 237_460_245
    unmatched = [k for k in sd if not any(re.fullmatch(p, k) for p in OFFICIAL_KEY_PATTERNS)]
    assert unmatched == []
    for key, shape in OFFICIAL_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    parts = {
        p: sum(v.numel() for k, v in sd.items() if k.startswith(p + "."))
        for p in ("vfeat_extractor", "afeat_extractor", "vproj", "aproj", "transformer")
    }
    assert parts == {
        "vfeat_extractor": 122_440_704,
        "afeat_extractor": 92_400_384,
        "vproj": 590_592,
        "aproj": 590_592,
        "transformer": 21_437_973,
    }


def test_tiny_keeps_the_input_contract() -> None:
    tiny_cfg, off = S.SynchformerConfig.tiny(), S.SynchformerConfig.official()
    for attr in (
        "image_size",
        "frames_per_segment",
        "n_mels",
        "spec_frames",
        "window_segments",
        "num_classes",
    ):
        assert getattr(tiny_cfg, attr) == getattr(off, attr)
    assert tiny_cfg.sync_positions == off.sync_positions == 198
    assert tiny_cfg.audio_grid == (12, 6) and tiny_cfg.video_tokens == 8


def test_tiny_state_dict_in_official_layout_round_trips_strict(tiny: S.Synchformer, tmp_path) -> None:
    sd = tiny.state_dict()
    assert "afeat_extractor.ast.encoder.layer.0.attention.attention.query.weight" in sd
    assert not any(".layers." in k for k in sd)  # transformers 5 names never leak out
    path = tmp_path / "synchformer_state_dict.pth"
    torch.save(sd, path)
    loaded, ident = S.load_official(str(path), cfg=S.SynchformerConfig.tiny())
    assert not ident.tiny and len(ident.sha256) == 64
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)
    mel = torch.randn(2, 1, 128, 66, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():  # built on the meta device, then filled: it must run like the original
        torch.testing.assert_close(loaded.extract_afeats(mel), tiny.extract_afeats(mel))
    # the original Synchformer checkpoint keeps the same dict under "model"
    torch.save({"model": sd, "epoch": 3}, tmp_path / "orig.pt")
    S.load_official(str(tmp_path / "orig.pt"), cfg=S.SynchformerConfig.tiny())


def test_strict_load_rejects_missing_unexpected_and_misshaped_keys(tiny: S.Synchformer, tmp_path) -> None:
    sd = dict(tiny.state_dict())
    cases = {
        "missing": {k: v for k, v in sd.items() if k != "transformer.off_head.bias"},
        "unexpected": {**sd, "transformer.extra": torch.zeros(1)},
        "misshaped": {**sd, "transformer.off_head.bias": torch.zeros(20)},
    }
    for name, bad in cases.items():
        torch.save(bad, tmp_path / f"{name}.pth")
        with pytest.raises(WeightsLoadError):
            S.load_official(str(tmp_path / f"{name}.pth"), cfg=S.SynchformerConfig.tiny())


def test_official_weights_spec_and_offline_error(tmp_path) -> None:
    spec = official_spec("synchformer")
    assert spec.source.endswith("/MMAudio/releases/download/v0.1/synchformer_state_dict.pth")
    assert registry.official_weights("desync") == [spec]
    with pytest.raises(FileNotFoundError, match="fetch-weights"):
        S.load_official("official", cache_dir=tmp_path)


def test_load_tiny_is_deterministic_and_reports_tiny() -> None:
    a, ia = S.load("tiny", seed=3)
    b, ib = S.load("tiny", seed=3)
    assert ia == ib and ia.tiny and ia.weights_id == "tiny-random(seed=3)"
    assert S.load("tiny", seed=4)[1].sha256 != ia.sha256


def test_cores_compose_to_the_full_model(tiny: S.Synchformer) -> None:
    gen = torch.Generator().manual_seed(0)
    segs = torch.rand(14, 16, 3, 224, 224, generator=gen) * 2 - 1
    mel = torch.randn(14, 1, 128, 66, generator=gen) * 0.5
    with torch.inference_mode():
        v = S.VideoCore(tiny)(segs)
        a = S.AudioCore(tiny)(mel)
        assert v.shape == (14, 8, 32) and a.shape == (14, 6, 32)
        logits = S.SyncCore(tiny)(v[None], a[None])
        assert logits.shape == (1, 21)
        torch.testing.assert_close(
            logits, tiny.compare_v_a(tiny.extract_vfeats(segs)[None], tiny.extract_afeats(mel)[None])
        )
        # segments are independent: features of one segment do not depend on the others in the batch
        torch.testing.assert_close(S.VideoCore(tiny)(segs[3:5]), v[3:5], atol=1e-5, rtol=1e-5)
