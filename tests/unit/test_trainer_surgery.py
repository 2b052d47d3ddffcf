"""Gradient surgery on the toy model: bit-identical forward, per-block gradient ratio == kept fraction."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from omninft.trainer.core.surgery import (
    GradSurgery,
    SurgeryConfig,
    expand_segments,
    scale_grad,
    warmed_up,
)
from omninft.trainer.policies.toy import ToyAdapter, ToyModelConfig, sample_data

CFG = ToyModelConfig(blocks=4, video_dim=32, audio_dim=16, cond_dim=32)


def _inputs(adapter: ToyAdapter) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2])
    x0 = sample_data(labels, g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    x_t, _ = adapter.noise(x0, sigma, g)
    return x_t, sigma, {"label": labels}


def test_segments_rescale_to_model_depth() -> None:
    assert (
        expand_segments(((1, 0.0), (10, 0.1), (29, 1.0), (8, 0.3)), 48)
        == [0.0] + [0.1] * 10 + [1.0] * 29 + [0.3] * 8
    )
    assert expand_segments(((1, 0.0), (10, 0.1), (29, 1.0), (8, 0.3)), 4) == [0.0, 0.1, 1.0, 0.3]
    assert expand_segments(((1, 0.0), (10, 0.1), (29, 1.0), (8, 0.3)), 2) == [0.0, 0.1]
    assert len(expand_segments(((1, 0.0), (10, 0.1), (29, 1.0), (8, 0.3)), 28)) == 28
    assert (
        warmed_up(0.1, 0, 10) == 1.0
        and warmed_up(0.1, 5, 10) == pytest.approx(0.55)
        and warmed_up(0.1, 50, 10) == 0.1
    )


def test_scale_grad_identity_forward() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    y = scale_grad(x, 0.25)
    assert torch.equal(y, x)
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.full((4, 3), 0.25))


def test_forward_bit_identical_on_toy() -> None:
    adapter = ToyAdapter(CFG)
    x_t, sigma, cond = _inputs(adapter)
    surgery = GradSurgery(adapter.cross_attn_sites(), CFG.blocks, SurgeryConfig())
    plain = adapter.predict_x0("train", x_t, sigma, cond, None)
    with surgery.active(0) as fr:
        hooked = adapter.predict_x0("train", x_t, sigma, cond, None)
    assert fr == [0.0, 0.1, 1.0, 0.3]
    for m in ("video", "audio"):
        assert torch.equal(plain[m], hooked[m])


def _context_grads(adapter: ToyAdapter, surgery: GradSurgery | None) -> dict[int, torch.Tensor]:
    """Video-only loss; every A2V context replaced by a detached leaf so each block's gradient is isolated."""
    x_t, sigma, cond = _inputs(adapter)
    leaves: dict[int, torch.Tensor] = {}
    handles = []
    for site in adapter.cross_attn_sites():
        if site.direction != "a2v":
            continue

        def pre(
            module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], b: int = site.block_idx
        ) -> Any:
            leaf = kwargs["context"].detach().requires_grad_(True)
            leaves[b] = leaf
            return args, {**kwargs, "context": leaf}

        handles.append(site.module.register_forward_pre_hook(pre, with_kwargs=True))
    try:
        if surgery is None:
            out = adapter.predict_x0("train", x_t, sigma, cond, None)
        else:
            with surgery.active(0):
                out = adapter.predict_x0("train", x_t, sigma, cond, None)
    finally:
        for h in handles:
            h.remove()
    out["video"].square().mean().backward()
    return {b: leaf.grad for b, leaf in leaves.items() if leaf.grad is not None}


def test_per_block_grad_ratio_equals_kept_fraction() -> None:
    adapter = ToyAdapter(CFG)
    base = _context_grads(adapter, None)
    adapter.train_model.zero_grad()
    surgery = GradSurgery(adapter.cross_attn_sites(), CFG.blocks, SurgeryConfig())
    cut = _context_grads(adapter, surgery)
    for b, g in enumerate([0.0, 0.1, 1.0, 0.3]):
        ratio = float(cut[b].norm() / base[b].norm())
        assert ratio == pytest.approx(g, abs=1e-6)
    # The recorder saw the same mass: Σ g·‖G_b‖ / Σ ‖G_b‖.
    norms = [float(base[b].norm()) for b in range(4)]
    expected = sum(g * n for g, n in zip([0.0, 0.1, 1.0, 0.3], norms, strict=True)) / sum(norms)
    assert surgery.recorder.ratio() == pytest.approx(expected, rel=1e-5)


def test_zero_kept_fraction_blocks_audio_gradient_from_video_loss() -> None:
    adapter = ToyAdapter(CFG)
    x_t, sigma, cond = _inputs(adapter)
    audio_in = x_t["audio"].clone().requires_grad_(True)
    surgery = GradSurgery(adapter.cross_attn_sites(), CFG.blocks, SurgeryConfig(per_block=(0.0,) * 4))
    with surgery.active(0):
        out = adapter.predict_x0("train", {"video": x_t["video"], "audio": audio_in}, sigma, cond, None)
    out["video"].square().mean().backward()
    assert audio_in.grad is not None and torch.count_nonzero(audio_in.grad) == 0
    # Without surgery the same loss does reach the audio input.
    audio_in.grad = None
    out = adapter.predict_x0("train", {"video": x_t["video"], "audio": audio_in}, sigma, cond, None)
    out["video"].square().mean().backward()
    assert audio_in.grad is not None and float(audio_in.grad.abs().sum()) > 0


def test_kv_output_variant_scales_projection_weight_grads() -> None:
    adapter = ToyAdapter(CFG)
    x_t, sigma, cond = _inputs(adapter)
    to_k = adapter.train_model.blocks[1].audio_to_video_attn.to_k
    adapter.predict_x0("train", x_t, sigma, cond, None)["video"].square().mean().backward()
    base = to_k.weight.grad.clone()
    adapter.train_model.zero_grad()
    inp = GradSurgery(adapter.cross_attn_sites(), CFG.blocks, SurgeryConfig(per_block=(1.0, 0.5, 1.0, 1.0)))
    with inp.active(0):
        adapter.predict_x0("train", x_t, sigma, cond, None)["video"].square().mean().backward()
    torch.testing.assert_close(to_k.weight.grad, base)  # kv_input: the projection's own gradient is untouched
    adapter.train_model.zero_grad()
    out = GradSurgery(
        adapter.cross_attn_sites(),
        CFG.blocks,
        SurgeryConfig(per_block=(1.0, 0.5, 1.0, 1.0), site="kv_output"),
    )
    with out.active(0):
        adapter.predict_x0("train", x_t, sigma, cond, None)["video"].square().mean().backward()
    torch.testing.assert_close(to_k.weight.grad, 0.5 * base)
