"""GRiT end to end: the official key layout (enumerated from the reference modules), strict loading, tiny inference."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from omninft.reward_servers.models import grit
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.grit import GRiT, GRiTConfig, GRiTDetections


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    model, ident = grit.load("tiny", seed=0)
    return model, ident, grit.load_decoder("tiny")


def _frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Noise with two flat rectangles, uint8 RGB."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[h // 8 : h // 2, w // 8 : w // 2] = (200, 30, 30)
    img[h // 2 : h - 4, w // 2 : w - 4] = (20, 40, 220)
    return img


# -------------------------------------------------------------------------------------------- key layout


def _reference_layout() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of grit_b_densecap_objectdet.pth's "model", written out from the reference modules
    (GRiT ViT/ViT_FPN, CenterNetHead, CascadeROIHeads + GRiTFastRCNNOutputLayers, MaskRCNNConvUpsampleHead,
    TransformerDecoderTextualHead with decoder_type 'bert_en')."""
    d, c, hd = 768, 256, 64
    keys: dict[str, tuple[int, ...]] = {
        "backbone.bottom_up.pos_embed": (1, 197, d),
        "backbone.bottom_up.patch_embed.proj.weight": (d, 3, 16, 16),
        "backbone.bottom_up.patch_embed.proj.bias": (d,),
    }
    for i in range(12):
        p = f"backbone.bottom_up.blocks.{i}."
        rel = 127 if i in (2, 5, 8, 11) else 27
        keys.update(
            {
                p + "norm1.weight": (d,),
                p + "norm1.bias": (d,),
                p + "attn.qkv.weight": (3 * d, d),
                p + "attn.qkv.bias": (3 * d,),
                p + "attn.proj.weight": (d, d),
                p + "attn.proj.bias": (d,),
                p + "attn.rel_pos_h": (rel, hd),
                p + "attn.rel_pos_w": (rel, hd),
                p + "norm2.weight": (d,),
                p + "norm2.bias": (d,),
                p + "mlp.fc1.weight": (4 * d, d),
                p + "mlp.fc1.bias": (4 * d,),
                p + "mlp.fc2.weight": (d, 4 * d),
                p + "mlp.fc2.bias": (d,),
            }
        )
    keys["backbone.fpn_stride_16_8.weight"] = (d, d, 2, 2)
    for s in (8, 16, 32):
        p = f"backbone.fpn_stride{s}_"
        keys.update({p + "conv1.weight": (c, d, 1, 1), p + "conv2.weight": (c, c, 3, 3)})
        for n in ("norm1", "norm2"):
            keys.update({p + n + ".weight": (c,), p + n + ".bias": (c,)})
    for n in ("p6", "p7"):
        keys.update({f"backbone.top_block.{n}.weight": (c, c, 3, 3), f"backbone.top_block.{n}.bias": (c,)})
    p = "proposal_generator.centernet_head."
    for i in range(4):  # Sequential(conv, GroupNorm, ReLU) x 4
        keys.update(
            {
                f"{p}bbox_tower.{3 * i}.weight": (c, c, 3, 3),
                f"{p}bbox_tower.{3 * i}.bias": (c,),
                f"{p}bbox_tower.{3 * i + 1}.weight": (c,),
                f"{p}bbox_tower.{3 * i + 1}.bias": (c,),
            }
        )
    keys.update(
        {
            p + "bbox_pred.weight": (4, c, 3, 3),
            p + "bbox_pred.bias": (4,),
            p + "agn_hm.weight": (1, c, 3, 3),
            p + "agn_hm.bias": (1,),
        }
    )
    keys.update({f"{p}scales.{i}.scale": (1,) for i in range(5)})
    for k in range(3):
        keys.update(
            {
                f"roi_heads.box_head.{k}.fc1.weight": (1024, c * 49),
                f"roi_heads.box_head.{k}.fc1.bias": (1024,),
                f"roi_heads.box_head.{k}.fc2.weight": (1024, 1024),
                f"roi_heads.box_head.{k}.fc2.bias": (1024,),
                f"roi_heads.box_predictor.{k}.cls_score.weight": (2, 1024),
                f"roi_heads.box_predictor.{k}.cls_score.bias": (2,),
                f"roi_heads.box_predictor.{k}.bbox_pred.0.weight": (1024, 1024),
                f"roi_heads.box_predictor.{k}.bbox_pred.0.bias": (1024,),
                f"roi_heads.box_predictor.{k}.bbox_pred.2.weight": (4, 1024),
                f"roi_heads.box_predictor.{k}.bbox_pred.2.bias": (4,),
            }
        )
    for i in range(1, 5):
        keys.update(
            {
                f"roi_heads.mask_head.mask_fcn{i}.weight": (c, c, 3, 3),
                f"roi_heads.mask_head.mask_fcn{i}.bias": (c,),
            }
        )
    keys.update(
        {
            "roi_heads.mask_head.deconv.weight": (c, c, 2, 2),
            "roi_heads.mask_head.deconv.bias": (c,),
            "roi_heads.mask_head.predictor.weight": (1, c, 1, 1),
            "roi_heads.mask_head.predictor.bias": (1,),
        }
    )
    for dec in ("text_decoder", "text_decoder_det"):
        p = f"roi_heads.{dec}.textual."
        keys.update(
            {
                p + "object_feature_projection.0.weight": (d, c),
                p + "object_feature_projection.0.bias": (d,),
                p + "object_feature_projection.1.weight": (d,),
                p + "object_feature_projection.1.bias": (d,),
                p + "embedding.words.weight": (30522, d),
                p + "embedding.positions.weight": (1024, d),
                p + "embedding.layer_norm.weight": (d,),
                p + "embedding.layer_norm.bias": (d,),
                p + "output.weight": (30522, d),
                p + "output.bias": (30522,),
            }
        )
        for i in range(6):
            q = f"{p}transformer.encoder.layer.{i}."
            for n in ("query", "key", "value"):
                keys.update({f"{q}attention.self.{n}.weight": (d, d), f"{q}attention.self.{n}.bias": (d,)})
            keys.update(
                {
                    q + "attention.output.dense.weight": (d, d),
                    q + "attention.output.dense.bias": (d,),
                    q + "attention.output.LayerNorm.weight": (d,),
                    q + "attention.output.LayerNorm.bias": (d,),
                    q + "intermediate.dense.weight": (3072, d),
                    q + "intermediate.dense.bias": (3072,),
                    q + "output.dense.weight": (d, 3072),
                    q + "output.dense.bias": (d,),
                    q + "output.LayerNorm.weight": (d,),
                    q + "output.LayerNorm.bias": (d,),
                }
            )
    return keys


