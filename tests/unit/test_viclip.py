"""ViCLIP: official key layout and sizes, an independent forward reference, tokenizer framing, frames, ONNX."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.models import viclip as V
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.viclip.frames import center_crop_offsets, short_side_size
from omninft.reward_servers.weights import WeightsIntegrityError, _url_target


@pytest.fixture(scope="module")
def tiny():
    return V.load("tiny", seed=0)


def _official_keys(vision_layers: int = 24, text_layers: int = 12) -> set[str]:
    """The checkpoint's keys, written out from the reference's module tree (viclip.py, viclip_vision.py, _text.py)."""
    block = [
        "attn.in_proj_weight",
        "attn.in_proj_bias",
        "attn.out_proj.weight",
        "attn.out_proj.bias",
        "ln_1.weight",
        "ln_1.bias",
        "mlp.c_fc.weight",
        "mlp.c_fc.bias",
        "mlp.c_proj.weight",
        "mlp.c_proj.bias",
        "ln_2.weight",
        "ln_2.bias",
    ]
    keys = {"temp"}
    keys |= {
        f"vision_encoder.{k}"
        for k in (
            "conv1.weight",
            "class_embedding",
            "positional_embedding",
            "temporal_positional_embedding",
            "ln_pre.weight",
            "ln_pre.bias",
            "ln_post.weight",
            "ln_post.bias",
            "proj",
        )
    }
    keys |= {f"vision_encoder.transformer.resblocks.{i}.{b}" for i in range(vision_layers) for b in block}
    keys |= {
        f"text_encoder.{k}"
        for k in (
            "token_embedding.weight",
            "positional_embedding",
            "ln_final.weight",
            "ln_final.bias",
            "text_projection",
        )
    }
    keys |= {f"text_encoder.transformer.resblocks.{i}.{b}" for i in range(text_layers) for b in block}
    return keys


def test_official_layout_shapes_and_parameter_count():
    model = V.build(V.ViCLIPConfig.official())
    sd = model.state_dict()
    assert set(sd) == _official_keys()
    assert tuple(sd["vision_encoder.conv1.weight"].shape) == (1024, 3, 1, 14, 14)
    assert tuple(sd["vision_encoder.positional_embedding"].shape) == (257, 1024)
    assert tuple(sd["vision_encoder.temporal_positional_embedding"].shape) == (1, 8, 1024)
    assert tuple(sd["vision_encoder.proj"].shape) == (1024, 768)
    assert tuple(sd["text_encoder.token_embedding.weight"].shape) == (49408, 768)
    assert tuple(sd["text_encoder.positional_embedding"].shape) == (32, 768)
    assert tuple(sd["text_encoder.text_projection"].shape) == (768, 768)
    # hand count: vision 303,974,400 (24 blocks x 12,596,224 + stem/head), text 123,615,744, temp 1
    assert V.param_counts(model) == {"vision": 303_974_400, "text": 123_615_744, "total": 427_590_145}


def _mha(x: torch.Tensor, sd: dict, p: str, heads: int, mask: torch.Tensor | None) -> torch.Tensor:
    """Multi-head self-attention written out from the packed in_proj weights. x: (B, L, D)."""
    b, n, d = x.shape
    q, k, v = (x @ sd[f"{p}.in_proj_weight"].T + sd[f"{p}.in_proj_bias"]).split(d, dim=-1)

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, n, heads, d // heads).transpose(1, 2)

    att = split(q) @ split(k).transpose(-1, -2) / (d // heads) ** 0.5
    if mask is not None:
        att = att + mask
    out = (att.softmax(-1) @ split(v)).transpose(1, 2).reshape(b, n, d)
    return out @ sd[f"{p}.out_proj.weight"].T + sd[f"{p}.out_proj.bias"]


def _blocks(x: torch.Tensor, sd: dict, prefix: str, layers: int, heads: int, mask=None) -> torch.Tensor:
    def ln(t, p):
        return torch.nn.functional.layer_norm(t, t.shape[-1:], sd[f"{p}.weight"], sd[f"{p}.bias"])

    for i in range(layers):
        p = f"{prefix}.{i}"
        x = x + _mha(ln(x, f"{p}.ln_1"), sd, f"{p}.attn", heads, mask)
        h = ln(x, f"{p}.ln_2") @ sd[f"{p}.mlp.c_fc.weight"].T + sd[f"{p}.mlp.c_fc.bias"]
        x = x + (h * torch.sigmoid(1.702 * h)) @ sd[f"{p}.mlp.c_proj.weight"].T + sd[f"{p}.mlp.c_proj.bias"]
    return x


def _reference_video(sd: dict, cfg: V.ViCLIPConfig, frames: torch.Tensor) -> torch.Tensor:
    """Frame by frame, token by token, in the reference's order: class, then for each patch its T frames."""
    b, t = frames.shape[:2]
    p, g = cfg.patch_size, cfg.grid
    w2d = sd["vision_encoder.conv1.weight"][:, :, 0]
    pos, tpos = (
        sd["vision_encoder.positional_embedding"],
        sd["vision_encoder.temporal_positional_embedding"][0],
    )
    rows = []
    for bi in range(b):
        tokens = [sd["vision_encoder.class_embedding"] + pos[0]]
        feats = [torch.nn.functional.conv2d(frames[bi, ti][None], w2d, stride=p)[0] for ti in range(t)]
        for n in range(g * g):
            for ti in range(t):
                tokens.append(feats[ti][:, n // g, n % g] + pos[1 + n] + tpos[ti])
        rows.append(torch.stack(tokens))
    x = torch.stack(rows)
    x = torch.nn.functional.layer_norm(
        x, x.shape[-1:], sd["vision_encoder.ln_pre.weight"], sd["vision_encoder.ln_pre.bias"]
    )
    x = _blocks(x, sd, "vision_encoder.transformer.resblocks", cfg.vision_layers, cfg.vision_heads)
    x = torch.nn.functional.layer_norm(
        x, x.shape[-1:], sd["vision_encoder.ln_post.weight"], sd["vision_encoder.ln_post.bias"]
    )
    return x[:, 0] @ sd["vision_encoder.proj"]


def _reference_text(sd: dict, cfg: V.ViCLIPConfig, ids: torch.Tensor) -> torch.Tensor:
    x = sd["text_encoder.token_embedding.weight"][ids] + sd["text_encoder.positional_embedding"]
    mask = torch.triu(torch.full((ids.shape[1],) * 2, float("-inf")), 1)
    x = _blocks(x, sd, "text_encoder.transformer.resblocks", cfg.text_layers, cfg.text_heads, mask)
    x = torch.nn.functional.layer_norm(
        x, x.shape[-1:], sd["text_encoder.ln_final.weight"], sd["text_encoder.ln_final.bias"]
    )
    eot = [int(np.argmax(r)) for r in ids.numpy()]
    return torch.stack([x[i, e] for i, e in enumerate(eot)]) @ sd["text_encoder.text_projection"]


def test_tiny_matches_an_independent_forward(tiny):
    model, tok, ident = tiny
    assert ident.tiny and ident.weights_id == "tiny-random(seed=0)"
    cfg = model.config
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    frames = torch.randn(2, 8, 3, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = model.encode_video(frames)
        ref = _reference_video(sd, cfg, frames)
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
        ids = torch.from_numpy(tok(["a dog runs on the beach", "rain", "x " * 40]))
        torch.testing.assert_close(
            model.encode_text(ids), _reference_text(sd, cfg, ids), atol=1e-5, rtol=1e-4
        )


def test_single_frame_uses_mean_temporal_embedding(tiny):
    model, _, _ = tiny
    cfg = model.config
    s = cfg.image_size
    one = torch.randn(1, 1, 3, s, s, generator=torch.Generator().manual_seed(1))
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    sd["vision_encoder.temporal_positional_embedding"] = sd[
        "vision_encoder.temporal_positional_embedding"
    ].mean(1, keepdim=True)
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode_video(one), _reference_video(sd, cfg, one), atol=1e-5, rtol=1e-4
        )
        with pytest.raises(ValueError, match="8 frames"):
            model.encode_video(torch.zeros(1, 3, 3, s, s))


def test_tokenizer_frames_32_tokens_and_forces_eot_on_truncation(tiny):
    _, tok, _ = tiny
    ids = tok(["a dog", "word " * 60])
    assert ids.shape == (2, 32) and ids.dtype == np.int64
    sot, eot = tok.sot_id, tok.eot_id
    n = len(tok.encode("a dog"))
    assert ids[0, 0] == sot and ids[0, n + 1] == eot and not ids[0, n + 2 :].any()
    assert ids[1, 0] == sot and ids[1, -1] == eot and (ids[1, 1:-1] != eot).all()
    assert ids[1, 1:-1].tolist() == tok.encode("word " * 60)[:30]


def test_embeddings_are_batch_independent(tiny):
    model, tok, _ = tiny
    s = model.config.image_size
    clips = torch.randn(3, 8, 3, s, s, generator=torch.Generator().manual_seed(2))
    core = V.VideoCore(model)
    with torch.no_grad():
        together = core(clips)
        alone = torch.cat([core(clips[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(together.norm(dim=-1), torch.ones(3))


def test_short_side_and_crop_geometry():
    assert short_side_size(240, 320, 224) == (224, 298)  # int(298.67): floored (specs/vbench.md §12)
    assert short_side_size(320, 240, 224) == (298, 224)
    assert short_side_size(100, 100, 224) == (224, 224)
    assert center_crop_offsets(224, 298, 224) == (0, 37)
    assert center_crop_offsets(224, 299, 224) == (0, 38)  # round(37.5) = 38 (half to even)
    assert center_crop_offsets(224, 297, 224) == (0, 36)  # round(36.5) = 36


def test_frames_clamp_round_and_normalise():
    flat = np.full((8, 24, 32, 3), 128, np.uint8)
    x = V.viclip_frames(flat, size=16)
    assert x.shape == (8, 3, 16, 16) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], (128 / 255 - 0.48145466) / 0.26862954, rtol=1e-6)
    # a hard 0/255 edge: bicubic overshoots, the uint8 path clamps and rounds, so values stay on the 1/255 grid
    edge = np.zeros((1, 30, 30, 3), np.uint8)
    edge[:, :, 15:] = 255
    y = V.viclip_frames(edge, size=16)[:, 0] * 0.26862954 + 0.48145466
    levels = y * 255
    np.testing.assert_allclose(levels, np.round(levels), atol=2e-4)
    assert levels.min() > -1e-3 and levels.max() < 255 + 1e-3
    with pytest.raises(ValueError, match="uint8"):
        V.viclip_frames(flat.astype(np.float32))


def test_official_checkpoint_round_trip_strict(tmp_path: Path, tiny):
    """A state dict under `model` at the cached location of the official URL loads strictly as "official"."""
    src, tiny_tok, _ = tiny
    target = _url_target(V.OFFICIAL_WEIGHTS, tmp_path)
    target.parent.mkdir(parents=True)
    torch.save({"model": src.state_dict(), "epoch": 0}, target)
    bpe = _url_target(V.OFFICIAL_BPE, tmp_path)
    with pytest.raises(FileNotFoundError):  # the vocabulary is a separate, required companion file
        V.load("official", cache_dir=tmp_path, architecture="tiny")
    _write_tiny_bpe(bpe)
    with pytest.raises(WeightsIntegrityError):  # the official vocabulary is pinned by its sha256
        V.load("official", cache_dir=tmp_path, architecture="tiny")
    model, tok, ident = V.load("official", cache_dir=tmp_path, architecture="tiny", tokenizer_source=str(bpe))
    assert not ident.tiny and ident.weights_id == V.OFFICIAL_WEIGHTS.source
    assert ident.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert tok.context_length == 32 and tok.keep_eot
    np.testing.assert_array_equal(tok(["a dog barks", "y " * 50]), tiny_tok(["a dog barks", "y " * 50]))
    bad = src.state_dict()
    bad.pop("temp")
    bad["vision_encoder.extra"] = torch.zeros(1)
    torch.save({"model": bad}, tmp_path / "bad.pth")
    with pytest.raises(WeightsLoadError, match=r"missing.*temp.*unexpected.*vision_encoder\.extra"):
        V.load(str(tmp_path / "bad.pth"), tokenizer_source=str(bpe), architecture="tiny")
    with pytest.raises(WeightsLoadError, match="shape mismatch"):  # a tiny file is not the official network
        V.load(str(target), tokenizer_source=str(bpe))


def _write_tiny_bpe(path: Path) -> None:
    """A bpe_simple_vocab-format file (header + merges) from the tiny tokenizer's merges."""
    import gzip

    from omninft.reward_servers.models.tiny_tokenizers import _train_clip_bpe

    _, merges = _train_clip_bpe(1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")


@pytest.mark.slow
def test_onnx_export_matches_torch(tmp_path: Path, tiny):
    from omninft.reward_servers.backends import create_backend
    from omninft.reward_servers.backends.base import GraphSpec
    from omninft.reward_servers.backends.torch_backend import TorchBackend

    model, tok, _ = tiny
    s = model.config.image_size
    rng = np.random.default_rng(0)

    def graphs() -> dict[str, GraphSpec]:
        return {
            "video": GraphSpec(
                V.VideoCore(model).eval(),
                ("frames",),
                ("embeds",),
                {"frames": rng.standard_normal((2, 8, 3, s, s)).astype(np.float32)},
            ),
            "text": GraphSpec(
                V.TextCore(model).eval(), ("input_ids",), ("embeds",), {"input_ids": tok(["a", "b c"])}
            ),
        }

    ort = create_backend(
        "onnxruntime", graphs(), onnx_dir=str(tmp_path), cache_key="viclip-test", max_batch_size=4
    )
    eager = TorchBackend(graphs())
    feeds = {
        "video": {"frames": np.random.default_rng(0).standard_normal((3, 8, 3, s, s)).astype(np.float32)},
        "text": {"input_ids": tok(["a cat", "waves on sand, zoom in", "x " * 50])},
    }
    for name, feed in feeds.items():
        np.testing.assert_allclose(
            ort.run(name, feed)["embeds"], eager.run(name, feed)["embeds"], atol=2e-5, rtol=1e-4
        )
