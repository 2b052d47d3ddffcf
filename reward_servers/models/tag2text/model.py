"""Tag2Text caption model (Swin-B 384, `tag2text_swin_14m.pth`), the captioner of VBench's scene dimension.

Written for this project from `vbench/third_party/tag2Text/tag2text.py` (`tag2text_caption(image_size=384,
vit='swin_b')`, specs/vbench.md §1.13). Modules and checkpoint keys:
  visual_encoder.*   Swin-B: image -> (B, 145, 1024) tokens (mean token first)
  vision_multi.*     tagging head: 2-layer BERT (4 heads) in "mlr" mode, 3,429 label queries over the image
  label_embed.weight, fc.W, fc.b   label queries and the group-wise linear tag classifier
  tag_encoder.*      12-layer BERT: the tag string (" | "-joined) attends to the image
  text_decoder.*     12-layer causal BERT + LM head: writes the caption attending to the tag encoding
Ties, as the reference makes them: tag_encoder layers 0-1 share the cross-attention / FFN parameters of
vision_multi layers 0-1 (parameters only: each keeps its own head count), and the decoder's LM projection
is the word-embedding matrix; every tied tensor appears under both names in the state dict.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from importlib import resources

import numpy as np
import torch
from torch import nn

from omninft.reward_servers.models.tag2text.bert import BertConfig, BertLMHeadModel, BertModel, QueryDecoder
from omninft.reward_servers.models.tag2text.swin import SwinConfig, SwinTransformer

# Tags the reference never feeds to the tag encoder (delete_tag_index: quarter, two, three, four, five, one).
BANNED_TAGS = (127, 3351, 3265, 3338, 3355, 3359)
PROMPT = "a picture of "


@functools.lru_cache(maxsize=1)
def tag_names() -> tuple[str, ...]:
    """The 3,429 tag names in head order (package data tag_names.json)."""
    text = resources.files(__package__).joinpath("tag_names.json").read_text(encoding="utf-8")
    names = tuple(json.loads(text)["tags"])
    if len(names) != 3429:
        raise ValueError("tag_names.json must list 3,429 tags")
    return names


@dataclass(frozen=True)
class Tag2TextConfig:
    """Sizes of Tag2Text; `official()` is tag2text_swin_14m at 384 px, `tiny()` the same architecture, small."""

    swin: SwinConfig = field(default_factory=SwinConfig)
    text: BertConfig = field(default_factory=BertConfig)  # med_config.json: tag encoder and caption decoder
    query: BertConfig = field(
        default_factory=lambda: BertConfig(vocab_size=30522, num_hidden_layers=2, num_attention_heads=4)
    )  # q2l_config.json
    num_tags: int = 3429
    threshold: float = 0.7
    banned_tags: tuple[int, ...] = BANNED_TAGS
    tag_max_length: int = 40

    @classmethod
    def official(cls) -> Tag2TextConfig:
        """Swin-B 384 (window 12) + BERT-base tag encoder / decoder, 3,429 tags."""
        return cls()

    @classmethod
    def tiny(cls, vocab_size: int = 1000, num_tags: int = 3429) -> Tag2TextConfig:
        """Swin on 64^2 images (window 2, 2 stages), 2-layer 32-wide BERTs; the official tag head size."""
        bert = BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
        return replace(
            cls(),
            swin=SwinConfig(image_size=64, embed_dim=16, depths=(2, 2), heads=(2, 4), window_size=4),
            text=bert,
            query=replace(bert, num_hidden_layers=2, num_attention_heads=1),
            num_tags=num_tags,
            banned_tags=tuple(i for i in BANNED_TAGS if i < num_tags),
        )


class GroupWiseLinear(nn.Module):
    """One linear unit per tag: logits[b, k] = <W[k], x[b, k]> + b[k] (keys W, b)."""

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        bound = 1.0 / dim**0.5
        self.W = nn.Parameter(torch.empty(1, num, dim).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(1, num).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, D) -> (B, K)."""
        return (self.W * x).sum(-1) + self.b


