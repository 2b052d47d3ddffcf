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
    TOY_SAMPLE_RATE,
    ToyAdapter,
    ToyModelConfig,
    media_from_latents,
    pixels_to_tokens,
    render_pixels,
    sample_data,
    tokens_to_pixels,
    toy_prompts,
)

SMALL = ToyModelConfig(blocks=2, video_dim=32, audio_dim=16, cond_dim=32)


def _decoded(media: object, prompt: str) -> DecodedSample:
    return DecodedSample(id="x", prompt=prompt, video=DecodedVideo(media.frames, media.fps),  # type: ignore[attr-defined]
                         audio=DecodedAudio(media.audio, media.sample_rate))  # type: ignore[attr-defined]


def test_shared_constants_match() -> None:
    assert (toy_scorers.SAMPLE_RATE, toy_scorers.HOP, toy_scorers.GAIN) == (TOY_SAMPLE_RATE, TOY_HOP, TOY_AUDIO_GAIN)
    assert toy_scorers.BAND_HZ == TOY_BAND_HZ


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
