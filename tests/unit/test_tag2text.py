"""Tag2Text: official key layout and size, the reference's loading rules, Swin geometry, tag selection, beam
search on a hand-computed case, the frame-to-image quirk of the reference's generate, and a tiny end-to-end run."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.models import tag2text as T
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.tag2text.swin import relative_position_index, shifted_window_mask
from omninft.reward_servers.weights import _url_target


@pytest.fixture(scope="module")
def tiny():
    model, tok, ident, _ = T.load("tiny", seed=0)
    return model, tok, ident


def _official_on_meta() -> T.Tag2TextCaption:
    with torch.device("meta"):
        return T.build(T.Tag2TextConfig.official())


def test_official_layout_and_parameter_count():
    model = _official_on_meta()
    sd = model.state_dict()
    assert len(sd) == 1001
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["visual_encoder.patch_embed.proj.weight"] == (128, 3, 4, 4)
    assert shapes["visual_encoder.layers.0.blocks.0.attn.relative_position_bias_table"] == (
        529,
        4,
    )  # (2*12-1)^2
    assert shapes["visual_encoder.layers.3.blocks.1.attn.relative_position_bias_table"] == (529, 32)
    assert shapes["visual_encoder.layers.2.downsample.reduction.weight"] == (1024, 2048)
    assert shapes["visual_encoder.norm.weight"] == (1024,)
    assert shapes["text_decoder.bert.embeddings.word_embeddings.weight"] == (30524, 768)
    assert shapes["text_decoder.bert.encoder.layer.11.crossattention.self.key.weight"] == (768, 768)
    assert shapes["text_decoder.cls.predictions.decoder.weight"] == (30524, 768)
    assert (
        shapes["text_decoder.cls.predictions.decoder.bias"]
        == shapes["text_decoder.cls.predictions.bias"]
        == (30524,)
    )
    assert shapes["tag_encoder.encoder.layer.5.crossattention.self.key.weight"] == (768, 1024)
    assert shapes["vision_multi.encoder.layer.1.crossattention.self.value.weight"] == (768, 1024)
    assert (
        shapes["label_embed.weight"] == (3429, 768)
        and shapes["fc.W"] == (1, 3429, 768)
        and shapes["fc.b"] == (1, 3429)
    )
    assert not any(k.endswith(("relative_position_index", "attn_mask", "position_ids")) for k in sd)
    assert not any(
        k.startswith("vision_multi.embeddings") or ".attention." in k and k.startswith("vision_multi")
        for k in sd
    )
    # unique parameters (tied tensors counted once): Swin-B 86,878,584; decoder 137,881,148; tag encoder
    # 141,977,088 (its layers 0-1 cross-attention/FFN shared with vision_multi); label queries 2,633,472; fc 2,636,901
    assert sum(p.numel() for p in model.parameters()) == 372_007_193
    assert sum(p.numel() for n, p in model.named_parameters() if n.startswith("visual_encoder")) == 86_878_584


def test_ties_share_tensors_but_not_head_counts(tiny):
    model, _, _ = tiny
    enc0, q0 = model.tag_encoder.encoder.layer[0], model.vision_multi.encoder.layer[0]
    assert enc0.crossattention.self.query.weight is q0.crossattention.self.query.weight
    assert enc0.output.LayerNorm.bias is q0.output.LayerNorm.bias
    assert enc0.attention is not None and q0.attention is None  # the tagging head has no self-attention
    assert enc0.crossattention.self.heads == 2 and q0.crossattention.self.heads == 1
    dec = model.text_decoder
    assert dec.cls.predictions.decoder.weight is dec.bert.embeddings.word_embeddings.weight
    assert set(model.tied_keys()) <= set(model.state_dict())


def test_swin_geometry_hand_values():
    idx = relative_position_index(2)  # (dh + 1) * 3 + (dw + 1) for the 4 tokens of a 2x2 window
    assert idx.tolist() == [[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]]
    mask = shifted_window_mask(4, 4, 2, 1)  # 4 windows of a 4x4 map, shift 1
    assert tuple(mask.shape) == (4, 4, 4)
    assert (mask[0] == 0).all()  # the top-left window lies in one region
    # bottom-right window: its 4 tokens come from 4 different regions -> only the diagonal is unmasked
    assert torch.equal(mask[3] == 0, torch.eye(4, dtype=torch.bool)) and mask[3].min() == -100


def test_tag_selection_threshold_and_banned():
    logits = np.full((2, 3429), -5.0, np.float32)
    p = 0.7
    logit_07 = math.log(p / (1 - p))
    logits[0, [0, 1, 127, 3359]] = 4.0  # 127 ("quarter") and 3359 ("one") are banned
    logits[1, 2] = np.float32(logit_07) - 1e-3  # just below 0.7: strict '>' drops it
    logits[1, 5] = 0.9
    sel = T.selected_tags(logits)
    assert sel == [[0, 1], [5]]
    names = T.tag_names()
    assert len(names) == 3429 and names[0] == "tennis" and names[127] == "quarter"
    assert T.tag_string(sel[0]) == "tennis | bear cub"


class _Markov:
    """A toy decoder: next-token log-probs depend on the last token only (vocab: 0, 1, 2, EOS = 3)."""

    table = torch.log(
        torch.tensor(
            [[0.05, 0.5, 0.3, 0.15], [0.05, 0.1, 0.25, 0.6], [0.05, 0.7, 0.05, 0.2], [0.25, 0.25, 0.25, 0.25]]
        )
    )

    def next_token_logits(self, ids: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return self.table[ids[:, -1]]


def test_beam_search_hand_computed():
    """Two beams, max length 4 (prompt [0]); the worked example:
    step 1: beams [0,1] (ln .5), [0,2] (ln .3)
    step 2: EOS after [0,1] -> hypothesis [0,1] scored ln(.5*.6)/2 = -0.602; beams [0,2,1], [0,1,2]
    step 3: EOS after [0,2,1] -> hypothesis scored ln(.3*.7*.6)/3 = -0.691; beams [0,1,2,1], [0,2,1,2]
    end: [0,1,2,1] (ln(.5*.25*.7)/4 = -0.609) replaces the worst; [0,1] (-0.602) is the best.
    With min_length 3 the EOS of step 2 is forbidden and [0,1,2,1] wins."""
    cfg = T.GenerationConfig(num_beams=2, max_length=4, min_length=0)
    states = torch.zeros(1, 1, 1)
    assert T.beam_search(_Markov(), [0], states, eos_id=3, cfg=cfg) == [[0, 1]]  # type: ignore[arg-type]
    cfg3 = T.GenerationConfig(num_beams=2, max_length=4, min_length=3)
    assert T.beam_search(_Markov(), [0], states, eos_id=3, cfg=cfg3) == [[0, 1, 2, 1]]  # type: ignore[arg-type]
    two = torch.zeros(2, 1, 1)  # images are independent
    assert T.beam_search(_Markov(), [0], two, eos_id=3, cfg=cfg) == [[0, 1], [0, 1]]  # type: ignore[arg-type]


def test_reference_protocol_maps_frames_to_every_third_image():
    assert T.caption_source_rows(16, 3, "reference") == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5]
    assert T.caption_source_rows(4, 3, "corrected") == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="protocol"):
        T.caption_source_rows(4, 3, "other")


def _sensitive(model: T.Tag2TextCaption) -> T.Tag2TextCaption:
    """Larger random weights so that captions depend on the image (std-0.02 tiny models barely do)."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" not in name and "norm" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        model.fc.b.fill_(0.0)
    return model


