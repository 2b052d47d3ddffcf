"""The BERT pieces of Tag2Text (its `med.py`: a BLIP-style BERT with cross-attention), written for this project.

Key layout as in the checkpoint: `embeddings.{word_embeddings,position_embeddings,LayerNorm}` (no token-type
embeddings), `encoder.layer.<i>.{attention,crossattention}.{self.{query,key,value},output.{dense,LayerNorm}}`,
`encoder.layer.<i>.{intermediate.dense,output.{dense,LayerNorm}}`, and for the LM head
`cls.predictions.{transform.{dense,LayerNorm},decoder.weight,bias}`. Post-norm layers, exact GELU, LayerNorm
eps 1e-12, additive masks of (1 - m) * -10000 as the reference builds them.

Layer modes: "multimodal" = self-attention then cross-attention then FFN (tag encoder, caption decoder);
"mlr" = cross-attention then FFN, no self-attention (the tagging head's query-to-label decoder).

The reference's cross-attention keeps only the first rows of the encoder states when they outnumber the queries
(`if key_layer.shape[0] > query_layer.shape[0]`): a guard against transformers expanding the already expanded
encoder states once more during beam search. Tag2TextCaption reproduces the effect at the caller (which image
each caption sees), so this module never receives more encoder rows than queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of med_config.json / q2l_config.json the architecture uses."""

    vocab_size: int = 30524
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    encoder_width: int = 768


def extended_mask(mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, L) 0/1 mask -> (B, 1, Lq, L) additive mask (1 - m) * -10000, with a causal part for decoders."""
    m = mask.to(torch.float32)
    if causal:
        seq = torch.arange(mask.shape[1], device=mask.device)
        causal_m = (seq[None, :] <= seq[:, None]).to(torch.float32)
        full = causal_m[None, None] * m[:, None, None, :]
    else:
        full = m[:, None, None, :]
    return (1.0 - full) * -10000.0


class BertSelfAttention(nn.Module):
    """Multi-head attention; keys/values from the hidden states or from `encoder_width`-wide encoder states."""

    def __init__(self, cfg: BertConfig, cross: bool) -> None:
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.head_size = cfg.hidden_size // cfg.num_attention_heads
        kv_width = cfg.encoder_width if cross else cfg.hidden_size
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(kv_width, cfg.hidden_size)
        self.value = nn.Linear(kv_width, cfg.hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, kv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """softmax(q k^T / sqrt(d) + mask) v over `kv` (cross) or `hidden` (self)."""
        src = hidden if kv is None else kv
        return self.attend(
            self._split(self.query(hidden)), self._split(self.key(src)), self._split(self.value(src)), mask
        )

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Heads-split q (B, H, Lq, d), k, v (B, H, Lk, d) -> (B, Lq, H * d)."""
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + mask
        ctx = (scores.softmax(dim=-1) @ v).permute(0, 2, 1, 3)
        return ctx.reshape(*ctx.shape[:2], -1)


class BertSelfOutput(nn.Module):
    """dense, then LayerNorm(x + residual)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Post-norm residual."""
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    """`self` attention + `output` projection (keys attention.* / crossattention.*)."""

    def __init__(self, cfg: BertConfig, cross: bool = False) -> None:
        super().__init__()
        self.self = BertSelfAttention(cfg, cross)
        self.output = BertSelfOutput(cfg)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, kv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention with its residual."""
        return self.output(self.self(hidden, mask, kv), hidden)


class BertIntermediate(nn.Module):
    """dense + exact GELU."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The FFN expansion."""
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    """dense, then LayerNorm(x + residual)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The FFN contraction with its residual."""
        return self.LayerNorm(self.dense(x) + residual)


class BertLayer(nn.Module):
    """Self-attention (unless `self_attention=False`), cross-attention, FFN."""

    def __init__(self, cfg: BertConfig, self_attention: bool = True) -> None:
        super().__init__()
        self.attention = BertAttention(cfg) if self_attention else None
        self.crossattention = BertAttention(cfg, cross=True)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)

    def forward(
        self,
        hidden: torch.Tensor,
        self_mask: torch.Tensor | None,
        enc: torch.Tensor,
        enc_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """ "multimodal" when the layer has self-attention, "mlr" otherwise."""
        if self.attention is not None:
            hidden = self.attention(hidden, self_mask)
        hidden = self.crossattention(hidden, enc_mask, enc)
        return self.output(self.intermediate(hidden), hidden)


class BertEncoder(nn.Module):
    """A stack of BertLayers (keys `layer.<i>.*`)."""

    def __init__(self, cfg: BertConfig, self_attention: bool = True) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg, self_attention) for _ in range(cfg.num_hidden_layers))

    def forward(
        self,
        hidden: torch.Tensor,
        self_mask: torch.Tensor | None,
        enc: torch.Tensor,
        enc_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """All layers."""
        for layer in self.layer:
            hidden = layer(hidden, self_mask, enc, enc_mask)
        return hidden


class BertEmbeddings(nn.Module):
    """word + absolute position embeddings, LayerNorm (no token types)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, D)."""
        pos = torch.arange(ids.shape[1], device=ids.device)[None]
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos))


