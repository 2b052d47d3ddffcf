"""AudioCLIP audio branch for FAD: waveform fitting, the ESResNeXt-fbsp front end, key layout, the embedder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.functional.audioclip_audio import (
    audio_num_samples,
    blackmanharris_window,
    fit_length,
    frame_layout,
    frame_signal,
    int16_range_to_unit,
)
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.models import audioclip as ac_model
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.scorers import audioclip as ac_scorer
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, WeightsInfo

# sha256 over sorted "audio.key:shape" lines of AudioCLIP's ESResNeXtFBSP (n_fft 2048, hop 561, win 1654,
# blackmanharris, attention, 1024 classes), i.e. the audio part of AudioCLIP-Full-Training.pt's layout.
OFFICIAL_MANIFEST = "01eac8456101517286e1a3c197faf76dc556036e7bbb7c694505e68c46714f8e"
SR = 16_000


def _manifest(sd: dict, prefix: str) -> str:
    lines = "".join(f"{prefix}{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _tone(seconds: float, sr: int = SR, freq: float = 440.0, seed: int = 0, channels: int = 1) -> np.ndarray:
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    noise = np.random.default_rng(seed).standard_normal((channels, n)) * 0.05
    return (0.3 * np.sin(2 * np.pi * freq * t)[None] + noise).astype(np.float32)


def _sample(sid: str, pcm: np.ndarray, sr: int = SR) -> DecodedSample:
    return DecodedSample(id=sid, audio=DecodedAudio(pcm, sr))


@pytest.fixture(scope="module")
def loaded():
    return ac_model.load("tiny", seed=0)


@pytest.fixture(scope="module")
def embedder(loaded):
    model, ident = loaded
    cfg = ScorerConfig(max_batch_size=2)
    return ac_scorer.AudioClipEmbedder(
        "audioclip",
        cfg,
        backend=TorchBackend(ac_scorer.make_graphs(model, 64_000)),
        weights=WeightsInfo(ident.weights_id, ident.sha256, ident.tiny),
    )


# ------------------------------------------------------------------------------------------ front end


def test_fit_length_pads_and_trims():
    assert audio_num_samples(4.0) == 64_000 and audio_num_samples(0.1) == 1_600
    np.testing.assert_array_equal(fit_length(np.array([1, 2, 3], np.float32), 5), [1, 2, 3, 0, 0])
    np.testing.assert_array_equal(fit_length(np.array([1, 2, 3], np.float32), 2), [1, 2])
    assert fit_length(np.ones(7), 7).dtype == np.float32
    with pytest.raises(ValueError):
        audio_num_samples(0.0)


def test_window_is_scipy_periodic_blackmanharris():
    from scipy.signal import get_window

    np.testing.assert_allclose(
        blackmanharris_window(1654), get_window("blackmanharris", 1654, fftbins=True), atol=1e-12
    )


def test_int16_range_mapping():
    out = int16_range_to_unit(torch.tensor([-32768.0, 32767.0, 0.0, 1.0], dtype=torch.float64))
    np.testing.assert_allclose(out.numpy(), [-1.0, 1.0, 1 / 65535, 3 / 65535], atol=1e-15)


def test_frame_layout_hand_computed():
    # 1 + ceil((64000 - 1654) / 561) = 1 + ceil(111.13) = 113 frames covering 112 * 561 + 1654 = 64486 samples
    assert frame_layout(64_000, 1654, 561) == (113, 243, 243)
    assert frame_layout(1000, 1654, 561) == (1, 327, 327)
    assert frame_layout(1654, 1654, 561) == (1, 0, 0)
    assert frame_layout(1656, 1654, 561) == (2, 279, 280)


def test_frame_signal_centres_and_pads_to_n_fft():
    x = torch.arange(1, 2 + 1655, dtype=torch.float32)[None]  # 1656 samples: two frames, pad 279 / 280
    window = torch.ones(1654)
    frames = frame_signal(x, window, 561, 2048)
    assert frames.shape == (1, 2, 2048)
    first = frames[0, 0, 197 : 197 + 1654]  # (2048 - 1654) / 2 = 197 zeros either side
    assert torch.all(frames[0, :, :197] == 0) and torch.all(frames[0, :, 197 + 1654 :] == 0)
    assert torch.all(first[:279] == 0) and first[279] == 1.0 and first[-1] == 1654 - 279
    assert frames[0, 1, 197] == 561 - 279 + 1


def test_fbsp_kernel_matches_the_closed_form():
    """Kernel = sqrt(fb) * sinc(fb t / m)^m * exp(-i fc t) / sqrt(n), t = pi * linspace(-1, 1, n) (+1e-8)."""
    from omninft.reward_servers.functional.audioclip_audio import fbsp_kernel

    n, bins = 64, 9
    rng = np.random.default_rng(0)
    m, fb, fc = rng.uniform(0.2, 2.0, bins), rng.uniform(0.5, 3.0, bins), np.arange(bins, dtype=np.float64)
    t = np.pi * np.linspace(-1.0, 1.0, n)[None] + 1e-8
    arg = fb[:, None] * t / (m[:, None] + 1e-8)
    sinc = np.sin(arg) / arg
    win = np.abs(sinc) ** m[:, None] * np.exp(1j * m[:, None] * np.where(sinc < 0, np.pi, 0.0))
    expected = np.sqrt(fb)[:, None] * win * np.exp(-1j * fc[:, None] * t) / np.sqrt(n)
    got = fbsp_kernel(*(torch.from_numpy(v) for v in (m, fb, fc)), n, normalized=True).numpy()
    np.testing.assert_allclose(got[..., 0] + 1j * got[..., 1], expected, atol=1e-10)


# ------------------------------------------------------------------------------------------ model


def test_full_size_layout_matches_official_manifest():
    model = ac_model.build(ac_model.ESResNeXtConfig.official())
    sd = model.state_dict()
    assert len(sd) == 370 and sum(p.numel() for p in model.parameters()) == 32_104_771
    assert _manifest(sd, "audio.") == OFFICIAL_MANIFEST
    assert sd["fbsp.bias"].shape == (0,) and sd["fc.weight"].shape == (1024, 2048)


def _full_checkpoint(model: torch.nn.Module) -> dict:
    """A full-AudioCLIP-like state dict: the audio branch under `audio.` plus (small) CLIP and scale keys."""
    sd = {f"audio.{k}": v.clone() for k, v in model.state_dict().items()}
    sd.update(
        {
            "visual.conv1.weight": torch.zeros(2, 3, 3, 3),
            "transformer.resblocks.0.ln_1.weight": torch.ones(4),
            "token_embedding.weight": torch.zeros(3, 4),
            "positional_embedding": torch.zeros(3, 4),
            "ln_final.weight": torch.ones(4),
            "text_projection": torch.zeros(4, 4),
            "logit_scale": torch.ones(()),
            "logit_scale_ai": torch.ones(()),
            "logit_scale_at": torch.ones(()),
        }
    )
    return sd


def test_tiny_is_deterministic_per_seed(loaded):
    _, ident = loaded
    assert ac_model.identify("tiny", seed=0) == ident and ident.tiny
    assert ac_model.identify("tiny", seed=1).sha256 != ident.sha256


def test_tiny_round_trip_of_official_key_layout(loaded, tmp_path: Path):
    src, _ = loaded
    path = tmp_path / "AudioCLIP-Full-Training.pt"
    torch.save(_full_checkpoint(src), path)
    dst, _ = ac_model.load("tiny", seed=5)
    ac_model.load_official(dst, path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    wave = torch.from_numpy(_tone(0.5))
    with torch.inference_mode():
        assert torch.equal(dst(wave), src(wave))


def test_official_loader_is_strict(loaded, tmp_path: Path):
    src, _ = loaded
    dst, _ = ac_model.load("tiny", seed=1)
    cases = {
        "missing": lambda sd: sd.pop("audio.att5.bn.bias"),
        "unexpected": lambda sd: sd.__setitem__("audio.layer9.0.conv1.weight", torch.zeros(1)),
        "shape mismatch": lambda sd: sd.__setitem__("audio.fc.bias", torch.zeros(7)),
        "unrecognised": lambda sd: sd.__setitem__("mystery.weight", torch.zeros(1)),
    }
    for what, edit in cases.items():
        sd = _full_checkpoint(src)
        edit(sd)
        torch.save(sd, tmp_path / "ckpt.pt")
        with pytest.raises(WeightsLoadError, match=what):
            ac_model.load_official(dst, tmp_path / "ckpt.pt")
    sd = {k: v for k, v in _full_checkpoint(src).items() if k != "audio.window"}  # buffer absent: rebuilt
    torch.save(sd, tmp_path / "ckpt.pt")
    ac_model.load_official(dst, tmp_path / "ckpt.pt")
    with pytest.raises(FileNotFoundError, match="fetch-weights --family audioclip"):
        ac_model.load("official", cache_dir=tmp_path / "empty")


def test_core_equals_model_forward(loaded):
    model, _ = loaded
    wave = torch.from_numpy(np.concatenate([_tone(1.0, seed=1), _tone(1.0, freq=900.0, seed=2)]))
    with torch.inference_mode():
        direct = model(wave[:, None])
        core = ac_model.AudioClipAudioCore(model)(wave)
    assert direct.shape == (2, 1024)
    torch.testing.assert_close(core, direct, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ embedder


def test_registry_builds_an_embed_only_scorer():
    s = registry.build("audioclip", ScorerConfig(weights="tiny", options={"max_audio_len_s": 2.0}))
    assert isinstance(s, Scorer)
    assert s.info.outputs == () and s.info.embeddings == ("audioclip",) and s.info.weights.tiny
    assert s.info.input_spec.audio_sample_rate == 16_000 and s.info.input_spec.max_audio_seconds == 2.0
    assert s.preprocess(_sample("a", _tone(3.0))).shape == (32_000,)


def test_preprocess_mono_resample_pad_trim(embedder):
    short = embedder.preprocess(_sample("s", _tone(1.0)))
    assert short.shape == (64_000,) and short.dtype == np.float32
    assert np.all(short[16_000:] == 0) and np.abs(short[:16_000]).max() > 0.1  # not rescaled to int16
    long = _tone(5.0)
    np.testing.assert_array_equal(embedder.preprocess(_sample("l", long)), long[0, :64_000])
    stereo = _tone(1.0, channels=2)
    np.testing.assert_allclose(
        embedder.preprocess(_sample("st", stereo)), fit_length(stereo.mean(axis=0), 64_000), atol=1e-7
    )
    at44 = embedder.preprocess(_sample("r", _tone(2.0, sr=44_100), sr=44_100))
    assert np.all(at44[32_000 + 10 :] == 0) and np.abs(at44[: 32_000 - 10]).min() >= 0


def test_resampling_is_librosa_0_9_kaiser_best_and_soxr_a_variant(embedder):
    from omninft.reward_servers.functional.kaiser_resample import kaiser_resample
    from omninft.reward_servers.media import resample

    tone = _tone(2.0, sr=22_050, seed=7)
    got = embedder.preprocess(_sample("r", tone, sr=22_050))
    want = kaiser_resample(tone[0], 22_050, 16_000)
    np.testing.assert_array_equal(got[: want.shape[0]], want)
    variant = ac_scorer.AudioClipEmbedder(
        "audioclip",
        ScorerConfig(protocol="javisbench-v1-soxr"),
        backend=embedder.backend,
        weights=embedder.info.weights,
    )
    assert variant.info.protocol == "javisbench-v1-soxr"
    np.testing.assert_array_equal(
        variant.preprocess(_sample("r", tone, sr=22_050)),
        fit_length(resample(tone[0], 22_050, 16_000), 64_000),
    )


def test_embedding_shape_raw_determinism_and_batching(embedder):
    items = [
        embedder.preprocess(_sample(str(i), _tone(s, freq=f, seed=i)))
        for i, (s, f) in enumerate([(1.0, 440.0), (4.5, 880.0)])
    ]
    together = [embedder.postprocess(o).embeddings["audioclip"] for o in embedder.forward(items)]  # one batch
    alone = [embedder.postprocess(embedder.forward([it])[0]).embeddings["audioclip"] for it in items]
    for a, b in zip(together, alone, strict=True):
        assert a.shape == (1024,) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert abs(float(np.linalg.norm(together[0])) - 1.0) > 1e-3  # raw, not L2-normalised
    assert not np.allclose(together[0], together[1])


def test_invalid_samples_fail_alone(embedder):
    with pytest.raises(InvalidSample, match="needs audio"):
        embedder.preprocess(DecodedSample("v", video=DecodedVideo(np.zeros((1, 4, 4, 3), np.uint8), 24.0)))
    with pytest.raises(InvalidSample, match="zero-length"):
        embedder.preprocess(_sample("e", np.zeros((1, 0), np.float32)))
    bad = _tone(1.0)
    bad[0, 5] = np.nan
    with pytest.raises(InvalidSample, match="NaN"):
        embedder.preprocess(_sample("n", bad))