class Tag2TextCaption(nn.Module):
    """The caption model: `image_embeds`, `tag_logits`, `encode_tags`, `next_token_logits` (see generate.py)."""

    def __init__(self, cfg: Tag2TextConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or Tag2TextConfig.official()
        width = cfg.swin.out_dim
        self.visual_encoder = SwinTransformer(cfg.swin)
        self.text_decoder = BertLMHeadModel(replace(cfg.text, encoder_width=cfg.text.hidden_size))
        self.tag_encoder = BertModel(replace(cfg.text, encoder_width=width))
        self.vision_multi = QueryDecoder(replace(cfg.query, encoder_width=width))
        self.label_embed = nn.Embedding(cfg.num_tags, cfg.query.hidden_size)
        self.fc = GroupWiseLinear(cfg.num_tags, cfg.query.hidden_size)
        for m in (self.text_decoder, self.tag_encoder, self.vision_multi):
            for sub in m.modules():
                if isinstance(sub, nn.Linear | nn.Embedding):
                    nn.init.normal_(sub.weight, std=0.02)
        self._tie()

    def _tie(self) -> None:
        """Share vision_multi layer i's cross-attention and FFN parameters with tag_encoder layer i."""
        for enc_layer, q_layer in zip(
            self.tag_encoder.encoder.layer, self.vision_multi.encoder.layer, strict=False
        ):
            for name in ("crossattention", "intermediate", "output"):
                src, dst = getattr(q_layer, name), getattr(enc_layer, name)
                for mod_name, mod in src.named_modules():
                    target = dst.get_submodule(mod_name) if mod_name else dst
                    for pname, param in list(mod.named_parameters(recurse=False)):
                        setattr(target, pname, param)

    def tied_keys(self) -> dict[str, str]:
        """Each secondary state-dict key -> the key whose value the reference's load leaves in the shared tensor."""
        ties: dict[str, str] = {}
        n = min(len(self.tag_encoder.encoder.layer), len(self.vision_multi.encoder.layer))
        for key in self.vision_multi.state_dict():
            layer = int(key.split(".")[2])
            if layer < n:
                ties["tag_encoder." + key] = "vision_multi." + key
        ties["text_decoder.bert.embeddings.word_embeddings.weight"] = (
            "text_decoder.cls.predictions.decoder.weight"
        )
        # a module loads its own parameters before its children's: decoder.bias is copied after predictions.bias
        ties["text_decoder.cls.predictions.bias"] = "text_decoder.cls.predictions.decoder.bias"
        return ties

    def image_embeds(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) ImageNet-normalised -> (B, 1 + L, vision width)."""
        return self.visual_encoder(images)

    def tag_logits(self, image_embeds: torch.Tensor) -> torch.Tensor:
        """(B, 1 + L, W) -> (B, num_tags) tag logits (sigmoid > threshold selects tags)."""
        queries = self.label_embed.weight.unsqueeze(0).expand(image_embeds.shape[0], -1, -1)
        return self.fc(self.vision_multi(queries, image_embeds))

    def encode_tags(
        self, tag_ids: torch.Tensor, tag_mask: torch.Tensor, image_embeds: torch.Tensor
    ) -> torch.Tensor:
        """Tag token ids (first id = [ENC]) and mask, image tokens -> (B, T, hidden) tag encoding."""
        return self.tag_encoder(tag_ids, tag_mask, image_embeds)

    def next_token_logits(self, ids: torch.Tensor, tag_states: torch.Tensor) -> torch.Tensor:
        """(N, L) caption ids so far + (N, T, hidden) tag encodings -> (N, vocab) logits of the next token."""
        return self.text_decoder(ids, tag_states)[:, -1, :]


def selected_tags(
    logits: np.ndarray, threshold: float = 0.7, banned: tuple[int, ...] = BANNED_TAGS
) -> list[list[int]]:
    """Per image, the tag indices with sigmoid(logit) > threshold (strict), banned ones removed, ascending."""
    probs = torch.sigmoid(torch.as_tensor(np.asarray(logits, dtype=np.float32))).numpy()
    keep = probs > threshold
    keep[:, list(banned)] = False
    return [np.flatnonzero(row).tolist() for row in keep]


def tag_string(indices: list[int], names: tuple[str, ...] | None = None) -> str:
    """The reference's tag input: names joined with ' | '."""
    names = names or tag_names()
    return " | ".join(names[i] for i in indices)


def build(cfg: Tag2TextConfig | None = None) -> Tag2TextCaption:
    """A Tag2TextCaption of `cfg` (default: official), randomly initialised, in eval mode."""
    return Tag2TextCaption(cfg).eval()
