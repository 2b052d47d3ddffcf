"""ImageBind towers: official key layout and sizes, strict loading, numerics against hand-written math, tokenizer."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omninft.reward_servers.models import imagebind as ib
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.imagebind.tokenizer import (
    ImageBindTokenizer,
    byte_symbols,
    vocab_and_merges_from_bpe,
)


@pytest.fixture(scope="module")
def tiny() -> ib.ImageBindModel:
    return ib.build(ib.ImageBindConfig.tiny(vocab_size=1000), seed=0)


# ------------------------------------------------------------------------------------------ layout / sizes


def test_huge_parameter_counts_match_the_spec() -> None:
    model = ib.build(ib.ImageBindConfig.huge(), device="meta")
    # specs/models.md §1.1, counted from the official code (state-dict entries, mask and scale buffers included)
    assert ib.describe(model) == {"vision": 632_829_440, "text": 354_038_570, "audio": 86_235_649}
    # 1311 official keys minus depth (177), thermal (177) and IMU (93)
    assert len(model.state_dict()) == 1311 - 447


def test_huge_key_layout_matches_the_checkpoint() -> None:
    sd = ib.build(ib.ImageBindConfig.huge(), device="meta").state_dict()
    expected = {
        "modality_preprocessors.vision.cls_token": (1, 1, 1280),
        "modality_preprocessors.vision.rgbt_stem.proj.1.weight": (1280, 3, 2, 14, 14),
        "modality_preprocessors.vision.pos_embedding_helper.pos_embed": (1, 257, 1280),
        "modality_preprocessors.text.token_embedding.weight": (49408, 1024),
        "modality_preprocessors.text.pos_embed": (1, 77, 1024),
        "modality_preprocessors.text.mask": (77, 77),
        "modality_preprocessors.audio.rgbt_stem.proj.weight": (768, 1, 16, 16),
        "modality_preprocessors.audio.rgbt_stem.norm_layer.weight": (768,),
        "modality_preprocessors.audio.cls_token": (1, 1, 768),
        "modality_preprocessors.audio.pos_embedding_helper.pos_embed": (1, 229, 768),
        "modality_trunks.vision.pre_transformer_layer.0.weight": (1280,),
        "modality_trunks.vision.blocks.31.attn.in_proj_weight": (3840, 1280),
        "modality_trunks.vision.blocks.31.attn.out_proj.bias": (1280,),
        "modality_trunks.text.blocks.23.norm_1.weight": (1024,),
        "modality_trunks.text.blocks.0.mlp.fc1.weight": (4096, 1024),
        "modality_trunks.audio.blocks.11.attn.bias_k": (1, 1, 768),
        "modality_trunks.audio.blocks.11.attn.bias_v": (1, 1, 768),
        "modality_trunks.audio.blocks.0.mlp.fc2.weight": (768, 3072),
        "modality_heads.vision.0.weight": (1280,),
        "modality_heads.vision.2.weight": (1024, 1280),
        "modality_heads.text.proj.0.bias": (1024,),
        "modality_heads.text.proj.1.weight": (1024, 1024),
        "modality_heads.audio.2.weight": (1024, 768),
        "modality_postprocessors.text.1.log_logit_scale": (),
        "modality_postprocessors.audio.1.log_logit_scale": (),
    }
    assert {k: tuple(sd[k].shape) for k in expected} == expected
    assert not any("bias_k" in k for k in sd if ".vision." in k or ".text." in k)
    assert "modality_trunks.text.pre_transformer_layer.0.weight" not in sd  # Identity there


def _official_layout(model: ib.ImageBindModel) -> dict[str, torch.Tensor]:
    """The model's state dict plus the extra modalities a real checkpoint has (a few representative keys)."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["modality_preprocessors.depth.cls_token"] = torch.zeros(1, 1, 8)
    sd["modality_trunks.thermal.blocks.0.attn.bias_k"] = torch.zeros(1, 1, 8)
    sd["modality_heads.imu.3.weight"] = torch.zeros(4, 8)
    sd["modality_postprocessors.imu.1.log_logit_scale"] = torch.tensor(1.0)
    return sd


