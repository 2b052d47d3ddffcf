"""Tiny but real BPE tokenizers for tests and the offline demo, trained in memory (no download).

Both are byte-level BPEs learned (by the deterministic greedy learner below, with the `tokenizers` library's
own normalisers and pre-tokenisers) on a small built-in English corpus and wrapped in the transformers classes
the official checkpoints use, with the official special-token layout:
- CLAP text (RoBERTa): ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, ``<mask>`` last; no lower-casing.
- CLIP text: lower-casing, CLIP's split pattern, ``</w>`` word suffix, ``<|startoftext|>`` and
  ``<|endoftext|>`` as the two last ids, pad = unk = ``<|endoftext|>``, 77-token limit.
Learning is deterministic, so tiny models built on these vocabularies score identically in every process.
"""

from __future__ import annotations

import functools
from typing import Any

_CORPUS = """
A dog barks twice in a quiet backyard while birds chirp in the trees.
Heavy rain falls on a tin roof and thunder rumbles in the distance.
A man plays an acoustic guitar and sings a slow folk song by the fire.
A crowd cheers loudly as a football player scores a goal in the stadium.
Waves crash against the rocks on a windy beach at sunset.
A car engine starts, revs up, and drives away down a gravel road.
A woman speaks calmly into a microphone during a radio interview.
Children laugh and shout while playing on a playground in the park.
A violin and a piano perform a classical duet in a concert hall.
A cat meows softly and purrs while sitting on a wooden windowsill.
The train horn blows as it passes a crossing with bells ringing.
Footsteps echo in an empty hallway followed by a door closing.
A helicopter flies overhead with its blades chopping the air.
Fireworks explode in the night sky over a cheering crowd.
A chef chops vegetables on a cutting board in a busy kitchen.
An electric guitar plays a loud rock riff with heavy drums.
Water drips from a faucet into a metal sink, slowly and steadily.
A baby cries and a mother hums a gentle lullaby.
Wind howls through the pine forest during a winter storm.
A jazz band plays a lively tune with trumpet and saxophone solos.
A horse gallops across a field, hooves pounding the dry earth.
Keyboard keys click rapidly as someone types in an office.
A siren wails as an ambulance speeds through city traffic.
Birds sing at dawn while a stream flows gently over stones.
A drummer plays a fast beat and cymbals crash at the end.
People talk and dishes clatter in a crowded restaurant.
An old clock ticks loudly and chimes twelve times at midnight.
A motorcycle roars past on the highway and fades into the distance.
Leaves rustle as a squirrel runs up the trunk of an oak tree.
A choir sings a hymn in a large stone church with long reverb.
Video of a red sports car racing around a track at high speed.
A golden retriever runs on green grass chasing a blue ball.
Close-up of a person's hands playing piano keys in warm light.
Aerial view of a city skyline at night with glowing lights.
A small boat sails across a calm lake surrounded by mountains.
Two people dance salsa in a colorful street festival.
Snow falls on a quiet village with smoke rising from chimneys.
An astronaut floats inside a space station looking at the earth.
A robot walks through a futuristic laboratory with blinking screens.
Slow motion shot of a glass of water shattering on the floor.
Time-lapse of clouds moving over a desert canyon at sunrise.
A cartoon rabbit hops through a meadow full of yellow flowers.
The sound of typing, a phone ringing, and a man answering it.
A bee buzzes around purple lavender flowers in the summer heat.
Frogs croak loudly near a pond on a warm summer night.
The audience applauds after the orchestra finishes the symphony.
A hammer strikes a nail repeatedly on a construction site.
A kettle whistles on the stove as the water begins to boil.
Someone whistles a cheerful melody while walking down the street.
A deep voice narrates a documentary about ocean life and whales.
0 1 2 3 4 5 6 7 8 9 10 12 24 48 100 2024 3.5 seconds, 4k, 16:9 - "quoted" (parenthesis) & more!
"""

_SPECIAL_ROBERTA = ("<s>", "<pad>", "</s>", "<unk>")
_CLIP_BOS, _CLIP_EOS = "<|startoftext|>", "<|endoftext|>"
_CLIP_SPLIT = (
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
)


def corpus_lines() -> list[str]:
    """The built-in training sentences."""
    return [line for line in _CORPUS.strip().splitlines() if line.strip()]


