"""GRiT's text decoder (`roi_heads.text_decoder.textual.*`) and its greedy search (beam 1).

Facts reproduced from GRiT's `grit/modeling/text/{text_decoder,modeling_bert}.py`:
- the 14x14x256 ROI features are projected (Linear + LayerNorm eps 1e-5) to 196 "memory" tokens that are
  concatenated in front of the text tokens and run through a post-norm BERT encoder (6 layers, LayerNorm
  eps 1e-12, erf GELU); memory attends only to memory, text to all memory and causally to text;
- text embedding = LayerNorm_eps1e-8(word + position); the output projection shares the word embedding
  matrix (both keys are in the checkpoint) and has its own bias;
- search (AutoRegressiveBeamSearch, beam 1, per-node 1, max_steps 40 tokens including the begin token):
  after the first step, the logit of the previous token is set to -10000 (no immediate repeats) and a
  finished row can only emit [SEP] again; the search stops when every row has emitted [SEP]; if every
  row's first token is [SEP] the search returns at once;
- returned log-probability = sum of the chosen tokens' log-probs / number of valid tokens, where valid =
  tokens other than [SEP] + 1 if a [SEP] was emitted - 1 for the begin token, at least 1.
The encoder is run incrementally here (memory states computed once, text keys/values cached): the
reference recomputes the whole sequence every step; both compute the same attention, so results agree to
float rounding, not bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from omninft.reward_servers.models.grit.config import GRiTConfig


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class _SelfAttention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)


class _SelfOutput(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)


class _Attention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.self = _SelfAttention(d)
        self.output = _SelfOutput(d)


class _Intermediate(nn.Module):
    def __init__(self, d: int, ffn: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d, ffn)


class _Output(nn.Module):
    def __init__(self, d: int, ffn: int) -> None:
        super().__init__()
        self.dense = nn.Linear(ffn, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)


class BertLayer(nn.Module):
    """Post-norm BERT layer; forward takes the keys/values it may attend to explicitly."""

    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention = _Attention(d)
        self.intermediate = _Intermediate(d, ffn)
        self.output = _Output(d, ffn)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, heads, L, D / heads)."""
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).permute(0, 2, 1, 3)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-head keys and values of hidden states x."""
        att = self.attention.self
        return self.split(att.key(x)), self.split(att.value(x))

    def forward(
        self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Queries from x attend over (k, v) with an additive mask; then the residual/LayerNorm/FFN path."""
        q = self.split(self.attention.self.query(x))
        scores = torch.matmul(q / math.sqrt(q.shape[-1]), k.transpose(-1, -2))
        if mask is not None:
            scores = scores + mask
        ctx = torch.matmul(scores.softmax(dim=-1), v).permute(0, 2, 1, 3).flatten(2)
        a = self.attention.output.LayerNorm(self.attention.output.dense(ctx) + x)
        return self.output.LayerNorm(self.output.dense(_gelu(self.intermediate.dense(a))) + a)


class _Encoder(nn.Module):
    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            BertLayer(cfg.text_hidden, cfg.text_heads, cfg.text_ffn) for _ in range(cfg.text_layers)
        )


class _EncoderAsDecoder(nn.Module):
    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.encoder = _Encoder(cfg)


class WordAndPositionalEmbedding(nn.Module):
    """LayerNorm(word + position) with eps 1e-8."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.words = nn.Embedding(cfg.vocab_size, cfg.text_hidden)
        self.positions = nn.Embedding(cfg.max_positions, cfg.text_hidden)
        self.layer_norm = nn.LayerNorm(cfg.text_hidden, eps=1e-8)

    def forward(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Embeddings of (B, L) tokens placed at positions start .. start + L - 1."""
        pos = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.layer_norm(self.words(tokens) + self.positions(pos)[None])


