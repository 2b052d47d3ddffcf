"""Audiobox Aesthetics: official key layout, frame mask rule, chunking / de-normalisation math, strict loading,
and the scorer against a hand composition of the modules."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.media import DecodedAudio, DecodedSample
from omninft.reward_servers.models import audiobox as ab
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.scorers import audiobox as scorer_mod
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, WeightsInfo
from omninft.reward_servers.weights import ENV_WEIGHTS_DIR

SR = 16_000
# sha256 of the sorted "key:shape" lines of AesMultiOutput().state_dict() at facebookresearch/audiobox-aesthetics
# 2618e9d (260 keys, 94,385,064 parameters), generated once from the upstream code.
OFFICIAL_LAYOUT_SHA256 = "fcbd485d3b4844da0d5b1d38116c3695339bd854b121986f664d78f9ee441f1a"


def _layout_sha(sd: dict) -> str:
    lines = "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _noise(seconds: float, sr: int = SR, channels: int = 1, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    n = int(round(seconds * sr))
    return (np.random.default_rng(seed).standard_normal((channels, n)) * amp).astype(np.float32)


def _sample(sid: str, pcm: np.ndarray, sr: int = SR) -> DecodedSample:
    return DecodedSample(id=sid, prompt="", audio=DecodedAudio(pcm, sr))


@pytest.fixture(scope="module")
def loaded():
    return ab.load("tiny", seed=0)


def _scorer(model, **options) -> scorer_mod.AudioboxScorer:
    protocol = options.pop("protocol", "")
    cfg = ScorerConfig(max_batch_size=2, protocol=protocol, options=options)
    return scorer_mod.AudioboxScorer(
        "audiobox_aesthetics",
        cfg,
        backend=TorchBackend(scorer_mod.make_graphs(model)),
        weights=WeightsInfo("tiny", "0" * 64, True),
        target_transform=model.config.target_transform,
    )


@pytest.fixture(scope="module")
def scorer(loaded):
    return _scorer(loaded[0])


@pytest.fixture(scope="module")
def saved_hf(loaded, tmp_path_factory):
    """The tiny model in the HF layout of facebook/audiobox-aesthetics: config.json + model.safetensors."""
    from safetensors.torch import save_file

    model, _ = loaded
    d = tmp_path_factory.mktemp("audiobox-tiny")
    sd = {k: v.contiguous() for k, v in ab.local_to_official(model.state_dict()).items()}
    save_file(sd, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps(ab.to_checkpoint_config(model.config)))
    return d


# ------------------------------------------------------------------------------------------ layout / loading


def test_full_size_key_layout_equals_the_official_manifest():
    with torch.device("meta"):
        model = ab.AudioboxAesthetics(ab.official())
    sd = ab.local_to_official(model.state_dict())
    assert len(sd) == 260 and sum(v.numel() for v in sd.values()) == 94_385_064
    assert tuple(sd["wavlm_model.encoder.pos_conv.0.weight_g"].shape) == (1, 1, 128)
    assert tuple(sd["wavlm_model.encoder.layers.0.self_attn.relative_attention_bias.weight"].shape) == (
        320,
        12,
    )
    assert tuple(sd["wavlm_model.encoder.layers.3.self_attn.grep_a"].shape) == (1, 12, 1, 1)
    assert _layout_sha(sd) == OFFICIAL_LAYOUT_SHA256


def test_tiny_keeps_the_input_contract_and_round_trips_the_official_names(loaded):
    model, ident = loaded
    cfg = model.wavlm.config
    assert math.prod(cfg.conv_stride) == 320 and cfg.conv_kernel == ab.official().wavlm_config().conv_kernel
    assert ident.tiny and ident.weights_id == "tiny-random(seed=0)"
    assert ab.load("tiny", seed=0)[1].sha256 == ident.sha256 != ab.load("tiny", seed=1)[1].sha256
    sd = model.state_dict()
    official = ab.local_to_official(sd)
    assert {
        "wavlm_model.mask_emb",
        "wavlm_model.feature_extractor.conv_layers.0.2.weight",
        "wavlm_model.encoder.layers.1.self_attn.grep_linear.weight",
        "proj_layer.PQ.0.bias",
        "layer_weights.CE",
    } <= set(official)
    back = ab.official_to_local(official)
    assert back.keys() == sd.keys() and all(back[k] is sd[k] for k in sd)
    with pytest.raises(KeyError, match="no mapping"):
        ab.official_to_local({**official, "wavlm_model.encoder.extra.weight": torch.zeros(1)})


def test_hf_layout_loads_strictly_and_official_resolves_from_weights_dir(
    loaded, saved_hf, tmp_path, monkeypatch
):
    import shutil

    model, _ = loaded
    again, ident = ab.load(str(saved_hf))
    assert not ident.tiny and ident.weights_id == f"local:{saved_hf.resolve()}"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=0, atol=0)
    assert again.config.target_transform == model.config.target_transform
    staged = tmp_path / "hf" / "facebook" / "audiobox-aesthetics"
    shutil.copytree(saved_hf, staged)
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    _, official_ident = ab.load("official")
    assert official_ident.weights_id == "hf:facebook/audiobox-aesthetics@main"
    assert ab.identify("official") == official_ident
    from huggingface_hub import constants

    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(FileNotFoundError, match="fetch-weights --family audiobox"):
        ab.load("official")


def test_checkpoint_pt_layout_loads(loaded, tmp_path):
    model, _ = loaded
    cfg = ab.to_checkpoint_config(model.config)
    ckpt = {
        "state_dict": {f"model.{k}": v for k, v in ab.local_to_official(model.state_dict()).items()},
        "model_cfg": {k: v for k, v in cfg.items() if k != "target_transform"},
        "target_transform": cfg["target_transform"],
    }
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    again, _ = ab.load(str(tmp_path / "checkpoint.pt"))
    x = torch.from_numpy(_noise(10.0)[:, : ab.CHUNK_SAMPLES])
    torch.testing.assert_close(again(x, torch.ones_like(x)), model(x, torch.ones_like(x)))


def test_strict_loading_rejects_missing_and_unknown_keys(saved_hf, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(saved_hf, broken)
    sd = load_file(broken / "model.safetensors")
    sd.pop("proj_layer.CU.0.weight")
    save_file(sd, str(broken / "model.safetensors"))
    with pytest.raises(WeightsLoadError, match="missing_keys.*proj_layer.CU.0.weight"):
        ab.load(str(broken))
    sd["wavlm_model.bogus"] = torch.zeros(1)
    save_file(sd, str(broken / "model.safetensors"))
    with pytest.raises(WeightsLoadError, match="unexpected_keys"):
        ab.load(str(broken))
    cfg = json.loads((saved_hf / "config.json").read_text())
    del cfg["target_transform"]
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsLoadError, match="target_transform"):
        ab.load(str(broken))


# ------------------------------------------------------------------------------------------ pure math


def test_frame_mask_uses_unilm_block_rule_not_the_conv_length_formula(loaded):
    model, _ = loaded
    n, frames = ab.CHUNK_SAMPLES, 499
    for valid, expected in ((64_000, 200), (96_100, 301), (160_000, 499), (1, 1), (320, 1), (321, 2)):
        mask = torch.zeros(1, n)
        mask[0, :valid] = 1
        assert int(ab.frame_validity(mask, frames).sum()) == expected == min(frames, math.ceil(valid / 320))
    # transformers' own rule gives one frame fewer for 4 s (the reason the mask is computed here)
    assert int(model.wavlm._get_feat_extract_output_lengths(torch.tensor(64_000))) == 199


def test_chunking_weights_and_denormalisation_by_hand():
    wave = np.arange(25 * SR, dtype=np.float32)
    ch = ab.make_chunks(wave)
    assert ch.wavs.shape == (3, 160_000) and ch.weights.tolist() == [1.0, 1.0, 0.5]
    assert ch.masks[2, :80_000].all() and not ch.masks[2, 80_000:].any() and ch.wavs[2, 80_000:].max() == 0
    assert ch.wavs[1, 0] == 160_000 and ch.wavs[2, 0] == 320_000
    one = ab.make_chunks(np.ones(64_000, dtype=np.float32))
    assert one.weights.tolist() == [0.4] and one.masks.sum() == 64_000
    tt = {
        "CE": {"mean": 5, "std": 2},
        "CU": {"mean": 1, "std": 1},
        "PC": {"mean": 0, "std": 3},
        "PQ": {"mean": -1, "std": 0.5},
    }
    preds = np.array([[1.0, 0.0, 1.0, 2.0], [0.0, 2.0, -1.0, 4.0], [3.0, 1.0, 1.0, 0.0]])
    got = ab.aggregate(preds, [1.0, 1.0, 0.5], tt)
    # CE: denorm 7, 5, 11 -> (7 + 5 + 0.5 * 11) / 2.5 ; PQ: 0, 1, -1 -> (0 + 1 - 0.5) / 2.5
    assert got["CE"] == pytest.approx((7 + 5 + 5.5) / 2.5)
    assert got["CU"] == pytest.approx((1 + 3 + 0.5 * 2) / 2.5)
    assert got["PC"] == pytest.approx((3 - 3 + 0.5 * 3) / 2.5)
    assert got["PQ"] == pytest.approx((0 + 1 - 0.5) / 2.5)
    assert ab.aggregate(preds[:1], [0.4], tt)["CE"] == pytest.approx(7.0)  # one chunk: its weight cancels


def test_torchaudio_axis_gain_by_hand():
    # down-sampling: one output per input sample, the centre tap base / orig = 0.99 * new / orig
    assert scorer_mod.torchaudio_axis_gain(48_000) == pytest.approx(0.33, abs=1e-7)
    assert scorer_mod.torchaudio_axis_gain(44_100) == pytest.approx(0.99 * 160 / 441, abs=1e-7)
    assert scorer_mod.torchaudio_axis_gain(16_000) == 1.0
    # 8 kHz -> 16 kHz: two phases, t = 0 and t = -0.5 * 0.99, averaged by the channel mean
    t = -0.5 * 0.99
    second = math.sin(math.pi * t) / (math.pi * t) * math.cos(math.pi * t / 12) ** 2 * 0.99
    assert scorer_mod.torchaudio_axis_gain(8_000) == pytest.approx((0.99 + second) / 2, abs=1e-7)


def test_fit_length_and_option_parsing():
    x = np.ones(10, dtype=np.float32)
    assert scorer_mod.fit_length(x, 0.5, sample_rate=8).tolist() == [1.0] * 4
    assert scorer_mod.fit_length(x, 2.0, sample_rate=8).tolist() == [1.0] * 10 + [0.0] * 6
    assert scorer_mod.fit_length(x, None) is x
    assert scorer_mod.max_audio_len_option({}) == 4.0
    assert scorer_mod.max_audio_len_option({"max_audio_len_s": "none"}) is None
    assert scorer_mod.max_audio_len_option({"max_audio_len_s": 0}) is None
    with pytest.raises(ValueError):
        scorer_mod.max_audio_len_option({"max_audio_len_s": -1})


# ------------------------------------------------------------------------------------------ scorer


def _hand_scores(model: ab.AudioboxAesthetics, wave16k: np.ndarray) -> dict[str, float]:
    """AesPredictor + AesMultiOutput written out step by step with the model's submodules."""
    w = model.wavlm
    scores: dict[str, list[tuple[float, float]]] = {a: [] for a in ab.AXES}
    with torch.inference_mode():
        for start in range(0, wave16k.shape[0], 160_000):
            piece = torch.from_numpy(wave16k[start : start + 160_000].copy())
            n_valid = piece.shape[0]
            x = torch.nn.functional.pad(piece, (0, 160_000 - n_valid))[None]
            feats = w.feature_extractor(x).transpose(1, 2)
            frames = feats.shape[1]
            block = 160_000 // frames
            # a frame is real audio when its block's first sample is (blocks of `block` samples from 0)
            valid = (torch.arange(frames) * block < n_valid)[None]
            h = w.feature_projection.projection(w.feature_projection.layer_norm(feats))
            h = torch.where(valid[..., None], h, torch.zeros_like(h))
            h = w.encoder.layer_norm(h + w.encoder.pos_conv_embed(h))
            layers, bias = [h], None
            for i, layer in enumerate(w.encoder.layers):
                h, bias = layer(h, attention_mask=valid, position_bias=bias, index=i)
                layers.append(h)
            for a in ab.AXES:
                wts = torch.softmax(model.layer_weights[a], 0)
                mixed = sum(wts[i] * layers[i] for i in range(len(layers)))
                pooled = mixed[0][valid[0]].mean(0)
                pooled = pooled / pooled.norm().clamp(min=1e-12)
                pred = float(model.proj_layer[a](pooled)[0])
                mean, std = model.config.denorm(a)
                scores[a].append((pred * std + mean, n_valid / 160_000))
    out = {a.lower(): sum(s * wt for s, wt in v) / sum(wt for _, wt in v) for a, v in scores.items()}
    out["audio_quality"] = sum(out[a.lower()] for a in ab.AXES) / 4
    return out


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_score_equals_hand_composition_and_batching_does_not_matter(loaded, scorer):
    model, _ = loaded
    assert isinstance(scorer, Scorer) and scorer.info.outputs == scorer_mod.OUTPUTS
    clips = [_noise(3.0, seed=1), _noise(5.5, channels=2, seed=2)]
    items = [scorer.preprocess(_sample(f"s{i}", c)) for i, c in enumerate(clips)]
    together = [scorer.postprocess(r).scores for r in scorer.forward(items)]
    alone = [scorer.postprocess(scorer.forward([it])[0]).scores for it in items]
    for clip, t, a in zip(clips, together, alone, strict=True):
        wave = scorer_mod.fit_length(clip.mean(axis=0), 4.0)
        ref = _hand_scores(model, wave)
        assert set(t) == set(ref)
        for k in ref:
            assert t[k] == pytest.approx(ref[k], abs=1e-5), k
            assert a[k] == pytest.approx(ref[k], abs=1e-5), k


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_long_clips_chunk_without_a_length_limit(loaded):
    model, _ = loaded
    full = _scorer(model, max_audio_len_s=None)
    clip = _noise(12.5, seed=3)
    item = full.preprocess(_sample("long", clip))
    assert item.chunks.weights.tolist() == [1.0, 0.25] and full.info.input_spec.max_audio_seconds == 0.0
    got = full.postprocess(full.forward([item])[0]).scores
    ref = _hand_scores(model, clip[0])
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-5), k


