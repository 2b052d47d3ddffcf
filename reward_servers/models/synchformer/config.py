"""Synchformer hyper-parameters: the official checkpoint's (specs/models.md §2.1) and a tiny test copy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynchformerConfig:
    """Every size of the Synchformer stack; `official()` is checkpoint 24-01-04T16-39-21 (MMAudio's copy).

    The input contract (224² frames, 16-frame segments with tubelets of 2, 128 x 66 log-mels, 14 segments per
    window, 21 offset classes over ±2 s) is kept by `tiny()` so the same front end feeds both.
    """

    # MotionFormer (video), divided space-time ViT
    image_size: int = 224
    patch_size: int = 16
    frames_per_segment: int = 16
    tubelet: int = 2
    video_dim: int = 768
    video_depth: int = 12
    video_heads: int = 12
    video_mlp_ratio: int = 4
    # AST (audio)
    n_mels: int = 128
    spec_frames: int = 66
    audio_dim: int = 768
    audio_depth: int = 12
    audio_heads: int = 12
    audio_ffn: int = 3072
    audio_patch: int = 16
    audio_stride: int = 10
    # sync transformer
    sync_dim: int = 768
    sync_depth: int = 3
    sync_heads: int = 8
    window_segments: int = 14
    num_classes: int = 21
    max_offset_s: float = 2.0

    @classmethod
    def official(cls) -> SynchformerConfig:
        """The architecture of synchformer_state_dict.pth (237,460,245 parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> SynchformerConfig:
        """Same architecture and input contract, 32-wide and one layer per stack (tests, offline demos)."""
        return cls(
            video_dim=32,
            video_depth=1,
            video_heads=2,
            audio_dim=32,
            audio_depth=1,
            audio_heads=2,
            audio_ffn=64,
            sync_dim=32,
            sync_depth=1,
            sync_heads=2,
        )

    @property
    def video_tokens(self) -> int:
        """Tokens per video segment after spatial aggregation (8 = 16 frames / tubelet 2)."""
        return self.frames_per_segment // self.tubelet

    @property
    def grid(self) -> tuple[int, int]:
        """Spatial patch grid of a frame (14, 14)."""
        side = self.image_size // self.patch_size
        return side, side

    @property
    def audio_grid(self) -> tuple[int, int]:
        """AST patch grid (frequency, time) = (12, 6) for 128 x 66 with patch 16, stride 10."""
        f = (self.n_mels - self.audio_patch) // self.audio_stride + 1
        t = (self.spec_frames - self.audio_patch) // self.audio_stride + 1
        return f, t

    @property
    def audio_tokens(self) -> int:
        """Tokens per audio segment after frequency aggregation (6)."""
        return self.audio_grid[1]

    @property
    def sync_positions(self) -> int:
        """Length of the sync transformer's position table: OFF + 14·8 video + MOD + 14·6 audio = 198."""
        return 2 + self.window_segments * (self.video_tokens + self.audio_tokens)
