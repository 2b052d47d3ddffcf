"""GRiT's pieces against independent references: attention loops, a full-recompute decoder, hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models

from omninft.reward_servers.models.grit import GRiTConfig, WordPieceDecoder, build_tiny_vocab
from omninft.reward_servers.models.grit.backbone import (
    Attention,
    Block,
    ViTFPN,
    absolute_positions,
    relative_table,
    window_partition,
    window_unpartition,
)
from omninft.reward_servers.models.grit.proposals import CenterNetProposals, decode_level, level_grid
from omninft.reward_servers.models.grit.roi_heads import CascadeBoxHeads
from omninft.reward_servers.models.grit.text_decoder import TextualHead, greedy_decode


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors on a shared 2-core machine: thread hand-offs cost more than the maths
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _randomize(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


# ------------------------------------------------------------------------------------------------ backbone


def test_window_partition_round_trip_with_padding():
    x = torch.randn(2, 5, 7, 3)
    windows, padded = window_partition(x, 4)
    assert padded == (8, 8) and windows.shape == (2 * 4, 4, 4, 3)
    assert torch.equal(windows[0, :, :, :], F.pad(x, (0, 0, 0, 1, 0, 3))[0, :4, :4])
    assert torch.equal(window_unpartition(windows, 4, padded, (5, 7)), x)


def test_relative_table_hand_computed():
    table = torch.arange(5, dtype=torch.float32)[:, None]  # size 3 -> 2*3-1 rows
    got = relative_table(3, 3, table)[..., 0]
    # entry (q, k) = table[q - k + 2]
    assert got.tolist() == [[2, 1, 0], [3, 2, 1], [4, 3, 2]]
    # a 3-row table linearly resized to 5 rows (align_corners=False): 0, .4, 1, 1.6, 2
    small = torch.tensor([[0.0], [1.0], [2.0]])
    resized = relative_table(3, 3, small)[..., 0]
    assert torch.allclose(resized[:, 0], torch.tensor([1.0, 1.6, 2.0])) and resized[0, 2].item() == 0.0
    assert resized[1, 2].item() == pytest.approx(0.4)


def _np_attention(attn: Attention, x: np.ndarray) -> np.ndarray:
    heads = attn.heads
    b, h, w, c = x.shape
    qkv_w, qkv_b = attn.qkv.weight.detach().numpy(), attn.qkv.bias.detach().numpy()
    rh, rw = attn.rel_pos_h.detach().numpy(), attn.rel_pos_w.detach().numpy()
    tokens = x.reshape(b, h * w, c) @ qkv_w.T + qkv_b
    hd = c // heads
    out = np.zeros((b, h * w, c))
    for bi in range(b):
        for hi in range(heads):
            q = tokens[bi, :, hi * hd : (hi + 1) * hd]
            k = tokens[bi, :, c + hi * hd : c + (hi + 1) * hd]
            v = tokens[bi, :, 2 * c + hi * hd : 2 * c + (hi + 1) * hd]
            logits = np.zeros((h * w, h * w))
            for i in range(h * w):
                for j in range(h * w):
                    (yi, xi), (yj, xj) = divmod(i, w), divmod(j, w)
                    logits[i, j] = (
                        (q[i] @ k[j]) / math.sqrt(hd)
                        + q[i] @ rh[yi - yj + h - 1]
                        + q[i] @ rw[xi - xj + w - 1]
                    )
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            out[bi, :, hi * hd : (hi + 1) * hd] = p @ v
    proj = out @ attn.proj.weight.detach().numpy().T + attn.proj.bias.detach().numpy()
    return proj.reshape(b, h, w, c)


def test_attention_matches_numpy_loops():
    attn = Attention(8, 2, rel_size=4)
    _randomize(attn, 0)
    x = torch.randn(1, 4, 4, 8)
    np.testing.assert_allclose(
        attn(x).detach().numpy(), _np_attention(attn, x.numpy().astype(np.float64)), rtol=1e-4, atol=1e-4
    )


def test_windowed_block_keeps_windows_apart():
    blk = Block(8, 2, 2.0, window=3, map_size=8)
    _randomize(blk, 1)
    x = torch.randn(1, 5, 6, 8)
    y = blk(x)
    x2 = x.clone()
    x2[0, 0, 0] += 1.0  # a token of the top-left window
    y2 = blk(x2)
    changed = (y2 - y).abs().sum(-1)[0] > 1e-6
    assert changed[:3, :3].any() and not changed[3:, :].any() and not changed[:, 3:].any()


def test_absolute_positions_drop_class_slot_and_resize():
    table = torch.randn(1, 1 + 16, 5)
    assert torch.equal(absolute_positions(table, (4, 4)), table[:, 1:].reshape(1, 4, 4, 5))
    assert absolute_positions(table, (3, 6)).shape == (1, 3, 6, 5)


def test_pyramid_strides():
    fpn = ViTFPN(GRiTConfig.tiny()).eval()
    with torch.no_grad():
        outs = fpn(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape[2:]) for o in outs] == [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]


# ----------------------------------------------------------------------------------------------- proposals


def test_level_grid_and_decode_hand_computed():
    assert level_grid(2, 3, 8, torch.device("cpu")).tolist() == [
        [4, 4],
        [12, 4],
        [20, 4],
        [4, 12],
        [12, 12],
        [20, 12],
    ]
    heat = torch.tensor([[0.25, 0.00001], [0.04, 0.81]])
    reg = torch.zeros(4, 2, 2)
    reg[:, 1, 1] = torch.tensor([0.5, 1.0, 2.0, 0.25])  # ltrb in stride units at cell (y=1, x=1)
    boxes, scores = decode_level(heat, reg, 16, 1e-4, 1000)
    # cells above 1e-4: (0,0), (1,0), (1,1); centres (8,8), (8,24), (24,24)
    assert torch.allclose(scores, torch.tensor([0.5, 0.2, 0.9]))
    assert torch.allclose(boxes[2], torch.tensor([24 - 8.0, 24 - 16.0, 24 + 32.0, 24 + 4.0]))
    # zero distances: x2 = x1 + 0.01
    assert torch.allclose(boxes[0], torch.tensor([8.0, 8.0, 8.01, 8.01]))
    top_boxes, top_scores = decode_level(heat, reg, 16, 1e-4, 2)
    assert torch.allclose(top_scores, torch.tensor([0.9, 0.5]))


def test_proposals_sorted_nms_and_topk():
    cfg = GRiTConfig.tiny()
    gen = CenterNetProposals(cfg).eval()
    feats = [torch.randn(1, cfg.fpn_channels, 8 // 2**i or 1, 8 // 2**i or 1) for i in range(5)]
    with torch.no_grad():
        boxes, scores = gen(feats)
    assert boxes.shape[0] == scores.shape[0] <= cfg.post_nms_topk + 5
    assert torch.all(scores[:-1] >= scores[1:])
    assert torch.all(boxes[:, 2] > boxes[:, 0]) and torch.all(boxes[:, 3] > boxes[:, 1])


# ------------------------------------------------------------------------------------------------- cascade


def test_cascade_scores_average_stages_and_boxes_chain_stage_weights():
    cfg = GRiTConfig.tiny()
    heads = CascadeBoxHeads(cfg).eval()
    with torch.no_grad():
        for p in heads.parameters():
            p.zero_()
        # foreground probabilities .5, .75, .25 per stage -> mean .5
        for k, logit in enumerate([0.0, math.log(3.0), -math.log(3.0)]):
            heads.box_predictor[k].cls_score.bias.copy_(torch.tensor([logit, 0.0]))
        # every stage moves the box centre right by 10 % of its width: dx = 0.1 * weight_x
        for k, wx in enumerate([10.0, 20.0, 30.0]):
            heads.box_predictor[k].bbox_pred[2].bias.copy_(torch.tensor([0.1 * wx, 0.0, 0.0, 0.0]))
    feats = [torch.randn(1, cfg.fpn_channels, 16 // s, 16 // s) for s in (1, 2, 4)]
    proposals = torch.tensor([[10.0, 10.0, 30.0, 50.0], [60.0, 60.0, 70.0, 70.0]])
    ps = torch.tensor([0.81, 0.81])
    det = heads.detect(feats, proposals, ps, (128, 128))
    assert torch.allclose(det.scores, torch.full((2,), math.sqrt(0.5 * 0.81)))
    # three shifts of 2 px (width 20) -> +6; three shifts of 1 px (width 10) -> +3
    assert torch.allclose(
        det.boxes, torch.tensor([[16.0, 10.0, 36.0, 50.0], [63.0, 60.0, 73.0, 70.0]]), atol=1e-4
    )
    # below 0.5 after the proposal score: dropped
    assert heads.detect(feats, proposals, torch.tensor([0.4, 0.4]), (128, 128)).boxes.shape[0] == 0


def test_cascade_clips_to_image_and_nms_at_half():
    cfg = GRiTConfig.tiny()
    heads = CascadeBoxHeads(cfg).eval()
    with torch.no_grad():
        for p in heads.parameters():
            p.zero_()
        for k in range(3):
            heads.box_predictor[k].cls_score.bias.copy_(torch.tensor([5.0, 0.0]))
    feats = [torch.randn(1, cfg.fpn_channels, 16 // s, 16 // s) for s in (1, 2, 4)]
    proposals = torch.tensor([[-10.0, 5.0, 50.0, 200.0], [0.0, 5.0, 50.0, 190.0], [0.0, 0.0, 10.0, 10.0]])
    det = heads.detect(feats, proposals, torch.tensor([0.9, 0.8, 0.7]), (100, 120))
    # box 1 overlaps box 0 (clipped to [0, 5, 50, 100]) with IoU 1 -> suppressed
    assert det.boxes.tolist() == [[0.0, 5.0, 50.0, 100.0], [0.0, 0.0, 10.0, 10.0]]


# -------------------------------------------------------------------------------------------- text decoder


def _full_recompute_logits(head: TextualHead, mem: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The reference's formulation: [memory; text] through every layer with the block mask, each step."""
    m = head.object_feature_projection(mem)
    t = head.embedding(tokens, 0)
    x = torch.cat((m, t), 1)
    nm, nt = m.shape[1], t.shape[1]
    mask = torch.zeros(nm + nt, nm + nt)
    mask[:nm, nm:] = float("-inf")
    mask[nm:, nm:] = torch.triu(torch.full((nt, nt), float("-inf")), 1)
    for layer in head.layers:
        k, v = layer.keys_values(x)
        x = layer(x, k, v, mask)
    return head.output(x[:, -1]).float()