def test_tiny_generate_end_to_end_and_the_quirk():
    model, tok, _, _ = T.load("tiny", seed=0)
    model = _sensitive(model)
    cfg = T.GenerationConfig(num_beams=3, max_length=10, min_length=6)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 40, 70, 3), dtype=np.uint8)
    images = torch.from_numpy(T.tag2text_frames(frames, size=64))
    assert tuple(images.shape) == (4, 3, 64, 64)
    ref = T.generate(model, tok, images, cfg=cfg)
    own = T.generate(model, tok, images, protocol="corrected", cfg=cfg)
    assert len(ref.captions) == 4 and all(isinstance(c, str) and c for c in ref.captions)
    assert len(set(own.captions)) > 1  # the captions do depend on the image
    # reference: images 0-2 are captioned from image 0, image 3 from image 1
    assert ref.captions[:3] == [own.captions[0]] * 3 and ref.captions[3] == own.captions[1]
    alone = T.generate(model, tok, images[2:3], protocol="corrected", cfg=cfg)
    assert alone.captions == [own.captions[2]]  # batch make-up does not change a caption
    assert ref.tags == own.tags and all(" | " in t or t == "" or "|" not in t for t in ref.tags)


def test_tokenizer_prompt_and_tags(tiny):
    _, tok, _ = tiny
    ids = tok.prompt_ids()
    assert ids[0] == tok.bos_token_id and tok.sep_token_id not in ids and tok.decode(ids) == "a picture of"
    tag_ids, mask = tok.tags(["dog | grass", ""], max_length=8)
    assert tuple(tag_ids.shape) == (2, 8) and (tag_ids[:, 0] == tok.enc_token_id).all()
    assert mask[0].tolist()[:2] == [1, 1] and mask[1].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]


