"""Toy policy: the trainer's rendering convention and the server's toy scorers agree; rollouts are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import toy as toy_scorers
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.trainer.policies.base import PolicyAdapter, SamplerConfig, cat_rollouts
from omninft.trainer.policies.toy import (
    TOY_AUDIO_GAIN,
    TOY_BAND_HZ,
    TOY_HOP,
    TOY_ROW0,
    TOY_ROW_STEP,
    TOY_SAMPLE_RATE,
    ToyAdapter,
    ToyDataConfig,
    ToyModelConfig,
    adapter_parameters,
    media_from_latents,
    pixels_to_tokens,
    render_pixels,
    sample_data,
    sounding_token_mask,
    tokens_to_pixels,
    toy_prompts,
)

SMALL = ToyModelConfig(blocks=2, video_dim=32, audio_dim=16, cond_dim=32)


def _decoded(media: object, prompt: str) -> DecodedSample:
    return DecodedSample(
        id="x",
        prompt=prompt,
        video=DecodedVideo(media.frames, media.fps),  # type: ignore[attr-defined]
        audio=DecodedAudio(media.audio, media.sample_rate),
    )  # type: ignore[attr-defined]


def test_shared_constants_match() -> None:
    assert (toy_scorers.SAMPLE_RATE, toy_scorers.HOP, toy_scorers.GAIN) == (
        TOY_SAMPLE_RATE,
        TOY_HOP,
        TOY_AUDIO_GAIN,
    )
    assert toy_scorers.BAND_HZ == TOY_BAND_HZ
    assert (toy_scorers.ROW0, toy_scorers.ROW_STEP) == (TOY_ROW0, TOY_ROW_STEP)


def test_render_roundtrip_and_data_rewards() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat(8)
    video, audio = render_pixels(labels, g)
    assert torch.equal(tokens_to_pixels(pixels_to_tokens(video)), video)
    x0 = {"video": pixels_to_tokens(video), "audio": audio}
    rows = []
    for i in range(labels.shape[0]):
        m = media_from_latents(x0["video"][i], x0["audio"][i])
        assert m.frames.dtype == np.uint8 and m.frames.shape == (8, 32, 32, 3) and m.audio.shape == (1, 8000)
        s = _decoded(m, f"toy class {int(labels[i])}")
        amps = toy_scorers.band_amplitudes(s.audio)  # type: ignore[arg-type]
        np.testing.assert_allclose(amps, np.clip(audio[i].numpy(), -1e9, 1e9), atol=2e-3)
        grid = toy_scorers.video_grid(s.video)  # type: ignore[arg-type]
        np.testing.assert_allclose(grid, video[i].clamp(0, 1).numpy(), atol=1 / 255)
        rows.append([toy_scorers._video(s), toy_scorers._audio(s), toy_scorers._sync(s)])
    r = np.array(rows)
    # The data has the designed conflict: sharp video goes with noisy audio.
    assert np.corrcoef(r[:, 0], r[:, 1])[0, 1] < -0.5
    assert 0.6 < r[:, 0].mean() < 1.0 and r[:, 2].mean() > 0.2


def test_scorers_fail_bad_samples() -> None:
    from omninft.reward_servers.scorers.base import InvalidSample

    g = torch.Generator().manual_seed(1)
    x0 = sample_data(torch.tensor([1]), g)
    m = media_from_latents(x0["video"][0], x0["audio"][0])
    scorer = toy_scorers.build_audio("toy_audio", ScorerConfig())
    with pytest.raises(InvalidSample, match="class"):
        scorer.preprocess(_decoded(m, "no label here"))
    out = scorer.postprocess(scorer.forward([scorer.preprocess(_decoded(m, "toy class 1"))])[0])
    assert set(out.scores) == {"toy_audio"}
    for build in (toy_scorers.build_video, toy_scorers.build_audio, toy_scorers.build_sync):
        sc = build("x", ScorerConfig())
        assert np.isfinite(sc.preprocess(sc.warmup_sample()))


def test_rollout_deterministic_and_protocol() -> None:
    adapter = ToyAdapter(SMALL)
    assert isinstance(adapter, PolicyAdapter)
    prompts = toy_prompts()[:3]
    cond = adapter.encode_conditions(prompts)
    r1 = adapter.rollout(cond, prompts, [5, 6, 7], SamplerConfig(steps=4))
    r2 = adapter.rollout(cond, prompts, [5, 6, 7], SamplerConfig(steps=4))
    assert torch.equal(r1.latents["video"], r2.latents["video"])
    sub = r1.select([2, 0])
    assert sub.seeds == [7, 5] and torch.equal(sub.latents["audio"][0], r1.latents["audio"][2])
    assert torch.equal(sub.cond["label"], torch.tensor([2, 0]))
    both = cat_rollouts([r1, sub])
    assert both.batch_size == 5
    media = adapter.decode(sub)
    assert len(media) == 2 and media[0].fps == 8.0
    state = adapter.checkpoint_state()
    other = ToyAdapter(SMALL, init_seed=3)
    other.load_checkpoint_state(state)
    x = other.predict_x0("train", r1.latents, torch.full((3,), 0.5), cond, None)
    y = adapter.predict_x0("train", r1.latents, torch.full((3,), 0.5), cond, None)
    assert torch.equal(x["video"], y["video"])
    with pytest.raises(ValueError, match="spatio-temporal"):
        adapter.rollout(cond, prompts, [1, 2, 3], SamplerConfig(steps=2, stg_scale=1.0))


def test_default_data_are_unchanged_by_the_new_options() -> None:
    labels = torch.arange(4).repeat(2)
    a = render_pixels(labels, torch.Generator().manual_seed(3))
    b = render_pixels(labels, torch.Generator().manual_seed(3), ToyDataConfig(coupled=True, distractor=False))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_distractor_is_silent_and_does_not_move_the_sync_reward() -> None:
    labels = torch.arange(4).repeat(6)
    plain_v, plain_a = render_pixels(labels, torch.Generator().manual_seed(5))
    dis_v, dis_a = render_pixels(labels, torch.Generator().manual_seed(5), ToyDataConfig(distractor=True))
    # Same sounding blob and same sound; the distractor only adds light elsewhere.
    assert bool((dis_v >= plain_v).all()) and float((dis_v - plain_v).sum()) > 1.0
    sync_plain, sync_dis, dis_rows = [], [], []
    for i, c in enumerate(labels.tolist()):
        mp = media_from_latents(pixels_to_tokens(plain_v)[i], plain_a[i])
        md = media_from_latents(pixels_to_tokens(dis_v)[i], dis_a[i])
        sync_plain.append(toy_scorers._sync(_decoded(mp, f"toy class {c}")))
        sync_dis.append(toy_scorers._sync(_decoded(md, f"toy class {c}")))
        # The distractor's own rows carry its light; the sounding rows hardly see it.
        d_rows = toy_scorers.sounding_rows((c + 2) % 4)
        dis_rows.append(float((dis_v[i][:, d_rows] - plain_v[i][:, d_rows]).mean()))
    np.testing.assert_allclose(sync_dis, sync_plain, atol=0.15)
    assert np.mean(dis_rows) > 0.1
    torch.testing.assert_close(dis_a, plain_a)  # the distractor is silent


def test_independent_noise_breaks_the_conflict() -> None:
    labels = torch.arange(4).repeat(16)
    rows = []
    v, a = render_pixels(labels, torch.Generator().manual_seed(2), ToyDataConfig(coupled=False))
    for i, c in enumerate(labels.tolist()):
        s = _decoded(media_from_latents(pixels_to_tokens(v)[i], a[i]), f"toy class {c}")
        rows.append([toy_scorers._video(s), toy_scorers._audio(s)])
    r = np.array(rows)
    assert abs(np.corrcoef(r[:, 0], r[:, 1])[0, 1]) < 0.35


def test_sounding_token_mask_tracks_the_blob() -> None:
    mask = sounding_token_mask(torch.tensor([0, 3]))
    assert mask.shape == (2, 32) and mask.sum(dim=1).tolist() == [8, 8]  # one patch per frame
    per_frame = mask.reshape(2, 8, 2, 2)
    assert per_frame[0, 0, 0, 0] and per_frame[0, 7, 0, 1]  # class 0: top row, left → right
    assert per_frame[1, 0, 1, 0] and per_frame[1, 7, 1, 1]  # class 3: bottom row


def test_adapter_scope_trains_attention_and_ff_only() -> None:
    ad = ToyAdapter(SMALL, train_scope="adapters")
    params = ad.trainable_parameters()
    assert {id(p) for p in params} == {id(p) for p in adapter_parameters(ad.train_model)}
    frozen = [n for n, p in ad.train_model.named_parameters() if not p.requires_grad]
    assert any(n.startswith("class_emb") for n in frozen) and any(".mod_v." in n for n in frozen)
    assert all(
        ".attn_" in n or "_attn." in n or ".ff_" in n
        for n, p in ad.train_model.named_parameters()
        if p.requires_grad
    )
    assert 0 < sum(p.numel() for p in params) < sum(p.numel() for p in ad.train_model.parameters())
    with pytest.raises(ValueError, match="train_scope"):
        ToyAdapter(SMALL, train_scope="lora")