def _reference_greedy(head, mem, begin, end, max_steps):
    preds = torch.full((mem.shape[0], 1), begin)
    lp0, tok = F.log_softmax(_full_recompute_logits(head, mem, preds), 1).topk(1)
    preds = torch.cat((preds, tok), 1)
    total = lp0[:, 0]
    while preds.shape[1] < max_steps and not bool((preds[:, -1] == end).all()):
        logits = _full_recompute_logits(head, mem, preds)
        logits = logits.scatter(1, preds[:, -1:], -10000.0)
        ended = preds[:, -1] == end
        logits[ended] = float("-inf")
        logits[ended, end] = 0.0
        lp, tok = F.log_softmax(logits, 1).topk(1)
        total = total + lp[:, 0]
        preds = torch.cat((preds, tok), 1)
    valid = (preds != end).sum(-1) + (preds == end).any(-1).long() - 1
    return preds, total / valid.clamp(min=1)


def test_greedy_decode_matches_full_recompute_search():
    cfg = GRiTConfig.tiny()
    head = TextualHead(cfg).eval()
    _randomize(head, 4)
    with torch.no_grad():
        head.output.bias[cfg.sep_token_id] += 2.0
        # one feature vector per row (the decoder averages memory tokens, so distinct rows need distinct means)
        mem = torch.randn(6, 1, cfg.fpn_channels, generator=torch.Generator().manual_seed(0)).expand(
            6, 196, -1
        )
        got = greedy_decode(head, mem.contiguous(), cfg.cls_token_id, cfg.sep_token_id, 12)
        ref_tokens, ref_lp = _reference_greedy(head, mem.contiguous(), cfg.cls_token_id, cfg.sep_token_id, 12)
    first_end = [(row == cfg.sep_token_id).nonzero().flatten()[:1].tolist() for row in got.tokens]
    assert [1] in first_end and [2] in first_end and [] in first_end  # rows end at different steps, one never
    assert torch.equal(got.tokens, ref_tokens)
    assert torch.allclose(got.logprobs, ref_lp, atol=1e-5)
    assert got.tokens.shape[1] <= 12


