"""Text conditioning for the LTX-2 adapter.

LTX-2 (diffusers) expects, per prompt, the *connector* outputs: video and audio context tokens of width
``caption_channels`` (3840 for LTX-2.0; the transformer's ``caption_projection`` maps them to 4096 / 2048) plus a
binary mask. They come from Gemma-3-12B hidden states (all 49 layers stacked) through ``LTX2TextConnectors``.
Gemma is too big to run inside the trainer loop, so the adapter takes any :class:`TextEncoder`: the official
Gemma + connectors stack (loaded lazily), a cache of precomputed embeddings, or a tiny deterministic random
encoder for CPU tests. Every encoder returns a fixed sequence length so conditions concatenate across batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class TextCond:
    """Connector outputs for a batch of prompts: ``video``/``audio`` (B, L, C) contexts and ``mask`` (B, L)."""

    video: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor

    def as_tree(self) -> dict[str, torch.Tensor]:
        """Batch tree form stored in ``Rollout.cond``."""
        return {"video_ctx": self.video, "audio_ctx": self.audio, "mask": self.mask}


class TextEncoder(Protocol):
    """Maps prompts to connector outputs of a fixed sequence length."""

    def __call__(self, prompts: Sequence[str]) -> TextCond:
        """Encode a batch of prompts."""
        ...


def prompt_key(prompt: str) -> str:
    """Stable cache key of a prompt (sha256 hex of its UTF-8 bytes)."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class RandomTextEncoder:
    """Tiny deterministic encoder for tests: each prompt seeds its own Gaussian token embeddings.

    One token per whitespace word (at least one, at most ``seq_len``), right-padded with zeros and mask 0, so
    different prompts give different conditions and the same prompt always gives the same one.
    """

    def __init__(self, caption_channels: int, seq_len: int = 8, scale: float = 1.0) -> None:
        self.caption_channels = caption_channels
        self.seq_len = seq_len
        self.scale = scale

    def _one(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(int(prompt_key(prompt)[:15], 16))
        shape = (self.seq_len, self.caption_channels)
        video = torch.randn(shape, generator=gen) * self.scale
        audio = torch.randn(shape, generator=gen) * self.scale
        n = max(1, min(len(prompt.split()), self.seq_len))
        mask = torch.zeros(self.seq_len, dtype=torch.long)
        mask[:n] = 1
        keep = mask[:, None].to(video.dtype)
        return video * keep, audio * keep, mask

    def __call__(self, prompts: Sequence[str]) -> TextCond:
        """Encode a batch of prompts."""
        parts = [self._one(p) for p in prompts]
        return TextCond(*(torch.stack([p[i] for p in parts]) for i in range(3)))


class PrecomputedTextEncoder:
    """Looks prompts up in a table of precomputed connector outputs (e.g. produced offline on a big GPU)."""

    def __init__(self, table: Mapping[str, TextCond]) -> None:
        self.table = dict(table)

    @classmethod
    def load(cls, path: str) -> PrecomputedTextEncoder:
        """Read a safetensors file with keys ``<sha256(prompt)>.{video,audio,mask}`` (one row per prompt)."""
        from safetensors.torch import load_file

        flat = load_file(path)
        keys = {k.rsplit(".", 1)[0] for k in flat}
        table = {
            k: TextCond(flat[f"{k}.video"][None], flat[f"{k}.audio"][None], flat[f"{k}.mask"][None])
            for k in keys
        }
        return cls(table)

    def save(self, path: str) -> None:
        """Write the table in the format :meth:`load` reads."""
        from safetensors.torch import save_file

        flat: dict[str, torch.Tensor] = {}
        for k, c in self.table.items():
            flat[f"{k}.video"] = c.video[0].contiguous()
            flat[f"{k}.audio"] = c.audio[0].contiguous()
            flat[f"{k}.mask"] = c.mask[0].contiguous()
        save_file(flat, path)

    def add(self, prompts: Sequence[str], cond: TextCond) -> None:
        """Store a batch of encoded prompts."""
        for i, p in enumerate(prompts):
            self.table[prompt_key(p)] = TextCond(
                cond.video[i : i + 1], cond.audio[i : i + 1], cond.mask[i : i + 1]
            )

    def __call__(self, prompts: Sequence[str]) -> TextCond:
        """Encode a batch of prompts (KeyError names the first missing prompt)."""
        rows = []
        for p in prompts:
            key = prompt_key(p)
            if key not in self.table:
                raise KeyError(f"no precomputed text embedding for prompt {p!r} (key {key[:12]}…)")
            rows.append(self.table[key])
        return TextCond(
            torch.cat([r.video for r in rows]),
            torch.cat([r.audio for r in rows]),
            torch.cat([r.mask for r in rows]),
        )


class GemmaConnectorTextEncoder:
    """Official LTX-2 text path: Gemma-3 hidden states (all layers) → ``LTX2TextConnectors`` (loaded lazily).

    ``model_id`` is a diffusers-format LTX-2 repository or local folder with ``tokenizer``, ``text_encoder`` and
    ``connectors`` subfolders. Nothing is loaded until the first call.
    """

    def __init__(
        self,
        model_id: str = "Lightricks/LTX-2",
        revision: str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        max_sequence_length: int = 1024,
    ) -> None:
        self.model_id = model_id
        self.revision = revision
        self.device = torch.device(device)
        self.dtype = dtype
        self.max_sequence_length = max_sequence_length
        self._parts: tuple[Any, Any, Any] | None = None

    def _load(self) -> tuple[Any, Any, Any]:
        if self._parts is None:
            from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
            from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

            kw: dict[str, Any] = {"revision": self.revision}
            tok = AutoTokenizer.from_pretrained(self.model_id, subfolder="tokenizer", **kw)
            tok.padding_side = "left"  # Gemma chat-style prompts; the connectors are told the side below
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            enc: Any = Gemma3ForConditionalGeneration.from_pretrained(
                self.model_id, subfolder="text_encoder", dtype=self.dtype, **kw
            )
            enc.to(self.device)
            conn = LTX2TextConnectors.from_pretrained(
                self.model_id, subfolder="connectors", torch_dtype=self.dtype, **kw
            ).to(self.device)
            enc.eval().requires_grad_(False)
            conn.eval().requires_grad_(False)
            self._parts = (tok, enc, conn)
        return self._parts

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> TextCond:
        """Encode a batch of prompts."""
        tok, enc, conn = self._load()
        batch = tok(
            [p.strip() for p in prompts],
            padding="max_length",
            max_length=self.max_sequence_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        ids = batch.input_ids.to(self.device)
        mask = batch.attention_mask.to(self.device)
        out = enc(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = torch.stack(out.hidden_states, dim=-1).flatten(2, 3).to(self.dtype)
        video, audio, cmask = conn(hidden, mask, padding_side="left")
        return TextCond(video.cpu(), audio.cpu(), cmask.cpu())


class CachedTextEncoder:
    """Per-prompt LRU memo in front of another encoder (OmniNFT encodes each prompt once and keeps the contexts).

    LTX-2 contexts are large (2 × 1024 × 3840 values per prompt, ~16 MB in bf16), so at most ``max_items``
    prompts are kept, least recently used first out.
    """

    def __init__(self, inner: TextEncoder, max_items: int = 128) -> None:
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.inner = inner
        self.max_items = max_items
        self.cache = PrecomputedTextEncoder({})

    def __call__(self, prompts: Sequence[str]) -> TextCond:
        """Encode a batch of prompts, running the inner encoder only on prompts not cached."""
        table = self.cache.table
        missing = list(dict.fromkeys(p for p in prompts if prompt_key(p) not in table))
        if missing:
            self.cache.add(missing, self.inner(missing))
        out = self.cache(prompts)
        for p in dict.fromkeys(prompts):  # mark as recently used (dicts keep insertion order)
            key = prompt_key(p)
            table[key] = table.pop(key)
        while len(table) > self.max_items:
            table.pop(next(iter(table)))
        return out
