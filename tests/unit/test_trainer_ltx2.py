"""LTX-2 diffusers policy adapter on tiny random-weight models (CPU): rollout, policies, LoRA, hooks, units."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from omninft.trainer.core.regions import RegionCapture, RegionConfig
from omninft.trainer.core.surgery import GradSurgery, SurgeryConfig
from omninft.trainer.policies._ltx2_sampling import flowmatch_sigmas, ltx2_sigmas, shift_mu
from omninft.trainer.policies._ltx2_sites import attention_probs, column_sum_scores
from omninft.trainer.policies.base import PolicyAdapter, PromptRecord, SamplerConfig, StepInfo
from omninft.trainer.policies.ltx2 import TINY_CONFIG, LTX2DiffusersAdapter, build_from_options

PROMPTS = [PromptRecord("a", "a dog barks twice"), PromptRecord("b", "rain falls on a tin roof at night")]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():  # noqa: ANN202
    """Tiny ops are dominated by OpenMP hand-off on a shared 2-core box (50× slower under load): run them inline."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def adapter() -> LTX2DiffusersAdapter:
    return LTX2DiffusersAdapter.tiny(seed=0)


def _perturb_train_lora(ad: LTX2DiffusersAdapter, seed: int, scale: float = 0.5) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ad.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def _noised(ad: LTX2DiffusersAdapter, sigma: float, seed: int = 3) -> tuple[dict, torch.Tensor, dict, dict]:
    cond = ad.encode_conditions(PROMPTS)
    aux = ad.make_aux(len(PROMPTS))
    x0 = ad.initial_noise([seed, seed + 1])
    sig = torch.full((len(PROMPTS),), sigma)
    x_t, _ = ad.noise(x0, sig, torch.Generator().manual_seed(seed), aux)
    return x_t, sig, cond, aux


def test_sigma_grids_match_ltx2_scheduler_and_diffusers() -> None:
    expected = [1.0, .991, .982, .972, .960, .948, .934, .918, .900, .879, .855, .828, .795, .755, .707, .647,
                .569, .465, .319, .100, 0.0]  # fmt: skip
    assert np.allclose(ltx2_sigmas(20).numpy(), expected, atol=6e-4)
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched: Any = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
    )
    n, tokens = 6, 3000
    sched.set_timesteps(n, sigmas=np.linspace(1.0, 1.0 / n, n), mu=shift_mu(tokens))
    assert torch.allclose(flowmatch_sigmas(n, tokens), sched.sigmas.float(), atol=1e-6)
    # diffusers' timesteps are σ·1000: the unit the transformer expects (spec §4.2)
    assert torch.allclose(sched.timesteps.float(), sched.sigmas[:-1].float() * 1000, atol=1e-3)


def test_timestep_unit_parity_with_pipeline_call(adapter: LTX2DiffusersAdapter) -> None:
    """The adapter's x̂0 at σ equals x_t − σ·v with v from a pipeline-style call at timestep = σ·1000."""
    x_t, sig, cond, aux = _noised(adapter, 0.7)
    got = adapter.predict_x0("ref", x_t, sig, cond, aux)
    tf = adapter.transformer
    geo = adapter.geometry
    t = sig * 1000
    with torch.no_grad():
        v, a = tf(
            hidden_states=x_t["video"], audio_hidden_states=x_t["audio"],
            encoder_hidden_states=cond["video_ctx"], audio_encoder_hidden_states=cond["audio_ctx"],
            timestep=t, sigma=t, encoder_attention_mask=cond["mask"], audio_encoder_attention_mask=cond["mask"],
            num_frames=geo.frames, height=geo.height, width=geo.width, fps=adapter.config.fps,
            audio_num_frames=geo.audio_frames, use_cross_timestep=True, return_dict=False,
        )  # fmt: skip
        wrong, _ = tf(
            hidden_states=x_t["video"], audio_hidden_states=x_t["audio"],
            encoder_hidden_states=cond["video_ctx"], audio_encoder_hidden_states=cond["audio_ctx"],
            timestep=sig, sigma=sig, encoder_attention_mask=cond["mask"], audio_encoder_attention_mask=cond["mask"],
            num_frames=geo.frames, height=geo.height, width=geo.width, fps=adapter.config.fps,
            audio_num_frames=geo.audio_frames, use_cross_timestep=True, return_dict=False,
        )  # fmt: skip
    s = sig[:, None, None]
    assert torch.allclose(got["video"], x_t["video"] - s * v, atol=1e-5)
    assert torch.allclose(got["audio"], x_t["audio"] - s * a, atol=1e-5)
    assert not torch.allclose(got["video"], x_t["video"] - s * wrong, atol=1e-3)