def test_protocols_for_non_16k_audio(loaded, scorer):
    model, _ = loaded
    clip48 = _noise(2.0, sr=48_000, seed=4)
    quirk = scorer.postprocess(scorer.forward([scorer.preprocess(_sample("a", clip48, 48_000))])[0]).scores
    # the reference reads 48 kHz samples as 16 kHz ones, scaled by 0.33, and then keeps the first 4 s
    as16k = scorer.postprocess(
        scorer.forward([scorer.preprocess(_sample("b", clip48 * np.float32(0.33)))])[0]
    ).scores
    assert quirk == pytest.approx(as16k, abs=1e-6)
    resampled = _scorer(model, protocol="javisbench-v1-resampled")
    item = resampled.preprocess(_sample("c", clip48, 48_000))
    assert item.num_samples == 64_000 and item.chunks.masks.sum() == 64_000
    # 2 s at 48 kHz -> 32000 samples at 16 kHz (torchaudio-style sinc), then zero-padded to 4 s
    from omninft.reward_servers.functional.sync_frontend import sinc_resample

    expected = np.pad(sinc_resample(clip48[0], 48_000, 16_000), (0, 32_000))
    np.testing.assert_array_equal(item.chunks.wavs[0, :64_000], expected)
    with pytest.raises(ValueError, match="unknown protocol"):
        _scorer(model, protocol="nope")


def test_invalid_samples_fail_alone(scorer):
    with pytest.raises(InvalidSample, match="needs audio"):
        scorer.preprocess(DecodedSample(id="x", prompt="p"))
    with pytest.raises(InvalidSample, match="zero-length"):
        scorer.preprocess(_sample("e", np.zeros((1, 0), dtype=np.float32)))
    bad = _noise(1.0)
    bad[0, 5] = np.nan
    with pytest.raises(InvalidSample, match="NaN"):
        scorer.preprocess(_sample("n", bad))
    silent = scorer.postprocess(
        scorer.forward([scorer.preprocess(_sample("s", np.zeros((1, SR), np.float32)))])[0]
    )
    assert all(np.isfinite(v) for v in silent.scores.values())


def test_registry_builds_the_scorer():
    s = registry.build("audiobox_aesthetics", ScorerConfig(weights="tiny", max_batch_size=2))
    assert (
        s.info.weights.tiny
        and s.info.protocol == "javisbench-v1"
        and s.info.input_spec.max_audio_seconds == 4.0
    )
    out = s.postprocess(s.forward([s.preprocess(s.warmup_sample())])[0]).scores
    assert set(out) == set(scorer_mod.OUTPUTS)