def test_loading_rules(tmp_path: Path, tiny):
    model, _, _ = tiny
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    ckpt = dict(sd)
    ckpt["visual_encoder.layers.0.blocks.1.attn_mask"] = torch.zeros(1)  # dropped like the reference
    ckpt["visual_encoder.layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(1)
    ckpt["text_decoder.bert.embeddings.position_ids"] = torch.arange(64)[None]
    ckpt["text_encoder.extra"] = torch.zeros(1)  # unknown: ignored and reported
    for secondary in model.tied_keys():  # either name of a tied pair is enough
        ckpt.pop(secondary)
    fresh = T.build(model.config)
    report = T.load_state_dict(fresh, {k: v.half() if v.is_floating_point() else v for k, v in ckpt.items()})
    assert report.ignored == ("text_encoder.extra",) and len(report.dropped) == 3
    assert torch.equal(
        fresh.tag_encoder.encoder.layer[1].intermediate.dense.weight,
        sd["vision_multi.encoder.layer.1.intermediate.dense.weight"].half().float(),
    )
    bad = dict(sd)
    bad.pop("fc.b")
    with pytest.raises(WeightsLoadError, match=r"missing.*fc\.b"):
        T.load_state_dict(T.build(model.config), bad)
    # the reference's last-loaded entry wins when both names of a tie are present and differ
    both = dict(sd)
    both["tag_encoder.encoder.layer.0.output.dense.bias"] = torch.full_like(
        sd["tag_encoder.encoder.layer.0.output.dense.bias"], 7.0
    )
    fresh = T.build(model.config)
    T.load_state_dict(fresh, both)
    assert torch.equal(
        fresh.vision_multi.encoder.layer[0].output.dense.bias,
        sd["vision_multi.encoder.layer.0.output.dense.bias"],
    )


def test_official_checkpoint_resolves_from_the_cache(tmp_path: Path, tiny):
    model, tok, _ = tiny
    target = _url_target(T.OFFICIAL_WEIGHTS, tmp_path)
    target.parent.mkdir(parents=True)
    torch.save({"model": model.state_dict()}, target)
    vocab = tmp_path / "bert" / "vocab.txt"
    vocab.parent.mkdir()
    base = [
        t
        for t, _ in sorted(tok.bert.get_vocab().items(), key=lambda kv: kv[1])
        if t not in ("[DEC]", "[ENC]")
    ]
    vocab.write_text("\n".join(base) + "\n", encoding="utf-8")
    loaded, tok2, ident, report = T.load(
        "official", cache_dir=tmp_path, architecture="tiny", tokenizer_source=str(vocab)
    )
    assert not ident.tiny and ident.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    assert (
        tok2.vocab_size == tok.vocab_size and tok2.prompt_ids() == tok.prompt_ids() and report.ignored == ()
    )
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    with pytest.raises(WeightsLoadError, match="shape mismatch"):
        T.load_state_dict(_official_on_meta(), T.read_checkpoint(target))


def _naive_swin_block(block, x: torch.Tensor) -> torch.Tensor:
    """Token by token: each query attends to the tokens of its (shifted) window, -100 across roll seams."""
    r, w, s = block.resolution, block.window, block.shift
    b, n, c = x.shape
    att = block.attn
    heads, hd = att.heads, c // att.heads
    h = torch.nn.functional.layer_norm(x, (c,), block.norm1.weight, block.norm1.bias)
    qkv = h @ att.qkv.weight.T + att.qkv.bias
    q, k, v = qkv[..., :c], qkv[..., c : 2 * c], qkv[..., 2 * c :]
    table = att.relative_position_bias_table

    def rolled(i: int, j: int) -> tuple[int, int]:  # where token (i, j) sits after rolling by -s
        return (i - s) % r, (j - s) % r

    def region(p: int) -> int:  # the reference's three slices along one axis of the rolled map
        return 0 if p < r - w else (1 if p < r - s else 2)

    out = torch.zeros_like(x)
    for bi in range(b):
        for i in range(r):
            for j in range(r):
                pi, pj = rolled(i, j)
                keys = [
                    (ki, kj)
                    for ki in range(r)
                    for kj in range(r)
                    if rolled(ki, kj)[0] // w == pi // w and rolled(ki, kj)[1] // w == pj // w
                ]
                qi = i * r + j
                for hh in range(heads):
                    sl = slice(hh * hd, (hh + 1) * hd)
                    scores = []
                    for ki, kj in keys:
                        ri, rj = rolled(ki, kj)
                        rel = (pi - ri + w - 1) * (2 * w - 1) + (pj - rj + w - 1)
                        sc = (q[bi, qi, sl] * hd**-0.5) @ k[bi, ki * r + kj, sl] + table[rel, hh]
                        if s > 0 and (region(pi), region(pj)) != (region(ri), region(rj)):
                            sc = sc - 100.0
                        scores.append(sc)
                    p = torch.softmax(torch.stack(scores), 0)
                    out[bi, qi, sl] = sum(
                        pk * v[bi, ki * r + kj, sl] for pk, (ki, kj) in zip(p, keys, strict=True)
                    )
    y = x + out @ att.proj.weight.T + att.proj.bias
    return y + block.mlp(block.norm2(y))


@pytest.mark.parametrize("shift", [0, 2])
def test_swin_block_matches_a_token_by_token_reference(shift: int):
    from omninft.reward_servers.models.tag2text.swin import SwinBlock

    torch.manual_seed(0)
    block = SwinBlock(dim=8, resolution=8, heads=2, window=4, shift=shift, mlp_ratio=2.0).eval()
    with torch.no_grad():
        block.attn.relative_position_bias_table.normal_()
        x = torch.randn(2, 64, 8)
        torch.testing.assert_close(block(x), _naive_swin_block(block, x), atol=1e-5, rtol=1e-4)


def test_caption_decoder_matches_transformers_bert():
    """The decoder body + LM head against transformers' BertLMHeadModel (token types zeroed) on the same weights."""
    from transformers import BertConfig as HFConfig
    from transformers import BertLMHeadModel as HFDecoder

    from omninft.reward_servers.models.tag2text.bert import BertConfig, BertLMHeadModel

    cfg = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=20,
        encoder_width=16,
    )
    torch.manual_seed(0)
    ours = BertLMHeadModel(cfg).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(std=0.5)
    hf_cfg = HFConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=20,
        is_decoder=True,
        add_cross_attention=True,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        type_vocab_size=1,
    )
    hf = HFDecoder(hf_cfg).eval()
    sd = {k: v for k, v in ours.state_dict().items()}
    sd["bert.embeddings.token_type_embeddings.weight"] = torch.zeros(1, 16)
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    assert not unexpected and all("position_ids" in k or "token_type_ids" in k for k in missing)
    ids = torch.tensor([[3, 7, 9, 11, 2], [3, 4, 4, 8, 1]])
    enc = torch.randn(2, 6, 16)
    with torch.no_grad():
        want = hf(input_ids=ids, encoder_hidden_states=enc, token_type_ids=torch.zeros_like(ids)).logits
        torch.testing.assert_close(ours(ids, enc), want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_vision_and_tagging_core_exports_to_onnx(tmp_path: Path, tiny):
    from torch import nn

    from omninft.reward_servers.backends import create_backend
    from omninft.reward_servers.backends.base import GraphSpec
    from omninft.reward_servers.backends.torch_backend import TorchBackend

    model, _, _ = tiny

    class VisionCore(nn.Module):
        def __init__(self, m: T.Tag2TextCaption) -> None:
            super().__init__()
            self.m = m

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            embeds = self.m.image_embeds(images)
            return embeds, torch.sigmoid(self.m.tag_logits(embeds))

    rng = np.random.default_rng(0)

    def graphs() -> dict[str, GraphSpec]:
        return {
            "vision": GraphSpec(
                VisionCore(model).eval(),
                ("images",),
                ("embeds", "tag_probs"),
                {"images": rng.standard_normal((2, 3, 64, 64)).astype(np.float32)},
            )
        }

    ort = create_backend(
        "onnxruntime", graphs(), onnx_dir=str(tmp_path), cache_key="t2t-test", max_batch_size=4
    )
    feed = {"images": rng.standard_normal((3, 3, 64, 64)).astype(np.float32)}
    got, want = ort.run("vision", feed), TorchBackend(graphs()).run("vision", feed)
    for name in ("embeds", "tag_probs"):
        np.testing.assert_allclose(got[name], want[name], atol=2e-5, rtol=1e-4)


def test_kv_cache_gives_the_same_logits_and_captions():
    from omninft.reward_servers.models.tag2text.bert import DecoderCache

    model, tok, _, _ = T.load("tiny", seed=0)
    model = _sensitive(model)
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(5, tok.vocab_size, (3, 7), generator=g)
    enc = torch.randn(3, 9, model.config.text.hidden_size, generator=g)
    with torch.no_grad():
        full = model.text_decoder(ids, enc)
        cache = DecoderCache()
        first = model.text_decoder.step(ids[:, :4], enc, cache)
        torch.testing.assert_close(first, full[:, 3], atol=1e-4, rtol=1e-4)
        for t in range(4, 7):
            torch.testing.assert_close(
                model.text_decoder.step(ids[:, t : t + 1], enc, cache), full[:, t], atol=1e-4, rtol=1e-4
            )
    images = torch.randn(3, 3, 64, 64, generator=g)
    base = T.GenerationConfig(num_beams=3, max_length=10, min_length=6)
    cached = T.GenerationConfig(num_beams=3, max_length=10, min_length=6, use_cache=True)
    assert (
        T.generate(model, tok, images, cfg=cached).captions
        == T.generate(model, tok, images, cfg=base).captions
    )