def test_official_layout_matches_the_reference_modules():
    with torch.device("meta"):
        model = GRiT(GRiTConfig.official())
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ref = _reference_layout()
    assert sorted(set(ref) - set(ours)) == [] and sorted(set(ours) - set(ref)) == []
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}


def test_full_size_parameter_count():
    with torch.device("meta"):
        model = GRiT(GRiTConfig.official())
    n = sum(p.numel() for p in model.parameters())  # shared/tied tensors counted once
    d = 768
    block = 2 * 2 * d + 3 * d * d + 3 * d + d * d + d + 2 * (4 * d * d) + 4 * d + d
    vit = 12 * block + 8 * 2 * 27 * 64 + 4 * 2 * 127 * 64 + 3 * 256 * d + d + 197 * d
    fpn = d * d * 4 + 3 * (d * 256 + 256 * 256 * 9 + 4 * 256) + 2 * (256 * 256 * 9 + 256)
    centernet = 4 * (256 * 256 * 9 + 256 + 2 * 256) + 4 * 256 * 9 + 4 + 256 * 9 + 1 + 5
    cascade = 3 * (
        12544 * 1024 + 1024 + 1024 * 1024 + 1024 + 2 * 1024 + 2 + 1024 * 1024 + 1024 + 4 * 1024 + 4
    )
    mask = 4 * (256 * 256 * 9 + 256) + 256 * 256 * 4 + 256 + 256 + 1
    bert_layer = 4 * (d * d + d) + 2 * 2 * d + 2 * 3072 * d + 3072 + d
    text = d * 256 + d + 2 * d + 30522 * d + 1024 * d + 2 * d + 6 * bert_layer + 30522
    assert n == vit + fpn + centernet + cascade + mask + text == 208_627_543


# ----------------------------------------------------------------------------------------------- loading


def test_strict_checkpoint_round_trip(tiny, tmp_path):
    model, _, _ = tiny
    path = tmp_path / "grit_tiny.pth"
    torch.save({"model": model.state_dict(), "iteration": 7, "pixel_mean": torch.zeros(3)}, path)
    fresh = grit.build(GRiTConfig.tiny())
    grit.load_official(fresh, path)
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    sd = dict(model.state_dict())
    del sd["roi_heads.box_predictor.2.cls_score.bias"]
    sd["roi_heads.box_predictor.9.cls_score.bias"] = torch.zeros(2)
    torch.save({"model": sd}, path)
    with pytest.raises(WeightsLoadError, match=r"missing.*box_predictor\.2.*unexpected.*box_predictor\.9"):
        grit.load_official(grit.build(GRiTConfig.tiny()), path)


def test_official_architecture_refuses_a_tiny_checkpoint(tiny, tmp_path):
    model, _, _ = tiny
    path = tmp_path / "grit.pth"
    torch.save(model.state_dict(), path)  # bare state dict also accepted as a layout
    with pytest.raises(WeightsLoadError, match="shape mismatch"):
        grit.load(str(path))


