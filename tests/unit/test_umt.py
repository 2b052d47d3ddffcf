"""UMT ViT-L/16 K400: official layout and size, the position table, an independent forward, the reference's
strict=False semantics, the clip transform, and ONNX export."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.models import umt as U
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.umt.frames import crop_offsets, resize_sizes
from omninft.reward_servers.models.umt.model import sinusoid_table
from omninft.reward_servers.weights import _url_target


@pytest.fixture(scope="module")
def tiny():
    model, ident, report = U.load("tiny", seed=0)
    return model, ident


def _official_keys(depth: int = 24) -> set[str]:
    """The checkpoint's keys, written out from modeling_finetune.py's module tree (mean pooling, no layer scale)."""
    block = [
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.q_bias",
        "attn.v_bias",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ]
    keys = {
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        "pos_embed",
        "fc_norm.weight",
        "fc_norm.bias",
        "head.weight",
        "head.bias",
    }
    return keys | {f"blocks.{i}.{b}" for i in range(depth) for b in block}


def _official_on_meta() -> U.UMTClassifier:
    with torch.device("meta"):  # shapes only: no 1.2 GB of random init
        return U.build(U.UMTConfig.official())


def test_official_layout_and_parameter_count():
    model = _official_on_meta()
    sd = model.state_dict()
    assert set(sd) == _official_keys()
    assert tuple(sd["patch_embed.proj.weight"].shape) == (1024, 3, 1, 16, 16)
    assert tuple(sd["pos_embed"].shape) == (1, 3136, 1024)
    assert tuple(sd["blocks.0.attn.qkv.weight"].shape) == (3072, 1024)
    assert tuple(sd["head.weight"].shape) == (400, 1024)
    # hand count: 24 x 12,595,200 + patch 787,456 + pos 3,211,264 + fc_norm 2,048 + head 410,000
    assert sum(p.numel() for p in model.parameters()) == 306_695_568


def test_position_table_is_the_time_interpolated_sinusoid():
    """Official: the 8x14x14 table, linearly resized to 16 frames (align_corners=False), checked by hand."""
    table = U.umt_position_table(U.UMTConfig.official())[0].numpy()
    s = sinusoid_table(1568, 1024)
    assert table.shape == (3136, 1024) and table.dtype == np.float32
    j = np.array([0, 1, 2, 511, 1023])
    for n in (0, 17, 195):
        np.testing.assert_allclose(
            table[0 * 196 + n, j], s[n, j], atol=1e-6
        )  # frame 0: source coord clamped to 0
        np.testing.assert_allclose(table[1 * 196 + n, j], 0.75 * s[n, j] + 0.25 * s[196 + n, j], atol=1e-6)
        np.testing.assert_allclose(
            table[6 * 196 + n, j], 0.25 * s[2 * 196 + n, j] + 0.75 * s[3 * 196 + n, j], atol=1e-6
        )  # frame 6 -> source 2.75
        np.testing.assert_allclose(table[15 * 196 + n, j], s[7 * 196 + n, j], atol=1e-6)  # clamped to 7
    # hand values of the sinusoid: position p, channel 2i -> sin(p / 10000^(2i/d)), 2i+1 -> cos(...)
    assert s[3, 0] == pytest.approx(np.sin(3.0)) and s[3, 1] == pytest.approx(np.cos(3.0))
    assert s[5, 2] == pytest.approx(np.sin(5 / 10000 ** (2 / 1024)))
    tiny = U.umt_position_table(U.UMTConfig.tiny())
    assert tuple(tiny.shape) == (1, 64, 32) and torch.isfinite(tiny).all()


def _reference_forward(sd: dict, cfg: U.UMTConfig, clip: torch.Tensor) -> torch.Tensor:
    """Per-frame 2-D patchify, explicit attention with q/v biases, mean pooling; from the state dict."""
    b, _, t, _, _ = clip.shape
    w = sd["patch_embed.proj.weight"][:, :, 0]
    tokens = [
        torch.nn.functional.conv2d(clip[:, :, ti], w, sd["patch_embed.proj.bias"], stride=cfg.patch_size)
        .flatten(2)
        .transpose(1, 2)
        for ti in range(t)
    ]
    x = torch.cat(tokens, dim=1) + sd["pos_embed"]
    d, h = cfg.width, cfg.heads

    def ln(v, p):
        return torch.nn.functional.layer_norm(v, (d,), sd[f"{p}.weight"], sd[f"{p}.bias"], eps=1e-6)

    for i in range(cfg.depth):
        p = f"blocks.{i}"
        y = ln(x, f"{p}.norm1")
        wq, wk, wv = sd[f"{p}.attn.qkv.weight"].split(d)
        q = (y @ wq.T + sd[f"{p}.attn.q_bias"]).reshape(b, -1, h, d // h).transpose(1, 2)
        k = (y @ wk.T).reshape(b, -1, h, d // h).transpose(1, 2)
        v = (y @ wv.T + sd[f"{p}.attn.v_bias"]).reshape(b, -1, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-1, -2) / (d // h) ** 0.5).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(b, -1, d)
        x = x + o @ sd[f"{p}.attn.proj.weight"].T + sd[f"{p}.attn.proj.bias"]
        y = ln(x, f"{p}.norm2") @ sd[f"{p}.mlp.fc1.weight"].T + sd[f"{p}.mlp.fc1.bias"]
        x = x + torch.nn.functional.gelu(y) @ sd[f"{p}.mlp.fc2.weight"].T + sd[f"{p}.mlp.fc2.bias"]
    return ln(x.mean(1), "fc_norm") @ sd["head.weight"].T + sd["head.bias"]


def test_tiny_matches_an_independent_forward_and_is_batch_independent(tiny):
    model, ident = tiny
    assert ident.tiny
    cfg = model.config
    clip = torch.randn(3, 3, 16, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    with torch.no_grad():
        # a non-trivial head (the reference initialises it x1e-3) so that differences would show
        model.head.weight.normal_(generator=torch.Generator().manual_seed(1))
        sd["head.weight"] = model.head.weight.detach().clone()
        got = model(clip)
        torch.testing.assert_close(got, _reference_forward(sd, cfg, clip), atol=1e-5, rtol=1e-4)
        alone = torch.cat([model(clip[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(got, alone, atol=1e-6, rtol=1e-5)
        with pytest.raises(ValueError, match="32x32"):
            model(torch.zeros(1, 3, 16, 48, 48))
    model.head.weight.data.copy_(U.load("tiny", seed=0)[0].head.weight)  # restore the shared fixture


def test_strict_false_semantics(tmp_path: Path, tiny):
    model, _ = tiny
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    # unexpected entries are ignored and reported; a missing pos_embed keeps its deterministic table
    extra = dict(sd, **{"cls_token": torch.zeros(1, 1, 32), "head_dropout.p": torch.zeros(1)})
    del extra["pos_embed"]
    fresh = U.build(U.UMTConfig.tiny())
    report = U.load_state_dict(fresh, {k: v.half() for k, v in extra.items()})
    assert report.ignored == ("cls_token", "head_dropout.p") and report.kept_initial == ("pos_embed",)
    assert torch.equal(fresh.pos_embed, U.umt_position_table(U.UMTConfig.tiny()))
    assert fresh.head.weight.dtype == torch.float32
    assert torch.equal(fresh.head.weight, sd["head.weight"].half().float())  # fp16 files are upcast
    # any other missing entry would be a random init in the reference: refused
    broken = dict(sd)
    del broken["blocks.1.mlp.fc2.bias"]
    with pytest.raises(WeightsLoadError, match=r"missing.*blocks\.1\.mlp\.fc2\.bias"):
        U.load_state_dict(U.build(U.UMTConfig.tiny()), broken)
    wrong = dict(sd, **{"head.weight": torch.zeros(10, 32)})
    with pytest.raises(WeightsLoadError, match="shape mismatch"):
        U.load_state_dict(U.build(U.UMTConfig.tiny()), wrong)


def test_official_checkpoint_resolves_from_the_cache(tmp_path: Path, tiny):
    model, _ = tiny
    target = _url_target(U.OFFICIAL_WEIGHTS, tmp_path)
    target.parent.mkdir(parents=True)
    torch.save(model.state_dict(), target)
    loaded, ident, report = U.load("official", cache_dir=tmp_path, architecture="tiny")
    assert not ident.tiny and ident.weights_id == U.OFFICIAL_WEIGHTS.source and report.ignored == ()
    assert ident.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    with pytest.raises(
        WeightsLoadError, match="shape mismatch"
    ):  # a tiny file does not fit the official network
        U.load_state_dict(_official_on_meta(), U.read_checkpoint(target))
    with pytest.raises(FileNotFoundError, match="umt"):
        U.load("official", cache_dir=tmp_path / "empty")


def test_kinetics_classes_are_the_head_order():
    classes = U.kinetics400_classes()
    assert len(classes) == 400 and classes[0] == "riding a bike" and classes[1] == "marching"
    assert classes[175] == "passing american football (in game)"  # lower-cased as the reference does
    assert all(c == c.lower() and c.strip() == c for c in classes)


def test_clip_transform_geometry_and_values():
    assert resize_sizes(240, 320, 256) == (256, 341)  # int(341.33)
    assert resize_sizes(320, 240, 256) == (341, 256)
    assert crop_offsets(256, 341, 224) == (16, 58)  # round(58.5) = 58 (half to even)
    assert crop_offsets(256, 343, 224) == (16, 60)  # round(59.5) = 60
    with pytest.raises(ValueError, match="smaller"):
        crop_offsets(200, 300, 224)
    flat = np.full((16, 240, 320, 3), (10, 128, 250), np.uint8)
    x = U.umt_clip(flat)
    assert x.shape == (3, 16, 224, 224) and x.dtype == np.float32
    for c, v in enumerate((10, 128, 250)):
        np.testing.assert_allclose(
            x[c],
            (np.float32(v) / np.float32(255) - U.frames.IMAGENET_MEAN[c]) / U.frames.IMAGENET_STD[c],
            rtol=1e-6,
        )


def test_clip_transform_matches_opencv_and_skips_a_256_short_side():
    import cv2

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 120, 90, 3), dtype=np.uint8)
    x = U.umt_clip(frames, resize=64, crop=48)
    ref = cv2.resize(frames[1], (64, 85), interpolation=cv2.INTER_LINEAR)  # short 90 -> 64, long int(85.33)
    top, left = round((85 - 48) / 2), round((64 - 48) / 2)
    want = ref[top : top + 48, left : left + 48, 0].astype(np.float32) / 255
    np.testing.assert_allclose(
        x[0, 1] * U.frames.IMAGENET_STD[0] + U.frames.IMAGENET_MEAN[0], want, atol=1e-6
    )
    same = rng.integers(0, 256, (1, 64, 80, 3), dtype=np.uint8)  # short side already 64: not resampled
    y = U.umt_clip(same, resize=64, crop=48)
    np.testing.assert_allclose(
        y[2, 0] * U.frames.IMAGENET_STD[2] + U.frames.IMAGENET_MEAN[2],
        same[0, 8:56, 16:64, 2].astype(np.float32) / 255,
        atol=1e-6,
    )


@pytest.mark.slow
def test_onnx_export_matches_torch(tmp_path: Path, tiny):
    from omninft.reward_servers.backends import create_backend
    from omninft.reward_servers.backends.base import GraphSpec
    from omninft.reward_servers.backends.torch_backend import TorchBackend

    model, _ = tiny
    s = model.config.image_size
    rng = np.random.default_rng(0)

    def graphs() -> dict[str, GraphSpec]:
        return {
            "umt": GraphSpec(
                U.UMTCore(model).eval(),
                ("clip",),
                ("probs",),
                {"clip": rng.standard_normal((2, 3, 16, s, s)).astype(np.float32)},
            )
        }

    ort = create_backend(
        "onnxruntime", graphs(), onnx_dir=str(tmp_path), cache_key="umt-test", max_batch_size=4
    )
    feed = {"clip": rng.standard_normal((3, 3, 16, s, s)).astype(np.float32)}
    np.testing.assert_allclose(
        ort.run("umt", feed)["probs"], TorchBackend(graphs()).run("umt", feed)["probs"], atol=2e-6, rtol=1e-4
    )
