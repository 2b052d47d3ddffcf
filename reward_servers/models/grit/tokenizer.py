"""The decode half of GRiT's `BertTokenizer('bert-base-uncased')`, read from a WordPiece vocab.txt.

GRiT only turns generated ids back into text: `tokenizer.decode(ids[1:], skip_special_tokens=True)` of
transformers 4.33's slow BertTokenizer, i.e. drop [PAD]/[UNK]/[CLS]/[SEP]/[MASK], join with spaces, glue
"##" continuations, then `clean_up_tokenization` (" ." -> ".", " n't" -> "n't", ...), which is on by
default for bert-base-uncased. Other tokens (including [unusedN]) are printed as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


class WordPieceDecoder:
    """ids -> text with BertTokenizer.decode(skip_special_tokens=True) semantics."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab
        index = {tok: i for i, tok in enumerate(vocab)}
        missing = [t for t in SPECIAL_TOKENS if t not in index]
        if missing:
            raise ValueError(f"WordPiece vocabulary lacks the special tokens {missing}")
        self.special_ids = frozenset(index[t] for t in SPECIAL_TOKENS)
        self.cls_token_id = index["[CLS]"]
        self.sep_token_id = index["[SEP]"]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> WordPieceDecoder:
        """Read vocab.txt (one token per line, the line number is the id)."""
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls(lines)

    def __len__(self) -> int:
        return len(self.vocab)

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, special tokens skipped."""
        tokens = [self.vocab[i] for i in ids if i not in self.special_ids]
        text = " ".join(tokens).replace(" ##", "").strip()
        for old, new in _CLEANUP:
            text = text.replace(old, new)
        return text


_TINY_WORDS = (
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "with",
    "and",
    "is",
    "person",
    "man",
    "woman",
    "dog",
    "cat",
    "car",
    "bird",
    "bowl",
    "chair",
    "clock",
    "vase",
    "umbrella",
    "bicycle",
    "suitcase",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "yellow",
    "pink",
    "purple",
    "orange",
    "gray",
    "silver",
    "small",
    "large",
    "wooden",
    "sitting",
    "table",
)


def build_tiny_vocab(size: int = 128) -> list[str]:
    """A fixed WordPiece vocabulary for tiny models: BERT's special-token layout, letters, '##' letters, words.

    Ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, [unused0]=5 (the tiny DenseCap begin token); padded
    with further [unusedN] entries to exactly `size`.
    """
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = [*SPECIAL_TOKENS, "[unused0]", *letters, *(f"##{c}" for c in letters), ".", ","]
    vocab += [w for w in _TINY_WORDS if w not in vocab]
    if len(vocab) > size:
        raise ValueError(f"tiny vocabulary needs at least {len(vocab)} entries")
    vocab += [f"[unused{i}]" for i in range(1, size - len(vocab) + 1)]
    return vocab
