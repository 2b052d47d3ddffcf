"""Beam-search captioning for Tag2Text, reproducing what the reference's `generate` does under its pinned
transformers (4.33.2), without transformers' GenerationMixin (gone from BERT models in transformers 5).

Procedure (`Tag2Text_Caption.generate(..., num_beams=3, max_length=30, min_length=10)`):
1. Swin tokens, tag logits, tags = sigmoid > 0.7 minus the banned indices, joined with " | ".
2. The tag strings are tokenized to 40 tokens (padding "max_length", truncation), the first id replaced by
   [ENC], and encoded by the tag encoder attending to the image tokens.
3. The decoder starts from "[DEC] a picture of" (the prompt's [CLS] replaced by [DEC], its [SEP] dropped) and
   runs transformers' beam search: log-softmax scores, EOS (= [SEP]) forbidden while the length is < 10,
   2 * num_beams candidates per step, finished hypotheses scored sum_logprob / length (length penalty 1;
   length = tokens before the EOS, prompt included), heuristic stopping (done when the worst kept hypothesis
   is >= the best candidate score / (current length + 1)), at most 30 tokens, best hypothesis per image. No KV cache: the reference's
   prepare_inputs_for_generation takes `past`, which transformers 4.33 no longer passes, so every step
   recomputes the whole prefix; so do we by default (GenerationConfig.use_cache=True caches keys/values:
   ~10x less decoder work, equal to float rounding).
4. decode(skip_special_tokens=True), then the first len("a picture of ") characters are cut off.

Reference quirk ("reference" protocol, the default): the reference repeats the tag encodings num_beams times
itself, and transformers repeats them num_beams times again; the cross-attention then keeps the first rows.
Net effect: the beams of image i attend to the tag encoding of image i // num_beams. With 16 frames, frames
0-2 are captioned from frame 0, 3-5 from frame 1, ..., 15 from frame 5; frames 6-15 are never looked at.
"corrected" gives each image its own encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from omninft.reward_servers.models.tag2text.bert import DecoderCache
from omninft.reward_servers.models.tag2text.model import PROMPT, Tag2TextCaption, selected_tags, tag_string

PROTOCOLS = ("reference", "corrected")


@dataclass(frozen=True)
class GenerationConfig:
    """The reference's generate() defaults used by VBench's scene dimension."""

    num_beams: int = 3
    max_length: int = 30
    min_length: int = 10
    length_penalty: float = 1.0
    use_cache: bool = False  # True: key/value cache (faster; equal to float rounding, not bit for bit)


class _Hypotheses:
    """Finished hypotheses of one image (transformers' BeamHypotheses, early_stopping=False)."""

    def __init__(self, num_beams: int, length_penalty: float) -> None:
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.beams: list[tuple[float, list[int]]] = []
        self.worst = 1e9

    def add(self, ids: list[int], sum_logprobs: float) -> None:
        """Keep the hypothesis if there is room or it beats the worst kept one."""
        score = sum_logprobs / (len(ids) ** self.length_penalty)
        if len(self.beams) < self.num_beams or score > self.worst:
            self.beams.append((score, ids))
            if len(self.beams) > self.num_beams:
                order = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                del self.beams[order[0][1]]
                self.worst = order[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs: float, cur_len: int) -> bool:
        """Heuristic stop: full, and no running beam can beat the worst kept hypothesis any more."""
        if len(self.beams) < self.num_beams:
            return False
        return self.worst >= best_sum_logprobs / cur_len**self.length_penalty

    def best(self) -> list[int]:
        """The highest-scoring hypothesis (the last added among equal scores, as sorted().pop() picks)."""
        return sorted(self.beams, key=lambda b: b[0])[-1][1]


@torch.no_grad()
def beam_search(
    model: Tag2TextCaption,
    prompt_ids: list[int],
    tag_states: torch.Tensor,
    eos_id: int,
    cfg: GenerationConfig = GenerationConfig(),
) -> list[list[int]]:
    """Token ids (prompt included, no EOS) of the best beam per image; tag_states (B, T, hidden)."""
    b, k = tag_states.shape[0], cfg.num_beams
    states = tag_states.repeat_interleave(k, dim=0)
    ids = torch.tensor([prompt_ids] * (b * k), dtype=torch.long, device=tag_states.device)
    beam_scores = torch.zeros(b, k, device=tag_states.device)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    hyps = [_Hypotheses(k, cfg.length_penalty) for _ in range(b)]
    done = [False] * b
    cur_len = ids.shape[1]
    cache = DecoderCache() if cfg.use_cache else None
    while cur_len < cfg.max_length:
        if cache is None:
            logits = model.next_token_logits(ids, states)
        else:
            logits = model.text_decoder.step(ids[:, cache.length :], states, cache)
        scores = torch.log_softmax(logits.float(), dim=-1)
        if cur_len < cfg.min_length:
            scores[:, eos_id] = -float("inf")
        vocab = scores.shape[-1]
        scores = (scores + beam_scores[:, None]).view(b, k * vocab)
        top_scores, top_tokens = torch.topk(scores, 2 * k, dim=1, largest=True, sorted=True)
        next_scores = torch.zeros(b, k, device=ids.device)
        next_tokens = torch.zeros(b, k, dtype=torch.long, device=ids.device)
        next_rows = torch.zeros(b, k, dtype=torch.long, device=ids.device)
        for i in range(b):
            if done[i]:
                next_rows[i] = i * k  # finished images keep padding (their rows are never read again)
                continue
            slot = 0
            for rank in range(2 * k):
                token = int(top_tokens[i, rank]) % vocab
                row = i * k + int(top_tokens[i, rank]) // vocab
                score = float(top_scores[i, rank])
                if token == eos_id:
                    if rank < k:
                        hyps[i].add(ids[row].tolist(), score)
                else:
                    next_scores[i, slot], next_tokens[i, slot], next_rows[i, slot] = score, token, row
                    slot += 1
                if slot == k:
                    break
            # transformers 4.33 measures the running length one token ahead (input_ids.shape[-1] + 1)
            done[i] = done[i] or hyps[i].is_done(float(top_scores[i].max()), cur_len + 1)
        ids = torch.cat([ids[next_rows.view(-1)], next_tokens.view(-1, 1)], dim=1)
        if cache is not None:
            cache.reorder(next_rows.view(-1))
        beam_scores = next_scores.view(-1)
        cur_len += 1
        if all(done):
            break
    for i in range(b):
        if not done[i]:
            for j in range(k):
                hyps[i].add(ids[i * k + j].tolist(), float(beam_scores[i * k + j]))
    return [h.best() for h in hyps]


def caption_source_rows(batch: int, num_beams: int, protocol: str) -> list[int]:
    """Which image's tag encoding each image's beams attend to (see the module docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown Tag2Text protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return [i // num_beams if protocol == "reference" else i for i in range(batch)]


@dataclass(frozen=True)
class CaptionResult:
    """Captions (prompt removed) and the tag string each image produced."""

    captions: list[str]
    tags: list[str]


@torch.no_grad()
def generate(
    model: Tag2TextCaption,
    tokenizer: Any,
    images: torch.Tensor,
    *,
    protocol: str = "reference",
    cfg: GenerationConfig = GenerationConfig(),
) -> CaptionResult:
    """Captions for a batch of (B, 3, S, S) ImageNet-normalised images, as the reference's generate()."""
    embeds = model.image_embeds(images)
    logits = model.tag_logits(embeds).float().cpu().numpy()
    tags = [tag_string(t) for t in selected_tags(logits, model.config.threshold, model.config.banned_tags)]
    tag_ids, tag_mask = (t.to(images.device) for t in tokenizer.tags(tags, model.config.tag_max_length))
    rows = caption_source_rows(images.shape[0], cfg.num_beams, protocol)
    states = model.encode_tags(tag_ids[rows], tag_mask[rows], embeds[rows])
    prompt_ids = tokenizer.prompt_ids()
    best = beam_search(model, prompt_ids, states, tokenizer.sep_token_id, cfg)
    captions = [tokenizer.decode(ids)[len(PROMPT) :] for ids in best]
    return CaptionResult(captions=captions, tags=tags)


def decode_batch(tokenizer: Any, sequences: Sequence[Sequence[int]]) -> list[str]:
    """decode(skip_special_tokens=True) of each sequence, prompt characters removed."""
    return [tokenizer.decode(list(s))[len(PROMPT) :] for s in sequences]


def as_images(frames: np.ndarray) -> torch.Tensor:
    """float32 (B, 3, S, S) array -> tensor (convenience for callers holding numpy)."""
    return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
