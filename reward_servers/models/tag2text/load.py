"""Loading Tag2Text: tiny/random initialisation, or `tag2text_swin_14m.pth` with the reference's loading rules.

The reference (`load_checkpoint_swinbase`) takes `torch.load(path)["model"]`, deletes every
`relative_position_index` and `attn_mask` entry (recomputed from the geometry), resizes relative position
tables whose window differs (not needed for the 384 px checkpoint: we refuse a different window instead), and
calls `load_state_dict(..., strict=False)`. Made explicit here:
- dropped like the reference: `*relative_position_index`, `*attn_mask`; also `*position_ids` (BERT's arange
  buffer, identical by construction; this model does not store it);
- tied tensors (tag_encoder layers 0-1 <-> vision_multi layers 0-1, decoder LM projection <-> word
  embeddings): the value the reference's load leaves in the shared tensor wins (the entry loaded last);
  either name alone is enough;
- unexpected entries: ignored and reported (LoadReport.ignored); any other missing entry or a shape mismatch:
  WeightsLoadError (the reference would keep a random initialisation or fail).
The text side needs BERT's uncased WordPiece vocabulary (OFFICIAL_TOKENIZER) plus [DEC] and [ENC].
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from omninft.reward_servers.models._hf import RANDOM_WEIGHTS, WeightsLoadError, tiny_weights_id
from omninft.reward_servers.models.tag2text.model import (
    PROMPT,
    Tag2TextCaption,
    Tag2TextConfig,
    build,
    tag_names,
)
from omninft.reward_servers.weights import (
    WeightsIdentity,
    WeightSpec,
    as_spec,
    resolve,
    resolve_named_file,
    state_dict_sha256,
)

logger = logging.getLogger(__name__)

FAMILY = "tag2text"
ARCHITECTURES = ("official", "tiny")
# The checkpoint VBench downloads (vbench/utils.py init_submodules). No digest is published, so the sha256 is
# recorded at fetch time, not pinned.
OFFICIAL_WEIGHTS = WeightSpec(
    "tag2text",
    "https://huggingface.co/spaces/xinyu1205/recognize-anything/resolve/main/tag2text_swin_14m.pth",
    family="tag2text",
)
# The vocabulary of the tokenizer the reference builds with BertTokenizer.from_pretrained('bert-base-uncased')
# (uncased WordPiece: vocab.txt is all it reads), pinned to a hub revision so every fetch gets the same bytes.
OFFICIAL_TOKENIZER = WeightSpec(
    "tag2text_tokenizer",
    "https://huggingface.co/google-bert/bert-base-uncased/resolve/86b5e0934494bd15c9632b12f734a8a67f723594/vocab.txt",
    family="tag2text",
)
CHECKPOINT_NOTES = (
    "torch.load(path)['model'] holds the state dict (visual_encoder.*, text_decoder.*, tag_encoder.*, "
    "vision_multi.*, label_embed.weight, fc.W, fc.b); the reference drops relative_position_index / attn_mask "
    "entries and loads with strict=False; see load.py for the explicit rules."
)
_DROPPED = re.compile(r"(relative_position_index|attn_mask|position_ids)$")


@dataclass(frozen=True)
class LoadReport:
    """Checkpoint entries dropped (recomputed buffers) or ignored (unknown to the model)."""

    dropped: tuple[str, ...]
    ignored: tuple[str, ...]


class Tag2TextTokenizer:
    """BERT uncased WordPiece + [DEC] (bos) and [ENC]: tag encoding, the caption prompt and decoding."""

    def __init__(self, bert: Any) -> None:
        bert.add_special_tokens({"bos_token": "[DEC]"})
        bert.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        self.bert = bert
        self.enc_token_id = int(bert.convert_tokens_to_ids("[ENC]"))
        self.bos_token_id = int(bert.bos_token_id)
        self.sep_token_id = int(bert.sep_token_id)
        self.pad_token_id = int(bert.pad_token_id)
        self.vocab_size = len(bert)

    @classmethod
    def from_vocab_file(cls, path: str | os.PathLike[str]) -> Tag2TextTokenizer:
        """The official tokenizer from bert-base-uncased's vocab.txt (30,522 + 2 = 30,524 ids)."""
        from transformers import BertTokenizer

        vocab: dict[str, int] = {}
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                vocab[line.rstrip("\n")] = i
        return cls(BertTokenizer(vocab=vocab, do_lower_case=True))

    @classmethod
    def tiny(cls) -> Tag2TextTokenizer:
        """A small uncased WordPiece vocabulary (special tokens, characters, corpus and tag words), in memory."""
        from transformers import BertTokenizer

        from omninft.reward_servers.models.tiny_tokenizers import corpus_lines

        words: set[str] = set()
        for text in [*corpus_lines(), *tag_names()[:400], PROMPT]:
            words.update(re.findall(r"[a-z]+", text.lower()))
        chars = sorted({c for w in words for c in w} | set("0123456789|.,!?'-()&\":"))
        tokens = [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            *chars,
            *(f"##{c}" for c in chars),
            *sorted(words - set(chars)),
        ]
        return cls(BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True))

    def prompt_ids(self) -> list[int]:
        """ "[DEC] a picture of": the tokenized prompt with [CLS] replaced by [DEC] and the [SEP] dropped."""
        ids = list(self.bert(PROMPT)["input_ids"])
        return [self.bos_token_id, *ids[1:-1]]

    def tags(self, tag_strings: Sequence[str], max_length: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, mask) of the tag strings, padded to max_length, first id replaced by [ENC]."""
        enc = self.bert(list(tag_strings), padding="max_length", truncation=True, max_length=max_length)
        ids = torch.tensor(enc["input_ids"], dtype=torch.long)
        ids[:, 0] = self.enc_token_id
        return ids, torch.tensor(enc["attention_mask"], dtype=torch.long)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a token sequence without special tokens."""
        return str(self.bert.decode(list(ids), skip_special_tokens=True))


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a Tag2Text checkpoint: its `model` entry (or the file itself if it is a bare one)."""
    try:
        obj: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or a pickle that needs arbitrary code
        raise WeightsLoadError(f"cannot read a Tag2Text checkpoint from {path}: {e}") from e
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping):
        raise WeightsLoadError(f"{path} does not hold a Tag2Text state dict")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_state_dict(model: Tag2TextCaption, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """The reference's loading rules (module docstring), strictly checked."""
    own = model.state_dict()
    dropped = tuple(sorted(k for k in state_dict if _DROPPED.search(k)))
    given = {k: v for k, v in state_dict.items() if k not in dropped}
    ignored = tuple(sorted(set(given) - set(own)))
    wanted: dict[str, torch.Tensor] = {k: given[k] for k in own if k in given}
    for secondary, primary in model.tied_keys().items():
        source = primary if primary in given else secondary
        if source in given:
            wanted[primary] = wanted[secondary] = given[source]
    missing = sorted(set(own) - set(wanted))
    mismatched = [
        f"{k}: {tuple(v.shape)} != {tuple(own[k].shape)}"
        for k, v in wanted.items()
        if tuple(v.shape) != tuple(own[k].shape)
    ]
    if missing or mismatched:
        parts = [
            f"{name}: {keys[:8]}{' ...' if len(keys) > 8 else ''} ({len(keys)})"
            for name, keys in (("missing", missing), ("shape mismatch", mismatched))
            if keys
        ]
        raise WeightsLoadError("Tag2Text checkpoint does not match the architecture: " + "; ".join(parts))
    model.load_state_dict({k: v.float() for k, v in wanted.items()}, strict=True)
    model.eval()
    if ignored:
        logger.info(
            "tag2text: ignored %d checkpoint entries the model does not have: %s", len(ignored), ignored[:8]
        )
    return LoadReport(dropped=dropped, ignored=ignored)