def test_tiny_state_dict_round_trips_strict(tiny: ib.ImageBindModel, tmp_path: Path) -> None:
    path = tmp_path / "imagebind_tiny.pth"
    torch.save(_official_layout(tiny), path)
    loaded, ident = ib.load_official(str(path), config=tiny.config)
    assert not ident.tiny and len(ident.sha256) == 64 and ident.weights_id == f"local:{path.resolve()}"
    for k, v in tiny.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    x = torch.randn(2, 1, 128, 204)
    torch.testing.assert_close(loaded.embed_audio(x), tiny.embed_audio(x))


def test_strict_loading_reports_bad_keys(tiny: ib.ImageBindModel) -> None:
    sd = _official_layout(tiny)
    model = ib.build(tiny.config, seed=1)
    broken = dict(sd)
    del broken["modality_trunks.audio.blocks.1.attn.bias_k"]
    with pytest.raises(WeightsLoadError, match="missing.*bias_k"):
        ib.load_state_dict(model, broken)
    with pytest.raises(WeightsLoadError, match="unexpected.*blocks.9"):
        ib.load_state_dict(model, {**sd, "modality_trunks.text.blocks.9.norm_1.weight": torch.zeros(32)})
    with pytest.raises(WeightsLoadError, match="mismatched"):
        ib.load_state_dict(model, {**sd, "modality_heads.audio.2.weight": torch.zeros(3, 3)})
    with pytest.raises(WeightsLoadError, match="not an ImageBind"):
        ib.load_state_dict(model, {**sd, "visual.proj": torch.zeros(1)})


# ---------------------------------------------------------------------------------------------- numerics


def _block(
    x: torch.Tensor, p: dict[str, torch.Tensor], heads: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """One pre-norm block, batch-first, written with plain tensor ops."""

    def ln(t: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(t, t.shape[-1:], p[f"{name}.weight"], p[f"{name}.bias"], eps=1e-6)

    b, length, d = x.shape
    h = ln(x, "norm_1")
    q, k, v = (h @ p["attn.in_proj_weight"].T + p["attn.in_proj_bias"]).chunk(3, dim=-1)
    if "attn.bias_k" in p:  # one extra learned key/value position at the end
        k = torch.cat([k, p["attn.bias_k"].expand(b, 1, d)], dim=1)
        v = torch.cat([v, p["attn.bias_v"].expand(b, 1, d)], dim=1)

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, t.shape[1], heads, d // heads).transpose(1, 2)

    logits = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads)
    if mask is not None:
        logits = logits + mask
    att = (logits.softmax(-1) @ split(v)).transpose(1, 2).reshape(b, length, d)
    x = x + att @ p["attn.out_proj.weight"].T + p["attn.out_proj.bias"]
    m = (
        F.gelu(ln(x, "norm_2") @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]) @ p["mlp.fc2.weight"].T
        + p["mlp.fc2.bias"]
    )
    return x + m


def _trunk(
    sd: dict[str, torch.Tensor], mod: str, x: torch.Tensor, depth: int, heads: int, mask=None
) -> torch.Tensor:
    pre = f"modality_trunks.{mod}."
    if pre + "pre_transformer_layer.0.weight" in sd:
        x = F.layer_norm(
            x,
            x.shape[-1:],
            sd[pre + "pre_transformer_layer.0.weight"],
            sd[pre + "pre_transformer_layer.0.bias"],
            eps=1e-6,
        )
    for i in range(depth):
        bp = f"{pre}blocks.{i}."
        x = _block(x, {k[len(bp) :]: v for k, v in sd.items() if k.startswith(bp)}, heads, mask)
    return x