def test_rollout_two_steps_decodes_to_media(adapter: LTX2DiffusersAdapter) -> None:
    assert isinstance(adapter, PolicyAdapter)
    cond = adapter.encode_conditions(PROMPTS)
    calls: list[StepInfo] = []
    sampler = SamplerConfig(steps=2, video_cfg=1.5, audio_cfg=3.0)
    ro = adapter.rollout(cond, PROMPTS, [11, 12], sampler, calls.append)
    geo = adapter.geometry
    assert ro.latents["video"].shape == (2, geo.video_tokens, geo.channels)
    assert ro.latents["audio"].shape == (2, geo.audio_frames, geo.audio_token_width)
    assert [(c.step_idx, c.pass_kind, c.cond_rows) for c in calls] == [
        (0, "mixed", slice(0, 2)),
        (1, "mixed", slice(0, 2)),
    ]
    assert calls[0].sigma == 1.0 and all(c.n_steps == 2 for c in calls)
    media = adapter.decode(ro)
    cfg = adapter.config
    mel_frames = (geo.audio_frames - 1) * 4 + 1  # causal audio VAE: ×4 in time, first frame kept
    upsample = math.prod(adapter.components.vocoder.config.upsample_factors)
    for m in media:
        assert m.frames.shape == (cfg.num_frames, cfg.height, cfg.width, 3) and m.frames.dtype == np.uint8
        assert m.audio.shape == (2, mel_frames * upsample) and m.audio.dtype == np.float32
        assert np.isfinite(m.audio).all() and m.sample_rate == 1600 and m.fps == 24.0
    again = adapter.rollout(cond, PROMPTS, [11, 12], sampler)
    assert all(torch.equal(ro.latents[k], again.latents[k]) for k in ro.latents)
    other = adapter.rollout(cond, PROMPTS, [11, 13], sampler)
    assert torch.equal(other.latents["video"][0], ro.latents["video"][0])
    assert not torch.equal(other.latents["video"][1], ro.latents["video"][1])
    train_sigmas = adapter.training_sigmas(20)
    assert train_sigmas.shape == (20,) and np.allclose(train_sigmas[:8].numpy(), [1.0, .991, .982, .972, .960, .948, .934, .918], atol=6e-4)  # fmt: skip
    fm = adapter.rollout(cond, PROMPTS, [11, 12], replace(sampler, grid="flowmatch"))
    assert not torch.allclose(fm.latents["video"], ro.latents["video"])
    with pytest.raises(ValueError, match="unknown sigma grid"):
        LTX2DiffusersAdapter.tiny(config=replace(TINY_CONFIG, sigma_grid="karras"))
    sub = ro.select([1])
    assert sub.cond["video_ctx"].shape[0] == 1 and sub.aux["video_coords"].shape[0] == 1


def test_separate_and_batched_guidance_passes_agree() -> None:
    """CFG + STG as separate calls (cond, uncond, stg) or one [cond; uncond; stg] forward: same trajectory."""
    sep = LTX2DiffusersAdapter.tiny(
        seed=6, config=replace(TINY_CONFIG, batch_passes=False), perturbed_attn=True
    )
    bat = LTX2DiffusersAdapter.tiny(seed=6)  # STG processors installed on demand
    sampler = SamplerConfig(steps=2, video_cfg=1.5, audio_cfg=3.0, stg_scale=1.0, stg_blocks=(1,))
    calls: list[StepInfo] = []
    a = sep.rollout(sep.encode_conditions(PROMPTS), PROMPTS, [1, 2], sampler, calls.append)
    b = bat.rollout(bat.encode_conditions(PROMPTS), PROMPTS, [1, 2], sampler)
    assert [c.pass_kind for c in calls] == ["cond", "uncond", "stg"] * 2
    for m in ("video", "audio"):
        assert torch.allclose(a.latents[m], b.latents[m], atol=1e-4)
    no_stg = sep.rollout(sep.encode_conditions(PROMPTS), PROMPTS, [1, 2], replace(sampler, stg_scale=0.0))
    assert not torch.allclose(no_stg.latents["video"], a.latents["video"], atol=1e-4)
    with pytest.raises(ValueError, match="STG block"):
        bat.rollout(bat.encode_conditions(PROMPTS), PROMPTS, [1, 2], replace(sampler, stg_blocks=(5,)))