class BertModel(nn.Module):
    """Embeddings + encoder; `forward` on ids (tag encoder, decoder body)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, enc: torch.Tensor, causal: bool = False
    ) -> torch.Tensor:
        """(B, L) ids and 0/1 mask, encoder states (B, S, encoder_width) -> (B, L, D); all encoder rows attended."""
        return self.encoder(self.embeddings(ids), extended_mask(mask, causal), enc, None)


class QueryDecoder(nn.Module):
    """The tagging head's BERT without embeddings and without self-attention (keys `encoder.layer.<i>.*`)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.encoder = BertEncoder(cfg, self_attention=False)

    def forward(self, queries: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        """(B, K, D) label queries attend to (B, S, encoder_width) image tokens ("mlr" mode)."""
        return self.encoder(queries, None, enc, None)


class BertPredictionHeadTransform(nn.Module):
    """dense, GELU, LayerNorm."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The LM head's transform."""
        return self.LayerNorm(F.gelu(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    """transform, then the vocabulary projection (its weight is tied to the word embeddings)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias  # one tensor under two keys (decoder.bias, bias), as in the reference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits."""
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    """Key level `cls.predictions.*`."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits."""
        return self.predictions(x)


@dataclass
class DecoderCache:
    """Keys/values of the decoder's past tokens (self-attention) and of the encoder states (cross-attention)."""

    length: int = 0
    self_kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    cross_kv: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def reorder(self, rows: torch.Tensor) -> None:
        """Follow the beams: row r of the next step continues row rows[r] of this one."""
        self.self_kv = [(k[rows], v[rows]) for k, v in self.self_kv]
        self.cross_kv = [(k[rows], v[rows]) for k, v in self.cross_kv]


class BertLMHeadModel(nn.Module):
    """Causal caption decoder: `bert` body with cross-attention + `cls` LM head tied to the word embeddings."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.bert = BertModel(cfg)
        self.cls = BertOnlyMLMHead(cfg)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, ids: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        """(B, L) ids (all attended, causal) + encoder states -> (B, L, vocab) logits."""
        return self.cls(self.bert(ids, torch.ones_like(ids), enc, causal=True))

    def step(self, ids: torch.Tensor, enc: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """Logits of the next token given only the new ids (B, L) and a cache of the earlier ones.

        Same arithmetic as forward() on the whole prefix, in a different order (the reference recomputes the
        prefix every step), so results agree to float rounding, not bit for bit.
        """
        past, n = cache.length, ids.shape[1]
        emb = self.bert.embeddings
        pos = torch.arange(past, past + n, device=ids.device)
        h = emb.LayerNorm(emb.word_embeddings(ids) + emb.position_embeddings(pos)[None])
        mask = None
        if n > 1:  # causal over the new block; every cached token is visible
            allowed = (
                torch.arange(past + n, device=ids.device)[None, :]
                <= (past + torch.arange(n, device=ids.device))[:, None]
            )
            mask = (1.0 - allowed.to(h.dtype)) * -10000.0
        first = not cache.cross_kv
        for i, layer in enumerate(self.bert.encoder.layer):
            assert isinstance(layer, BertLayer) and layer.attention is not None
            sa = layer.attention.self
            k, v = sa._split(sa.key(h)), sa._split(sa.value(h))
            if past:
                k = torch.cat([cache.self_kv[i][0], k], dim=2)
                v = torch.cat([cache.self_kv[i][1], v], dim=2)
                cache.self_kv[i] = (k, v)
            else:
                cache.self_kv.append((k, v))
            h = layer.attention.output(sa.attend(sa._split(sa.query(h)), k, v, mask), h)
            ca = layer.crossattention.self
            if first:
                cache.cross_kv.append((ca._split(ca.key(enc)), ca._split(ca.value(enc))))
            ck, cv = cache.cross_kv[i]
            h = layer.crossattention.output(ca.attend(ca._split(ca.query(h)), ck, cv, None), h)
            h = layer.output(layer.intermediate(h), h)
        cache.length = past + n
        return self.cls(h[:, -1])