def _head(sd: dict[str, torch.Tensor], mod: str, token: torch.Tensor) -> torch.Tensor:
    h = f"modality_heads.{mod}."
    t = F.layer_norm(token, token.shape[-1:], sd[h + "0.weight"], sd[h + "0.bias"], eps=1e-6)
    return t @ sd[h + "2.weight"].T


def test_vision_equals_hand_written_math(tiny: ib.ImageBindModel) -> None:
    sd, c = tiny.state_dict(), tiny.config
    img = torch.randn(2, 3, 224, 224)
    w = sd["modality_preprocessors.vision.rgbt_stem.proj.1.weight"]
    # an image is a clip of two equal frames: the 3-D conv reduces to a 2-D conv with the summed kernel
    tokens = F.conv2d(img, w.sum(dim=2), stride=14).flatten(2).transpose(1, 2)
    cls = sd["modality_preprocessors.vision.cls_token"].expand(2, -1, -1)
    x = torch.cat([cls, tokens], 1) + sd["modality_preprocessors.vision.pos_embedding_helper.pos_embed"]
    x = _trunk(sd, "vision", x, c.vision_num_blocks, c.vision_num_heads)
    ref = F.normalize(_head(sd, "vision", x[:, 0]), dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(tiny.embed_vision(img), ref, atol=2e-5, rtol=1e-4)
        clip = img[:, :, None].repeat(1, 1, 2, 1, 1)
        torch.testing.assert_close(tiny.embed_vision(clip), ref, atol=2e-5, rtol=1e-4)


def test_audio_equals_hand_written_math(tiny: ib.ImageBindModel) -> None:
    sd, c = tiny.state_dict(), tiny.config
    fb = torch.randn(3, 1, 128, 204)
    pre = "modality_preprocessors.audio."
    tokens = F.conv2d(fb, sd[pre + "rgbt_stem.proj.weight"], stride=10).flatten(2).transpose(1, 2)
    assert tokens.shape[1] == 12 * 19
    tokens = F.layer_norm(
        tokens,
        tokens.shape[-1:],
        sd[pre + "rgbt_stem.norm_layer.weight"],
        sd[pre + "rgbt_stem.norm_layer.bias"],
        eps=1e-5,
    )
    x = (
        torch.cat([sd[pre + "cls_token"].expand(3, -1, -1), tokens], 1)
        + sd[pre + "pos_embedding_helper.pos_embed"]
    )
    x = _trunk(sd, "audio", x, c.audio_num_blocks, c.audio_num_heads)
    ref = 20.0 * F.normalize(_head(sd, "audio", x[:, 0]), dim=-1)
    with torch.no_grad():
        out = tiny.embed_audio(fb)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.norm(dim=-1), torch.full((3,), 20.0))


def test_text_equals_hand_written_math(tiny: ib.ImageBindModel) -> None:
    sd, c = tiny.state_dict(), tiny.config
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[0, :5] = torch.tensor([998, 10, 20, 30, 999])
    ids[1, :3] = torch.tensor([998, 40, 999])
    pre = "modality_preprocessors.text."
    x = sd[pre + "token_embedding.weight"][ids] + sd[pre + "pos_embed"]
    causal = torch.full((77, 77), float("-inf")).triu(1)
    x = _trunk(sd, "text", x, c.text_num_blocks, c.text_num_heads, mask=causal)
    eos = x[torch.arange(2), torch.tensor([4, 2])]
    h = "modality_heads.text.proj."
    eos = (
        F.layer_norm(eos, eos.shape[-1:], sd[h + "0.weight"], sd[h + "0.bias"], eps=1e-6)
        @ sd[h + "1.weight"].T
    )
    ref = (1 / 0.07) * F.normalize(eos, dim=-1)
    with torch.no_grad():
        out = tiny.embed_text(ids)
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
        # causal: tokens after EOT (padding) cannot change the embedding
        other = ids.clone()
        other[:, 10:] = 7
        torch.testing.assert_close(tiny.embed_text(other), out)