def tokenizer(
    source: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None
) -> Tag2TextTokenizer:
    """The official tokenizer: `source` (a vocab.txt path, a directory holding one, or an HF id) or OFFICIAL_TOKENIZER."""
    spec = (
        OFFICIAL_TOKENIZER
        if source in (None, "", "official")
        else as_spec(str(source), name="tag2text_tokenizer")
    )
    return Tag2TextTokenizer.from_vocab_file(resolve_named_file(spec, "vocab.txt", cache_dir=cache_dir))


def _random(cfg: Tag2TextConfig, seed: int) -> Tag2TextCaption:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(cfg)


def load(
    weights: str,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    tokenizer_source: str | None = None,
    architecture: str = "official",
) -> tuple[Tag2TextCaption, Tag2TextTokenizer, WeightsIdentity, LoadReport]:
    """(model, tokenizer, identity, load report) for "tiny", "random", "official" or a checkpoint path/URL."""
    if weights == "tiny":
        tok = Tag2TextTokenizer.tiny()
        model = _random(Tag2TextConfig.tiny(vocab_size=tok.vocab_size), seed)
        ident = WeightsIdentity(tiny_weights_id(seed, "tiny"), state_dict_sha256(model.state_dict()), True)
        return model, tok, ident, LoadReport((), ())
    if weights in RANDOM_WEIGHTS:
        try:
            tok = tokenizer(tokenizer_source, cache_dir=cache_dir)
        except FileNotFoundError:
            logger.warning("tag2text: BERT vocabulary not available; random weights use the tiny tokenizer")
            tok = Tag2TextTokenizer.tiny()
        model = _random(Tag2TextConfig.official(), seed)
        ident = WeightsIdentity(tiny_weights_id(seed, "random"), state_dict_sha256(model.state_dict()), True)
        return model, tok, ident, LoadReport((), ())
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown Tag2Text architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    spec = OFFICIAL_WEIGHTS if weights == "official" else as_spec(weights, name=FAMILY)
    resolved = resolve(spec, cache_dir=cache_dir, offline=True)
    path = resolved.main_file or resolved.path
    if not path.is_file():
        raise WeightsLoadError(f"no Tag2Text checkpoint file under {resolved.path}")
    sd = read_checkpoint(path)
    if architecture == "tiny":
        emb = sd.get("text_decoder.bert.embeddings.word_embeddings.weight")
        cfg = Tag2TextConfig.tiny(vocab_size=int(emb.shape[0])) if emb is not None else Tag2TextConfig.tiny()
    else:
        cfg = Tag2TextConfig.official()
    model = build(cfg)
    report = load_state_dict(model, sd)
    tok = tokenizer(tokenizer_source, cache_dir=cache_dir)
    if tok.vocab_size != cfg.text.vocab_size:
        raise WeightsLoadError(f"tokenizer has {tok.vocab_size} ids, the model {cfg.text.vocab_size}")
    logger.info("tag2text: loaded %s (sha256 %s)", resolved.weights_id, resolved.sha256)
    return model, tok, WeightsIdentity(resolved.weights_id, resolved.sha256, tiny=False), report