def learn_bpe_merges(words: dict[tuple[str, ...], int], n_merges: int) -> list[tuple[str, str]]:
    """Greedy BPE on word counts: merge the most frequent adjacent pair, ties broken by the smaller pair.

    Written here (instead of `tokenizers`' trainer, whose hash-map order varies from run to run) so the tiny
    vocabularies, and every tiny model's scores, are identical across processes.
    """
    work = dict(sorted(words.items()))
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: dict[tuple[str, str], int] = {}
        for word, count in work.items():
            for pair in zip(word, word[1:], strict=False):
                pairs[pair] = pairs.get(pair, 0) + count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        joined = best[0] + best[1]
        merged: dict[tuple[str, ...], int] = {}
        for word, count in work.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        work = merged
    return merges


def _word_counts(pieces: list[str], end_of_word: str = "") -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = {}
    for piece in pieces:
        symbols = tuple(piece[:-1]) + (piece[-1] + end_of_word,) if end_of_word else tuple(piece)
        counts[symbols] = counts.get(symbols, 0) + 1
    return counts


def _grow_vocab(
    base: list[str], merges: list[tuple[str, str]], size: int
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """base symbols, then merged symbols in merge order, up to `size` entries; the merges that fit."""
    vocab = {s: i for i, s in enumerate(base)}
    kept: list[tuple[str, str]] = []
    for a, b in merges:
        if len(vocab) >= size:
            break
        kept.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    return vocab, kept


@functools.lru_cache(maxsize=4)
def _train_roberta_bpe(vocab_size: int) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    """A RoBERTa-style byte-level BPE learned on the corpus; returns (vocab items, merges), memoised."""
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    pieces = [p for line in corpus_lines() for p, _ in pre.pre_tokenize_str(line)]
    base = list(_SPECIAL_ROBERTA) + sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = learn_bpe_merges(_word_counts(pieces), vocab_size - 1 - len(base))
    vocab, kept = _grow_vocab(base, merges, vocab_size - 1)
    vocab["<mask>"] = len(vocab)  # RoBERTa keeps <mask> as the last id
    return tuple(sorted(vocab.items(), key=lambda kv: kv[1])), tuple(kept)


@functools.lru_cache(maxsize=4)
def _train_clip_bpe(vocab_size: int) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    """A CLIP-style BPE (lower-cased, `</w>` word ends) learned on the corpus; returns (vocab items, merges)."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    norm = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    pieces = [p for line in corpus_lines() for p, _ in pre.pre_tokenize_str(norm.normalize_str(line))]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    # Every byte exists both inside a word and word-final, so no input ever becomes <unk>.
    base = alphabet + [ch + "</w>" for ch in alphabet]
    merges = learn_bpe_merges(_word_counts(pieces, "</w>"), vocab_size - 2 - len(base))
    vocab, kept = _grow_vocab(base, merges, vocab_size - 2)
    vocab[_CLIP_BOS] = len(vocab)
    vocab[_CLIP_EOS] = len(vocab)  # the highest id, as in OpenAI's vocabulary (EOT pooling by argmax)
    return tuple(sorted(vocab.items(), key=lambda kv: kv[1])), tuple(kept)


def tiny_roberta_tokenizer(vocab_size: int = 1000, model_max_length: int = 512) -> Any:
    """A RobertaTokenizerFast over a freshly trained tiny byte-level BPE (CLAP's text tokenizer layout)."""
    from transformers import RobertaTokenizer  # = RobertaTokenizerFast in transformers 5

    vocab, merges = _train_roberta_bpe(vocab_size)
    merge_list: Any = list(merges)  # the backend takes (left, right) pairs
    return RobertaTokenizer(vocab=dict(vocab), merges=merge_list, model_max_length=model_max_length)


def tiny_clip_tokenizer(vocab_size: int = 1000, model_max_length: int = 77) -> Any:
    """A CLIPTokenizerFast over a freshly trained tiny CLIP-style BPE (lower-casing, EOT = pad)."""
    from transformers import CLIPTokenizer  # = CLIPTokenizerFast in transformers 5

    vocab, merges = _train_clip_bpe(vocab_size)
    merge_list: Any = list(merges)
    return CLIPTokenizer(
        vocab=dict(vocab),
        merges=merge_list,
        unk_token=_CLIP_EOS,
        bos_token=_CLIP_BOS,
        eos_token=_CLIP_EOS,
        pad_token=_CLIP_EOS,
        model_max_length=model_max_length,
    )
