"""Region weights: bounds, uniform maps, shift invariance, warm-up, and V2A capture gating on the toy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from omninft.trainer.core.regions import (
    RegionCapture,
    RegionConfig,
    effective_w,
    per_frame_zscore,
    region_weights,
)
from omninft.trainer.policies.base import SamplerConfig
from omninft.trainer.policies.toy import ToyAdapter, ToyModelConfig, toy_prompts


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny toy rollouts: intra-op threads only add contention on a shared CPU.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bounds_and_uniform_maps() -> None:
    g = torch.Generator().manual_seed(0)
    s = torch.rand(3, 8 * 4, generator=g) * 10
    w = region_weights(s, 8, 4, 1.5)
    assert float(w.min()) >= 1.0 and float(w.max()) <= 1.5
    uniform = region_weights(torch.full((2, 32), 3.3), 8, 4, 1.5)
    torch.testing.assert_close(uniform, torch.full((2, 32), 1.25))
    assert torch.equal(region_weights(s, 8, 4, 1.0), torch.ones(3, 32))


def test_zscore_is_shift_invariant_per_frame() -> None:
    g = torch.Generator().manual_seed(1)
    s = torch.rand(2, 24, generator=g, dtype=torch.float64)
    shift = torch.arange(6, dtype=torch.float64).repeat_interleave(4)[None] * 7.0
    torch.testing.assert_close(per_frame_zscore(s, 6, 4), per_frame_zscore(s + shift, 6, 4))
    torch.testing.assert_close(region_weights(s, 6, 4, 1.5), region_weights(s + 5.0, 6, 4, 1.5))
    z = per_frame_zscore(s, 6, 4).reshape(2, 6, 4)
    torch.testing.assert_close(z.mean(-1), torch.zeros(2, 6, dtype=torch.float64), atol=1e-12, rtol=0)


def test_warmup_and_topk() -> None:
    assert effective_w(0, 1.5, 400) == 1.0
    assert effective_w(200, 1.5, 400) == pytest.approx(1.25)
    assert effective_w(10_000, 1.5, 400) == 1.5
    s = torch.arange(10, dtype=torch.float64)[None]
    w = region_weights(s, 1, 10, 1.5, RegionConfig(norm="topk"))
    assert w.tolist()[0] == [1.0] * 6 + [1.5] * 4


def test_capture_window_and_passes_on_toy() -> None:
    cfg = ToyModelConfig(blocks=2, video_dim=32, audio_dim=16, cond_dim=32)
    adapter = ToyAdapter(cfg)
    prompts = toy_prompts()[:2]
    cond = adapter.encode_conditions(prompts)
    sampler = SamplerConfig(steps=10, video_cfg=2.0, audio_cfg=2.0)
    cap = RegionCapture(adapter.capture_sites(), cfg.blocks, RegionConfig())
    with cap.capturing(2):
        adapter.rollout(cond, prompts, [1, 2], sampler, cap.on_step)
    # steps 5..9 (⌊0.5·10⌋…⌊0.9·10⌋), 2 blocks, cond + uncond passes.
    assert cap._count == 5 * 2 * 2
    scores = cap.mean_scores()
    assert scores is not None and scores.shape == (2, 32)
    # Column sums of a softmax over keys: their total is the number of audio queries (16).
    torch.testing.assert_close(scores.sum(1), torch.full((2,), 16.0, dtype=torch.float64))
    only = RegionCapture(adapter.capture_sites(), cfg.blocks, RegionConfig(passes="cond_only", blocks=(1,)))
    with only.capturing(2):
        adapter.rollout(cond, prompts, [1, 2], sampler, only.on_step)
    assert only._count == 5
    # Outside a capture context nothing is hooked.
    adapter.rollout(cond, prompts, [1, 2], sampler, None)
    assert only._count == 5


def test_target_alignment_against_hand_computed_values() -> None:
    from omninft.trainer.core.regions import target_alignment

    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0, 8.0]])
    mask = torch.tensor([[True, False, False, False, True], [False, False, False, True, True]])
    out = target_alignment(scores, mask, top_frac=0.4)  # top-2 tokens per sample
    # sample 0: mass 4/10, top {0, 1} vs {0, 4}: IoU 1/3; sample 1: mass 9/10, top {4, 2 or 3}: tie broken by topk
    top1 = set(torch.topk(scores[1].double(), 2).indices.tolist())
    iou1 = len(top1 & {3, 4}) / len(top1 | {3, 4})
    assert out["region_target_mass"] == pytest.approx((0.4 + 0.9) / 2)
    assert out["region_target_iou"] == pytest.approx((1 / 3 + iou1) / 2)
    assert out["region_target_share"] == pytest.approx(0.4)


def test_warmup_lr_is_linear_then_constant() -> None:
    from omninft.trainer.loop import warmup_lr

    assert [warmup_lr(1e-3, s, 4) for s in range(6)] == pytest.approx(
        [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3]
    )
    assert warmup_lr(1e-3, 0, 0) == 1e-3
