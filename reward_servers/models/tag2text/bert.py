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
from dataclasses import dataclass

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

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, kv: torch.Tensor | None = None) -> torch.Tensor:
        """softmax(q k^T / sqrt(d) + mask) v over `kv` (cross) or `hidden` (self)."""
        src = hidden if kv is None else kv
        q, k, v = self._split(self.query(hidden)), self._split(self.key(src)), self._split(self.value(src))
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

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, kv: torch.Tensor | None = None) -> torch.Tensor:
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

    def forward(self, hidden: torch.Tensor, self_mask: torch.Tensor | None, enc: torch.Tensor,
                enc_mask: torch.Tensor | None) -> torch.Tensor:
        """"multimodal" when the layer has self-attention, "mlr" otherwise."""
        if self.attention is not None:
            hidden = self.attention(hidden, self_mask)
        hidden = self.crossattention(hidden, enc_mask, enc)
        return self.output(self.intermediate(hidden), hidden)


class BertEncoder(nn.Module):
    """A stack of BertLayers (keys `layer.<i>.*`)."""

    def __init__(self, cfg: BertConfig, self_attention: bool = True) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg, self_attention) for _ in range(cfg.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, self_mask: torch.Tensor | None, enc: torch.Tensor,
                enc_mask: torch.Tensor | None) -> torch.Tensor:
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

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, enc: torch.Tensor, causal: bool = False) -> torch.Tensor:
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