def test_forward_averages_clip_sets(tiny: ib.ImageBindModel) -> None:
    fb = torch.randn(2, 3, 1, 128, 204)
    clips = torch.randn(1, 2, 3, 2, 224, 224)
    with torch.no_grad():
        out = tiny({"audio": fb, "vision": clips})
        torch.testing.assert_close(
            out["audio"], tiny.embed_audio(fb.reshape(6, 1, 128, 204)).reshape(2, 3, -1).mean(1)
        )
        torch.testing.assert_close(out["vision"], tiny.embed_vision(clips[0]).mean(0, keepdim=True))


def test_logit_scale_is_clamped() -> None:
    scale = ib.model.LogitScale(1000.0, learnable=True)
    assert float(scale(torch.ones(1)).detach()) == pytest.approx(100.0)
    assert isinstance(scale.log_logit_scale, torch.nn.Parameter)
    fixed = ib.model.LogitScale(20.0, learnable=False)
    assert "log_logit_scale" in dict(fixed.named_buffers())


def test_seeded_build_is_reproducible() -> None:
    cfg = ib.ImageBindConfig.tiny()
    a, b = ib.build(cfg, seed=3), ib.build(cfg, seed=3)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


# --------------------------------------------------------------------------------------------- tokenizer


def test_tiny_tokenizer_framing_and_truncation() -> None:
    tok = ImageBindTokenizer.tiny()
    assert (tok.sot_id, tok.eot_id, tok.vocab_size) == (998, 999, 1000)
    ids = tok(["A dog  barks", "&amp; rain"])
    assert ids.shape == (2, 77) and ids.dtype == np.int64
    body = tok.encode("a dog barks")
    assert ids[0, : len(body) + 2].tolist() == [998, *body, 999] and (ids[0, len(body) + 2 :] == 0).all()
    assert tok.encode("&amp; rain") == tok.encode("& RAIN")  # html unescape + lower-case
    long = "dog " * 100
    cut = tok([long])[0]
    assert cut[0] == 998 and 999 not in cut.tolist()  # JavisBench copy: hard cut, EOT dropped
    kept = ImageBindTokenizer.tiny(keep_eot=True)([long])[0]
    assert kept[-1] == 999 and kept[:76].tolist() == cut[:76].tolist()


def _bpe_file(tmp_path: Path, merges: list[str]) -> Path:
    path = tmp_path / "bpe.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return path


def test_bpe_file_vocabulary_layout(tmp_path: Path) -> None:
    vocab, merges = vocab_and_merges_from_bpe(_bpe_file(tmp_path, ["d o", "do g</w>"]))
    # CLIP's layout: bytes in printable-first order, the same with </w>, merges, SOT, EOT
    assert vocab["!"] == 0 and vocab["a"] == 64 and vocab["!</w>"] == 256 and vocab["a</w>"] == 320
    assert vocab[byte_symbols()[0]] == 188  # byte 0 is the first remapped symbol
    assert (vocab["do"], vocab["dog</w>"]) == (512, 513)
    assert (vocab["<|startoftext|>"], vocab["<|endoftext|>"], len(vocab)) == (514, 515, 516)
    assert merges == [("d", "o"), ("do", "g</w>")]
    tok = ImageBindTokenizer.from_bpe_file(_bpe_file(tmp_path, ["d o", "do g</w>"]))
    assert tok.encode("Dog a") == [513, 320]
    assert tok.encode("dogs") == [512, 70, 338]  # do + g + s</w> (g = 103 - 33, s</w> = 256 + 115 - 33)
    assert tok(["dog"])[0, :4].tolist() == [514, 513, 515, 0]


def test_missing_official_files_say_how_to_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from omninft.reward_servers.weights import ENV_WEIGHTS_DIR

    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"fetch-weights --family imagebind"):
        ib.load_official("official")
    with pytest.raises(FileNotFoundError, match="fetch-weights --family imagebind"):
        ib.load_tokenizer()


def test_unreadable_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "imagebind_huge.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsLoadError, match="cannot read an ImageBind state dict"):
        ib.load_official(str(bad))