def test_identity_and_official_spec(tiny):
    _, ident, _ = tiny
    assert ident.tiny and ident == grit.identify("tiny")
    spec = grit.OFFICIAL_WEIGHTS[grit.FAMILY]
    assert spec.source.endswith("/" + grit.OFFICIAL_FILENAME) and "VBench_Used_Models" in spec.source
    assert grit.OFFICIAL_WEIGHTS[grit.TOKENIZER_FAMILY].source.endswith(
        "/bert-base-uncased/resolve/86b5e0934494bd15c9632b12f734a8a67f723594/vocab.txt"
    )
    with pytest.raises(ValueError, match="ObjectDet"):
        grit.check_task("Caption")


# ------------------------------------------------------------------------------------------- inference


def test_preprocess_normalises_and_pads_to_32(tiny):
    model, _, _ = tiny
    img = np.full((40, 70, 3), (123.675, 116.28, 103.53 + 57.375), dtype=np.float32)
    x, size = model.preprocess(img)
    assert size == (40, 70) and x.shape == (1, 3, 64, 96)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    assert torch.count_nonzero(x[0, :, 40:, :]) == 0 and torch.count_nonzero(x[0, :, :, 70:]) == 0
    with pytest.raises(ValueError, match="H x W x 3"):
        model.preprocess(np.zeros((4, 4)))


def test_tiny_detection_end_to_end(tiny):
    model, _, decoder = tiny
    img = _frame(72, 104)
    det = model.detect(img, decoder, captions=True)
    assert isinstance(det, GRiTDetections)
    n = det.boxes.shape[0]
    assert n > 0 and det.scores.shape == (n,) and len(det.object_names) == n and det.captions is not None
    assert len(det.captions) == n and all(isinstance(s, str) for s in det.object_names + det.captions)
    b = det.boxes
    assert np.all(b[:, 0] >= 0) and np.all(b[:, 2] <= 104) and np.all(b[:, 1] >= 0) and np.all(b[:, 3] <= 72)
    assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
    assert np.all((det.scores > 0) & (det.scores <= 1))
    # the same boxes and names without captions (the cascade does not depend on the task)
    names_only = model.detect(img.astype(np.float32), decoder)
    assert names_only.captions is None
    np.testing.assert_array_equal(names_only.boxes, det.boxes)
    assert names_only.object_names == det.object_names
    # repeatable
    again = model.detect(img, decoder, captions=True)
    np.testing.assert_array_equal(again.boxes, det.boxes)
    assert again.captions == det.captions


def test_tiny_detection_runs_at_input_resolution(tiny):
    model, _, decoder = tiny
    for h, w in ((33, 47), (64, 64)):
        det = model.detect(_frame(h, w, seed=1), decoder)
        assert det.boxes.shape[1] == 4
        if det.boxes.shape[0]:
            assert det.boxes[:, 2].max() <= w and det.boxes[:, 3].max() <= h


def test_empty_frame_gives_empty_detections(tiny):
    model, _, decoder = tiny
    quiet = copy.deepcopy(model)
    with torch.no_grad():
        for predictor in quiet.roi_heads.box_predictor:
            predictor.cls_score.bias.copy_(torch.tensor([-20.0, 20.0]))  # everything is background
    det = quiet.detect(_frame(40, 40), decoder, captions=True)
    assert (
        det.boxes.shape == (0, 4)
        and det.scores.shape == (0,)
        and det.object_names == ()
        and det.captions == ()
    )


def test_detect_frames_is_per_frame_detect(tiny):
    model, _, decoder = tiny
    clip = np.stack([_frame(40, 56, seed=s) for s in range(2)])
    dets = grit.detect_frames(model, clip, decoder)
    assert len(dets) == 2
    for det, frame in zip(dets, clip, strict=True):
        np.testing.assert_array_equal(det.boxes, model.detect(frame, decoder).boxes)


def test_load_decoder_from_vocab_file_or_directory(tmp_path):
    vocab = grit.build_tiny_vocab()
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    assert grit.load_decoder("official", str(tmp_path / "vocab.txt")).vocab == vocab
    assert grit.load_decoder("official", str(tmp_path)).vocab == vocab
    assert grit.load_decoder("tiny").vocab == vocab


def test_text_chunking_changes_nothing_but_rounding(tiny):
    model, _, decoder = tiny
    img = _frame(72, 104)
    whole = model.detect(img, decoder, captions=True)
    chunked = copy.deepcopy(model)
    chunked.text_chunk = 3
    parts = chunked.detect(img, decoder, captions=True)
    assert len(whole.object_names) > 3
    assert parts.object_names == whole.object_names and parts.captions == whole.captions
    np.testing.assert_allclose(parts.scores, whole.scores, rtol=1e-5)


def test_official_weights_missing_offline_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="grit"):
        grit.load("official", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        grit.identify(str(tmp_path / "nope.pth"))