def test_greedy_decode_all_end_first_returns_at_once():
    cfg = GRiTConfig.tiny()
    head = TextualHead(cfg).eval()
    with torch.no_grad():
        head.output.bias.zero_()
        head.output.bias[cfg.sep_token_id] = 100.0
        out = greedy_decode(
            head, torch.randn(3, 196, cfg.fpn_channels), cfg.cls_token_id, cfg.sep_token_id, 40
        )
    assert out.tokens.tolist() == [[cfg.sep_token_id]] * 3 and torch.all(out.logprobs <= 0)


# ---------------------------------------------------------------------------------------------- tokenizer


def test_wordpiece_decode_matches_tokenizers_library():
    vocab = build_tiny_vocab()
    ours = WordPieceDecoder(vocab)
    ref = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    ref.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    ref.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    rng = np.random.default_rng(0)
    words = [i for i, t in enumerate(vocab) if not t.startswith("##")]
    for _ in range(200):
        ids = [int(rng.choice(words))] + [
            int(i) for i in rng.integers(0, len(vocab), int(rng.integers(0, 12)))
        ]
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=True), ids
    idx = {t: i for i, t in enumerate(vocab)}
    assert (
        ours.decode([idx[t] for t in ["[CLS]", "red", "c", "##a", "##r", ",", "dog", ".", "[SEP]"]])
        == "red car, dog."
    )
    assert (ours.cls_token_id, ours.sep_token_id, len(ours)) == (2, 3, 128)
    assert vocab.index("[unused0]") == GRiTConfig.tiny().densecap_begin_id


def test_wordpiece_vocab_file_round_trip(tmp_path):
    vocab = build_tiny_vocab()
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    assert WordPieceDecoder.from_file(path).vocab == vocab
    with pytest.raises(ValueError, match="special tokens"):
        WordPieceDecoder(["a", "b"])