def test_train_old_ref_agree_at_init_and_diverge_after_update() -> None:
    ad = LTX2DiffusersAdapter.tiny(seed=1)
    x_t, sig, cond, aux = _noised(ad, 0.9)
    outs = {w: ad.predict_x0(w, x_t, sig, cond, aux) for w in ("train", "old", "ref")}
    for m in ("video", "audio"):
        assert torch.equal(outs["train"][m], outs["old"][m])
        assert torch.equal(outs["train"][m], outs["ref"][m])
    _perturb_train_lora(ad, 0)
    moved = {w: ad.predict_x0(w, x_t, sig, cond, aux) for w in ("train", "old", "ref")}
    assert not torch.allclose(moved["train"]["video"], moved["ref"]["video"])
    assert torch.equal(moved["old"]["video"], moved["ref"]["video"])
    ad.sync_old_from_train()
    assert torch.equal(ad.predict_x0("old", x_t, sig, cond, aux)["video"], moved["train"]["video"])
    assert outs["train"]["video"].grad_fn is not None
    assert moved["old"]["video"].grad_fn is None and moved["ref"]["video"].grad_fn is None


def test_soft_update_math_and_checkpoint_roundtrip(tmp_path: Path) -> None:
    ad = LTX2DiffusersAdapter.tiny(seed=2)
    _perturb_train_lora(ad, 1)
    train0 = [p.detach().clone() for p in ad.trainable_parameters()]
    old0 = [p.detach().clone() for p in ad._old_named.values()]
    ad.soft_update(0.3)
    for o, o0, t0 in zip(ad._old_named.values(), old0, train0, strict=True):
        assert torch.allclose(o, 0.3 * o0 + 0.7 * t0, atol=1e-7)
    state = ad.checkpoint_state()
    fresh = LTX2DiffusersAdapter.tiny(seed=2)
    fresh.load_checkpoint_state(state)
    for a, b in zip(fresh.trainable_parameters(), ad.trainable_parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(fresh._old_named.values(), ad._old_named.values(), strict=True):
        assert torch.equal(a, b)
    ad.export_lora(str(tmp_path / "lora"), "train")
    assert any(f.suffix == ".safetensors" for f in (tmp_path / "lora").iterdir())
    with pytest.raises(ValueError):
        ad.export_lora(str(tmp_path / "ref"), "ref")
    desc = ad.describe()
    assert desc["weights"] == "tiny-random(seed=2)" and desc["num_blocks"] == 2 and json.dumps(desc)
    assert desc["trainable_params"] == sum(p.numel() for p in ad.trainable_parameters()) > 0


def test_surgery_forward_identical_and_kv_input_grad_scaled_per_block() -> None:
    ad = LTX2DiffusersAdapter.tiny(seed=3)
    _perturb_train_lora(ad, 2, scale=0.1)
    x_t, sig, cond, aux = _noised(ad, 0.8)
    x_t = {k: v.requires_grad_(True) for k, v in x_t.items()}
    plain = ad.predict_x0("train", x_t, sig, cond, aux)
    kept = (0.1, 0.3)
    surgery = GradSurgery(ad.cross_attn_sites(), ad.num_blocks(), SurgeryConfig(per_block=kept))
    a2v = [s for s in ad.cross_attn_sites() if s.direction == "a2v"]
    grads_in: dict[int, torch.Tensor] = {}
    grads_out: dict[int, torch.Tensor] = {}

    def recorder(store: dict[int, torch.Tensor], block: int):  # noqa: ANN202
        def hook(module, args, kwargs):  # noqa: ANN001, ANN202
            kwargs[s_kw].register_hook(lambda g: store.__setitem__(block, g.clone()))

        return hook

    s_kw = a2v[0].kv_kwarg
    assert s_kw == "encoder_hidden_states"
    outer = [
        s.module.register_forward_pre_hook(recorder(grads_in, s.block_idx), with_kwargs=True) for s in a2v
    ]
    with surgery.active(step=0) as fractions:
        inner = [
            s.module.register_forward_pre_hook(recorder(grads_out, s.block_idx), with_kwargs=True)
            for s in a2v
        ]
        hooked = ad.predict_x0("train", x_t, sig, cond, aux)
        (hooked["video"].square().mean() + hooked["audio"].square().mean()).backward()
    for h in outer + inner:
        h.remove()
    assert fractions == list(kept)
    for m in ("video", "audio"):
        assert torch.equal(plain[m], hooked[m])  # forward bit-identical
    for block, g in enumerate(kept):
        assert grads_out[block].abs().sum() > 0
        assert torch.equal(grads_in[block], grads_out[block] * g)  # exactly the kept fraction


@pytest.mark.parametrize("site", ["kv_input", "kv_output"])
def test_surgery_zero_everywhere_cuts_audio_to_video_gradient(site: str) -> None:
    ad = LTX2DiffusersAdapter.tiny(seed=4)
    x_t, sig, cond, aux = _noised(ad, 0.6)
    x_t = {"video": x_t["video"], "audio": x_t["audio"].requires_grad_(True)}
    cfg = SurgeryConfig(per_block=(0.0, 0.0), site=site)
    surgery = GradSurgery(ad.cross_attn_sites(), ad.num_blocks(), cfg)
    with surgery.active():
        out = ad.predict_x0("train", x_t, sig, cond, aux)
        (g_cut,) = torch.autograd.grad(out["video"].square().sum(), x_t["audio"])
    out = ad.predict_x0("train", x_t, sig, cond, aux)
    (g_full,) = torch.autograd.grad(out["video"].square().sum(), x_t["audio"])
    assert torch.count_nonzero(g_cut) == 0 and g_full.abs().sum() > 0


def test_v2a_column_sums_match_explicit_attention(adapter: LTX2DiffusersAdapter) -> None:
    x_t, sig, cond, aux = _noised(adapter, 0.5)
    site = adapter.capture_sites()[1]
    seen: dict[str, Any] = {}

    def grab(module, args, kwargs, output):  # noqa: ANN001, ANN202
        seen.update(args=args, kwargs=dict(kwargs), output=output)

    h = site.module.register_forward_hook(grab, with_kwargs=True)
    adapter.predict_x0("old", x_t, sig, cond, aux)
    h.remove()
    args, kwargs, output = seen["args"], seen["kwargs"], seen["output"]
    assert kwargs["query_rotary_emb"] is not None  # the temporal cross-modal RoPE is available to the capture
    geo = adapter.geometry
    probs = attention_probs(site.module, args, kwargs)
    assert probs.shape == (2, site.heads, geo.audio_frames, geo.video_tokens)
    assert torch.allclose(probs.sum(-1), torch.ones(()), atol=1e-5)  # rows of the softmax sum to 1
    # the recomputed map is the one the module used: P·V through to_out reproduces the real output
    value = site.module.to_v(kwargs["encoder_hidden_states"]).unflatten(2, (site.heads, -1)).transpose(1, 2)
    attn_out = torch.matmul(probs, value.float()).transpose(1, 2).flatten(2)
    assert torch.allclose(site.module.to_out[0](attn_out), output, atol=1e-5)
    # The adapter's default capture is the release's map: softmax of the raw q/k projections, no RoPE.
    # Hand-computed from the module's own layers, head by head.
    mod, hidden, ctx = (
        site.module,
        args[0] if args else kwargs["hidden_states"],
        kwargs["encoder_hidden_states"],
    )
    q_raw = mod.norm_q(mod.to_q(hidden)).unflatten(2, (site.heads, -1)).float()
    k_raw = mod.norm_k(mod.to_k(ctx)).unflatten(2, (site.heads, -1)).float()
    by_head = [
        (q_raw[:, :, h] @ k_raw[:, :, h].transpose(1, 2) / q_raw.shape[-1] ** 0.5).softmax(-1).sum(1)
        for h in range(site.heads)
    ]
    release_map = torch.stack(by_head).mean(0)
    scores = site.score_fn(site.module, args, kwargs, output)
    assert scores.shape == (2, geo.video_tokens)
    assert torch.allclose(scores, release_map, atol=1e-5)
    assert torch.allclose(scores.sum(-1), torch.full((2,), float(geo.audio_frames)), atol=1e-4)
    chunked = column_sum_scores(site.module, args, kwargs, use_rope=False, head_chunk=1)
    assert torch.allclose(chunked, scores, atol=1e-6)
    # The RoPE variant is the map the attention really used (validated through P·V above).
    rope = column_sum_scores(site.module, args, kwargs, use_rope=True)
    assert torch.allclose(rope, probs.mean(1).sum(1), atol=1e-5)
    assert not torch.allclose(rope, scores, atol=1e-6)
    one_head = column_sum_scores(site.module, args, kwargs, heads=[1])
    assert torch.allclose(one_head, probs[:, 1].sum(1), atol=1e-5)


def test_region_capture_during_rollout(adapter: LTX2DiffusersAdapter) -> None:
    cond = adapter.encode_conditions(PROMPTS)
    cfg = RegionConfig(step_window=(0.5, 0.9), passes="cond_only")
    cap = RegionCapture(adapter.capture_sites(), adapter.num_blocks(), cfg)
    with cap.capturing(batch_size=2):
        adapter.rollout(cond, PROMPTS, [5, 6], SamplerConfig(steps=4, video_cfg=2.0), cap.on_step)
    scores = cap.mean_scores()
    assert scores is not None and scores.shape == (2, adapter.geometry.video_tokens)
    assert torch.allclose(
        scores.sum(-1), torch.full((2,), float(adapter.geometry.audio_frames), dtype=scores.dtype)
    )
    frames, per_frame = adapter.token_layout("video", None)
    assert frames * per_frame == adapter.geometry.video_tokens


def test_gradient_checkpointing_recomputes_with_the_train_adapter() -> None:
    """Old/ref forwards between the train forward and backward must not leak into recomputed activations."""
    grads = []
    for ckpt in (False, True):
        ad = LTX2DiffusersAdapter.tiny(seed=8, config=replace(TINY_CONFIG, gradient_checkpointing=ckpt))
        _perturb_train_lora(ad, 4, scale=0.2)
        with torch.no_grad():
            for p in ad._old_named.values():
                p.add_(0.3)
        x_t, sig, cond, aux = _noised(ad, 0.7)
        surgery = GradSurgery(ad.cross_attn_sites(), ad.num_blocks(), SurgeryConfig(per_block=(0.1, 0.3)))
        with surgery.active():
            pred = ad.predict_x0("train", x_t, sig, cond, aux)
        old = ad.predict_x0("old", x_t, sig, cond, aux)
        loss = sum((pred[m] - old[m]).square().mean() for m in pred)
        loss.backward()
        grads.append([p.grad.clone() for p in ad.trainable_parameters()])
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_one_train_step_updates_only_train_lora() -> None:
    ad = LTX2DiffusersAdapter.tiny(seed=5)
    _perturb_train_lora(ad, 3, scale=0.1)
    before = {n: p.detach().clone() for n, p in ad.transformer.named_parameters()}
    train_names = set(ad._train_named)
    opt = torch.optim.AdamW(ad.trainable_parameters(), lr=1e-2)
    x_t, sig, cond, aux = _noised(ad, 0.9)
    with torch.no_grad():
        old = ad.predict_x0("old", x_t, sig, cond, aux)
        ref = ad.predict_x0("ref", x_t, sig, cond, aux)
    pred = ad.predict_x0("train", x_t, sig, cond, aux)
    # the old/ref forwards in between must not detach the train LoRA from the graph
    ad.predict_x0("ref", x_t, sig, cond, aux)
    loss = sum((pred[m] - old[m]).square().mean() + (pred[m] - ref[m]).square().mean() for m in pred)
    loss = loss + sum(pred[m].mean() for m in pred)
    loss.backward()
    assert all(p.grad is not None for p in ad.trainable_parameters())
    opt.step()
    after = dict(ad.transformer.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and changed <= train_names
    assert all(p.grad is None for n, p in after.items() if n not in train_names)


def test_build_tiny_and_text_encoders(tmp_path) -> None:  # noqa: ANN001
    from omninft.trainer.policies._ltx2_text import (
        CachedTextEncoder,
        PrecomputedTextEncoder,
        RandomTextEncoder,
        prompt_key,
    )

    ad = build_from_options({"weights": "tiny", "seed": 7, "adapter": {"lora_rank": 2, "lora_alpha": 2}})
    assert ad.weights_id == "tiny-random(seed=7)" and ad.config.lora_rank == 2 and ad.config.height == 8
    assert ad.trainable_parameters()[0].shape[0] == 2
    with pytest.raises(ValueError, match="unknown ltx2 policy options"):
        build_from_options({"weights": "tiny", "lr": 1})
    with pytest.raises(ValueError, match="unknown ltx2 adapter options"):
        build_from_options({"adapter": {"rank": 1}})
    enc = RandomTextEncoder(caption_channels=12, seq_len=6)
    texts = ["a dog", "a cat meows", "a dog"]
    c = enc(texts)
    assert c.video.shape == (3, 6, 12) and c.mask.tolist()[1] == [1, 1, 1, 0, 0, 0]
    assert torch.equal(c.video[0], c.video[2]) and not torch.equal(c.video[0], c.video[1])
    table = PrecomputedTextEncoder({})
    table.add(texts[:2], enc(texts[:2]))
    path = str(tmp_path / "emb.safetensors")
    table.save(path)
    loaded = PrecomputedTextEncoder.load(path)(texts)
    assert torch.equal(loaded.audio, c.audio) and torch.equal(loaded.mask, c.mask)
    with pytest.raises(KeyError):
        loaded_enc = PrecomputedTextEncoder.load(path)
        loaded_enc(["unknown prompt"])
    cached = CachedTextEncoder(enc, max_items=2)
    assert torch.equal(cached(texts).video, c.video) and len(cached.cache.table) == 2
    cached(["a dog", "a bird sings"])  # "a cat meows" is the least recently used: evicted
    assert set(cached.cache.table) == {prompt_key("a dog"), prompt_key("a bird sings")}


def test_denoise_masks_keep_conditioning_tokens_clean(adapter: LTX2DiffusersAdapter) -> None:
    """Tokens with mask 0 (conditioning) are not noised, get timestep 0 and predict x̂0 = x_t."""
    cond = adapter.encode_conditions(PROMPTS)
    aux = adapter.make_aux(2)
    per_frame = adapter.geometry.height * adapter.geometry.width
    aux["video_mask"][:, :per_frame] = 0.0  # first latent frame given (image-to-video style)
    x0 = adapter.initial_noise([1, 2])
    sig = torch.full((2,), 0.8)
    x_t, _ = adapter.noise(x0, sig, torch.Generator().manual_seed(0), aux)
    assert torch.equal(x_t["video"][:, :per_frame], x0["video"][:, :per_frame])
    assert not torch.allclose(x_t["video"][:, per_frame:], x0["video"][:, per_frame:])
    pred = adapter.predict_x0("ref", x_t, sig, cond, aux)
    assert torch.equal(pred["video"][:, :per_frame], x_t["video"][:, :per_frame])
    assert torch.isfinite(pred["video"]).all() and torch.isfinite(pred["audio"]).all()


def test_official_geometry_and_lora_size_on_meta_device() -> None:
    """Full-width LTX-2 (2 of 48 blocks) on the meta device: 512×768×121 → 6144 video + 126 audio tokens."""
    from omninft.trainer.policies._ltx2_components import build_meta_components
    from omninft.trainer.policies._ltx2_text import RandomTextEncoder
    from omninft.trainer.policies.ltx2 import LTX2AdapterConfig

    ad = LTX2DiffusersAdapter(
        build_meta_components(num_layers=2), RandomTextEncoder(3840), LTX2AdapterConfig()
    )
    geo = ad.geometry
    assert (geo.frames, geo.height, geo.width, geo.video_tokens) == (16, 16, 24, 6144)
    assert (geo.audio_frames, geo.audio_token_width) == (126, 128)
    assert ad.token_layout("video", None) == (16, 384)
    assert len(ad.cross_attn_sites()) == 4 and ad.capture_sites()[0].heads == 32
    # r=32 LoRA on the OmniNFT targets: 28 modules per block (A and B each), 6.42 M params per block (308 M at 48)
    assert len(ad.trainable_parameters()) == 2 * 28 * 2
    assert sum(p.numel() for p in ad.trainable_parameters()) == 2 * 6_422_528
    assert ad.components.vocoder.config.output_sampling_rate == 24000


def test_rollout_and_decode_reproduce_the_diffusers_pipeline() -> None:
    """Same noise, grid, CFG, timestep units, RoPE coords, text masks and decoders as ``LTX2Pipeline``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    from omninft.trainer.policies._ltx2_text import PrecomputedTextEncoder, TextCond
    from omninft.trainer.policies.ltx2 import pack_audio, pack_video

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        one_layer = {
            "num_attention_heads": 2,
            "attention_head_dim": 6,
            "num_layers": 1,
            "num_learnable_registers": None,
        }
        conn = LTX2TextConnectors(
            caption_channels=12,
            text_proj_in_factor=3,
            video_hidden_dim=16,
            audio_hidden_dim=16,
            **{f"{side}_connector_{k}": v for side in ("video", "audio") for k, v in one_layer.items()},
        ).eval()
    ad = LTX2DiffusersAdapter.tiny(
        seed=0, config=replace(TINY_CONFIG, height=32, width=32)
    )  # pipeline needs 32·k
    gen = torch.Generator().manual_seed(1)
    pos, pos_mask = torch.randn(1, 8, 36, generator=gen), torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1]])
    neg, neg_mask = torch.randn(1, 8, 36, generator=gen), torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1]])
    table = PrecomputedTextEncoder({})
    with torch.no_grad():
        table.add(["a dog barks"], TextCond(*conn(pos, pos_mask, padding_side="left")))
        table.add([ad.config.negative_prompt], TextCond(*conn(neg, neg_mask, padding_side="left")))
    ad.text_encoder = table
    comp = ad.components
    sched = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
    )
    pipe: Any = LTX2Pipeline(
        scheduler=sched, vae=comp.vae, audio_vae=comp.audio_vae, text_encoder=None, tokenizer=None,
        connectors=conn, transformer=comp.transformer, vocoder=comp.vocoder,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    _perturb_train_lora(ad, 5, scale=0.05)
    ad.sync_old_from_train()
    ad._use("old")  # the pipeline runs whichever LoRA is active; the rollout uses the old one
    kwargs: dict[str, Any] = dict(
        prompt_embeds=pos, prompt_attention_mask=pos_mask, negative_prompt_embeds=neg,
        negative_prompt_attention_mask=neg_mask, height=32, width=32, num_frames=5, frame_rate=24.0,
        num_inference_steps=3, guidance_scale=1.5, audio_guidance_scale=3.0, stg_scale=0.0, audio_stg_scale=0.0,
        modality_scale=1.0, audio_modality_scale=1.0, guidance_rescale=0.0, audio_guidance_rescale=0.0,
        return_dict=False,
    )  # fmt: skip
    video_z, audio_z = pipe(generator=torch.Generator().manual_seed(42), output_type="latent", **kwargs)
    frames, audio = pipe(generator=torch.Generator().manual_seed(42), output_type="np", **kwargs)
    prompt = [PromptRecord("p", "a dog barks")]
    sampler = SamplerConfig(steps=3, grid="flowmatch", video_cfg=1.5, audio_cfg=3.0)
    ro = ad.rollout(ad.encode_conditions(prompt), prompt, [42], sampler)
    assert torch.allclose(ro.latents["video"], pack_video(video_z), atol=1e-5)
    assert torch.allclose(ro.latents["audio"], pack_audio(audio_z), atol=1e-5)
    media = ad.decode(ro)[0]
    assert np.abs(media.frames.astype(np.float32) / 255.0 - frames[0]).max() <= 0.5 / 255 + 1e-4
    assert np.allclose(media.audio, audio[0].float().numpy(), atol=1e-5)


def test_official_loading_code_reads_a_diffusers_layout_folder(tmp_path: Path) -> None:
    """``weights=<folder>`` goes through the from_pretrained path used for Lightricks/LTX-2 (subfolders)."""
    from omninft.trainer.policies._ltx2_components import build_tiny_components
    from omninft.trainer.policies._ltx2_text import PrecomputedTextEncoder, RandomTextEncoder

    comp = build_tiny_components(3)
    for name in ("transformer", "vae", "audio_vae", "vocoder"):
        getattr(comp, name).save_pretrained(str(tmp_path / name))
    table = PrecomputedTextEncoder({})
    table.add(["a dog", ""], RandomTextEncoder(12)(["a dog", ""]))
    table.save(str(tmp_path / "emb.safetensors"))
    small = {
        "height": 8,
        "width": 12,
        "num_frames": 5,
        "lora_rank": 4,
        "lora_alpha": 8,
        "negative_prompt": "",
    }
    options = {"weights": str(tmp_path), "device": "cpu", "dtype": "float32", "adapter": small}
    loaded = build_from_options({**options, "text_embeddings": str(tmp_path / "emb.safetensors")})
    assert loaded.weights_id == str(tmp_path) and loaded.components.source == str(tmp_path)
    fresh = LTX2DiffusersAdapter.tiny(seed=3, config=replace(TINY_CONFIG, negative_prompt=""))
    fresh.text_encoder = table
    prompt = [PromptRecord("a", "a dog")]
    sampler = SamplerConfig(steps=2, video_cfg=2.0)
    a = loaded.rollout(loaded.encode_conditions(prompt), prompt, [1], sampler)
    b = fresh.rollout(fresh.encode_conditions(prompt), prompt, [1], sampler)
    assert torch.equal(a.latents["video"], b.latents["video"]) and torch.equal(
        a.latents["audio"], b.latents["audio"]
    )


def test_bfloat16_base_with_float32_lora() -> None:
    ad = build_from_options({"weights": "tiny", "dtype": "bfloat16", "seed": 9})
    assert ad.dtype == torch.bfloat16 and {p.dtype for p in ad.trainable_parameters()} == {torch.float32}
    cond = ad.encode_conditions(PROMPTS)
    assert cond["video_ctx"].dtype == torch.bfloat16
    ro = ad.rollout(cond, PROMPTS, [1, 2], SamplerConfig(steps=2, video_cfg=1.5))
    assert ro.latents["video"].dtype == torch.float32
    media = ad.decode(ro)
    assert media[0].frames.dtype == np.uint8 and media[0].audio.dtype == np.float32
    x_t, _ = ad.noise(ro.latents, torch.full((2,), 0.5), torch.Generator().manual_seed(0), ro.aux)
    pred = ad.predict_x0("train", x_t, torch.full((2,), 0.5), ro.cond, ro.aux)
    (pred["video"].square().mean() + pred["audio"].square().mean()).backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in ad.trainable_parameters())


def test_region_maps_use_rope_only_when_configured() -> None:
    default = build_from_options({"weights": "tiny", "seed": 0})
    assert default.config.capture_rope is False  # the release's maps
    rope = build_from_options({"weights": "tiny", "seed": 0, "adapter": {"capture_rope": True}})
    assert rope.config.capture_rope is True


def test_cfg_rollout_refuses_an_unset_negative_prompt() -> None:
    ad = LTX2DiffusersAdapter.tiny(seed=0, config=replace(TINY_CONFIG, negative_prompt=None))
    with pytest.raises(ValueError, match="negative prompt"):
        ad.null_condition(1)
    explicit = LTX2DiffusersAdapter.tiny(seed=0, config=replace(TINY_CONFIG, negative_prompt=""))
    neg = explicit.null_condition(2)
    assert neg and all(v.shape[0] == 2 for v in neg.values())
