"""ImageBind's text input: CLIP BPE ids, SOT ... EOT, zero-padded to 77 (official data.py / SimpleTokenizer).

The vocabulary is OpenAI CLIP's `bpe_simple_vocab_16e6.txt.gz` (the file ImageBind ships): 256 byte symbols,
the same 256 with the `</w>` word end, 48,894 merges, then <|startoftext|> = 49406 and <|endoftext|> = 49407.
BPE itself runs through a transformers CLIPTokenizer (the `tokenizers` library) built from that file; this
module adds ImageBind's framing: padding with 0 (not EOT) and its truncation rule. Text cleaning is html
unescaping, whitespace collapsing and lower-casing; ftfy's mojibake repair is not applied (ftfy is not a
dependency), which only matters for broken unicode.
"""

from __future__ import annotations

import functools
import gzip
import html
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

CONTEXT_LENGTH = 77
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
OFFICIAL_MERGES = 49152 - 256 - 2
_WS = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def byte_symbols() -> tuple[str, ...]:
    """The printable stand-in character of each byte 0..255 (GPT-2/CLIP byte-level BPE alphabet)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table: dict[int, str] = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


def _byte_alphabet_in_clip_order() -> list[str]:
    """The 256 byte symbols in CLIP's vocabulary order (printable bytes first, then the remapped ones)."""
    symbols = byte_symbols()
    printable = [b for b in range(256) if ord(symbols[b]) == b]
    rest = [b for b in range(256) if ord(symbols[b]) != b]
    return [symbols[b] for b in printable + rest]


def vocab_and_merges_from_bpe(
    path: str | os.PathLike[str], n_merges: int = OFFICIAL_MERGES
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary and merge list from a bpe_simple_vocab (.txt.gz or .txt) file."""
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 1 + n_merges] if line.strip()]
    if any(len(m) != 2 for m in merges):
        raise ValueError(f"{path} is not a BPE merges file (a line is not two symbols)")
    base = _byte_alphabet_in_clip_order()
    tokens = base + [s + "</w>" for s in base] + ["".join(m) for m in merges] + [SOT, EOT]
    return {t: i for i, t in enumerate(tokens)}, [(a, b) for a, b in merges]


def clip_bpe_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Any:
    """A transformers CLIPTokenizer (fast) over a CLIP-layout vocabulary."""
    from transformers import CLIPTokenizer

    merge_list: Any = list(merges)
    return CLIPTokenizer(
        vocab=vocab,
        merges=merge_list,
        unk_token=EOT,
        bos_token=SOT,
        eos_token=EOT,
        pad_token=EOT,
        model_max_length=CONTEXT_LENGTH,
    )


def clean_text(text: str) -> str:
    """ImageBind's cleaning minus ftfy: html-unescape twice, collapse whitespace, strip, lower-case."""
    return _WS.sub(" ", html.unescape(html.unescape(text))).strip().lower()


class ImageBindTokenizer:
    """texts -> (B, 77) int64: SOT, BPE ids, EOT, zeros.

    Too-long prompts are cut to 77 ids. keep_eot=False drops the EOT with the cut (the JavisBench-vendored
    loader); keep_eot=True forces the last slot to EOT (ImageBind HEAD). The text head pools at argmax(ids), so
    without EOT it pools at the largest id of the prompt, as the reference does.
    """

    def __init__(self, bpe: Any, *, context_length: int = CONTEXT_LENGTH, keep_eot: bool = False) -> None:
        self.bpe = bpe
        self.context_length = context_length
        self.keep_eot = keep_eot
        self.sot_id = int(bpe.convert_tokens_to_ids(SOT))
        self.eot_id = int(bpe.convert_tokens_to_ids(EOT))
        self.vocab_size = len(bpe)
        if self.eot_id != self.vocab_size - 1:
            raise ValueError(
                f"EOT must be the largest id (argmax pooling), got {self.eot_id} of {self.vocab_size}"
            )

    @classmethod
    def from_bpe_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> ImageBindTokenizer:
        """The official tokenizer from bpe_simple_vocab_16e6.txt.gz."""
        vocab, merges = vocab_and_merges_from_bpe(path)
        return cls(clip_bpe_tokenizer(vocab, merges), **kwargs)

    @classmethod
    def tiny(cls, vocab_size: int = 1000, **kwargs: Any) -> ImageBindTokenizer:
        """A tiny CLIP-layout BPE trained in memory (tests, offline demo)."""
        from omninft.reward_servers.models.tiny_tokenizers import tiny_clip_tokenizer

        return cls(tiny_clip_tokenizer(vocab_size), **kwargs)

    def encode(self, text: str) -> list[int]:
        """BPE ids of one cleaned text, without SOT/EOT."""
        return list(self.bpe(clean_text(text), add_special_tokens=False, verbose=False)["input_ids"])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), context_length) int64 ids."""
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eot_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                if self.keep_eot:
                    ids[-1] = self.eot_id
            out[row, : len(ids)] = ids
        return out