class TextualHead(nn.Module):
    """Projection of ROI features, text embedding, BERT encoder-as-decoder and the tied output layer."""

    def __init__(self, cfg: GRiTConfig) -> None:
        super().__init__()
        self.object_feature_projection = nn.Sequential(
            nn.Linear(cfg.fpn_channels, cfg.text_hidden), nn.LayerNorm(cfg.text_hidden)
        )
        self.embedding = WordAndPositionalEmbedding(cfg)
        self.transformer = _EncoderAsDecoder(cfg)
        self.output = nn.Linear(cfg.text_hidden, cfg.vocab_size)
        self.output.weight = self.embedding.words.weight

    @property
    def layers(self) -> list[BertLayer]:
        """The BERT layers."""
        return [m for m in self.transformer.encoder.layer if isinstance(m, BertLayer)]

    def memory_cache(self, object_features: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, the keys/values of the memory tokens (memory never attends to text, so they are fixed)."""
        h = self.object_feature_projection(object_features)
        cache = []
        layers = self.layers
        for i, layer in enumerate(layers):
            k, v = layer.keys_values(h)
            cache.append((k, v))
            if i + 1 < len(layers):  # the last layer's memory outputs feed nothing
                h = layer(h, k, v, None)
        return cache

    def step(
        self,
        tokens: torch.Tensor,
        start: int,
        memory: list[tuple[torch.Tensor, torch.Tensor]],
        text_cache: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """Logits (B, V) after new tokens (B, L) at positions start..; extends text_cache in place."""
        h = self.embedding(tokens, start)
        n = tokens.shape[1]
        # new token i may see every cached text token and new tokens <= i
        causal = torch.full((n, start + n), float("-inf"), dtype=h.dtype, device=h.device).triu(start + 1)
        for i, layer in enumerate(self.layers):
            k_new, v_new = layer.keys_values(h)
            if len(text_cache) <= i:
                text_cache.append((k_new, v_new))
            else:
                k_old, v_old = text_cache[i]
                text_cache[i] = (torch.cat((k_old, k_new), 2), torch.cat((v_old, v_new), 2))
            k_mem, v_mem = memory[i]
            k_txt, v_txt = text_cache[i]
            mask = torch.cat((torch.zeros((n, k_mem.shape[2]), dtype=h.dtype, device=h.device), causal), 1)
            h = layer(h, torch.cat((k_mem, k_txt), 2), torch.cat((v_mem, v_txt), 2), mask)
        return self.output(h[:, -1]).float()


@dataclass(frozen=True)
class Decoded:
    """Greedy search result: token rows (begin token first) and length-normalised log-probabilities."""

    tokens: torch.Tensor
    logprobs: torch.Tensor


def greedy_decode(
    head: TextualHead,
    object_features: torch.Tensor,
    begin_id: int,
    end_id: int,
    max_steps: int,
    memory: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> Decoded:
    """AutoRegressiveBeamSearch with beam 1 on (N, 196, C) ROI features.

    `memory` (head.memory_cache(object_features)) can be shared by several searches on the same features.
    """
    n = object_features.shape[0]
    if memory is None:
        memory = head.memory_cache(object_features)
    cache: list[tuple[torch.Tensor, torch.Tensor]] = []
    preds = torch.full((n, 1), begin_id, dtype=torch.long, device=object_features.device)
    first = F.log_softmax(head.step(preds, 0, memory, cache), dim=1)
    last_lp, tok = first.topk(1)
    if bool((tok == end_id).all()):
        return Decoded(tok, last_lp[:, 0])
    preds = torch.cat((preds, tok), 1)
    last_lp = last_lp[:, 0]
    while preds.shape[1] < max_steps:
        last = preds[:, -1]
        if bool((last == end_id).all()):
            break
        logits = head.step(preds[:, -1:], preds.shape[1] - 1, memory, cache)
        logits = logits.scatter(1, last[:, None], -10000.0)
        ended = torch.full_like(logits, float("-inf"))
        ended[:, end_id] = 0.0
        logits = torch.where((last == end_id)[:, None], ended, logits)
        lp, tok = F.log_softmax(logits, dim=1).topk(1)
        last_lp = lp[:, 0] + last_lp
        preds = torch.cat((preds, tok), 1)
    valid = (preds != end_id).sum(dim=-1) + (preds == end_id).any(dim=-1).long() - 1
    return Decoded(preds, last_lp / valid.clamp(min=1))
