"""CLAP: tiny tokenizer and model, strict loading of the official layout, and the scorer end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.media import DecodedAudio, DecodedSample
from omninft.reward_servers.models import clap as clap_model
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.tiny_tokenizers import tiny_roberta_tokenizer
from omninft.reward_servers.scorers import clap as clap_scorer
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig
from omninft.reward_servers.weights import ENV_WEIGHTS_DIR

SR = 48_000


def _noise(seconds: float, sr: int = SR, channels: int = 1, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    n = int(round(seconds * sr))
    return (np.random.default_rng(seed).standard_normal((channels, n)) * amp).astype(np.float32)


def _sample(sid: str, pcm: np.ndarray, sr: int = SR, prompt: str = "a dog barks", audio_prompt: str = ""):
    return DecodedSample(id=sid, prompt=prompt, audio_prompt=audio_prompt, audio=DecodedAudio(pcm, sr))


@pytest.fixture(scope="module")
def loaded():
    return clap_model.load("tiny", seed=0)


@pytest.fixture(scope="module")
def scorer(loaded):
    model, tokenizer, ident = loaded
    cfg = ScorerConfig(max_batch_size=4)
    from omninft.reward_servers.scorers.base import WeightsInfo

    return clap_scorer.ClapScorer(
        "clap",
        cfg,
        backend=TorchBackend(clap_scorer.make_graphs(model, tokenizer)),
        tokenizer=tokenizer,
        weights=WeightsInfo(ident.weights_id, ident.sha256, ident.tiny),
        text_max_len=512,
    )


@pytest.fixture(scope="module")
def saved_tiny(loaded, tmp_path_factory):
    """The tiny model, tokenizer and HF feature-extractor config saved in the official repository layout."""
    from transformers import ClapFeatureExtractor

    model, tokenizer, _ = loaded
    d = tmp_path_factory.mktemp("clap-tiny")
    model.save_pretrained(d)
    tokenizer.save_pretrained(d)
    ClapFeatureExtractor(frequency_min=50, frequency_max=14_000, truncation="rand_trunc").save_pretrained(d)
    return d


# ------------------------------------------------------------------------------------------ tokenizer / model


def test_tiny_tokenizer_layout_and_round_trip():
    tok = tiny_roberta_tokenizer()
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == len(tok) - 1
    text = "A Dog barks twice, then a car drives away (quokka!)"
    ids = tok(text)["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tok.decode(ids, skip_special_tokens=True) == text  # byte-level: lossless, case kept
    batch = tok(["a dog", "rain on a tin roof at night"], padding=True, return_tensors="np")
    assert (
        batch["input_ids"].shape[0] == 2
        and (batch["input_ids"][0][batch["attention_mask"][0] == 0] == 1).all()
    )
    assert tiny_roberta_tokenizer().get_vocab() == tok.get_vocab()  # deterministic training


def test_tiny_model_keeps_the_official_input_contract(loaded):
    model, _, ident = loaded
    cfg = model.config.audio_config
    assert (cfg.num_mel_bins, cfg.spec_size, cfg.enable_fusion) == (64, 256, False)
    assert ident.tiny and ident.weights_id == "tiny-random(seed=0)" and len(ident.sha256) == 64
    assert clap_model.load("tiny", seed=0)[2].sha256 == ident.sha256
    assert clap_model.load("tiny", seed=1)[2].sha256 != ident.sha256


def test_state_dict_round_trips_through_the_official_layout(loaded, saved_tiny):
    model, _, ident = loaded
    again, tokenizer, ident2 = clap_model.load(str(saved_tiny))
    assert not ident2.tiny and ident2.weights_id == f"local:{saved_tiny.resolve()}"
    sd, sd2 = model.state_dict(), again.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        torch.testing.assert_close(sd[k], sd2[k], rtol=0, atol=0)
    assert tokenizer("a dog")["input_ids"] == tiny_roberta_tokenizer()("a dog")["input_ids"]


def test_official_resolves_from_weights_dir(saved_tiny, tmp_path, monkeypatch):
    import shutil

    staged = tmp_path / "hf" / "laion" / "clap-htsat-unfused"
    shutil.copytree(saved_tiny, staged)
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    model, _, ident = clap_model.load("official")
    assert ident.weights_id == "hf:laion/clap-htsat-unfused@main" and not ident.tiny
    assert clap_model.identify("official") == ident
    from huggingface_hub import constants

    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))  # hermetic: no real cache
    with pytest.raises(FileNotFoundError, match="omninft-serve fetch-weights --family clap"):
        clap_model.load("official")


def test_strict_loading_rejects_missing_keys(saved_tiny, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(saved_tiny, broken)
    sd = load_file(broken / "model.safetensors")
    sd.pop(next(k for k in sd if k.startswith("audio_projection.")))
    sd["not_a_real.weight"] = torch.zeros(1)
    save_file(sd, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(WeightsLoadError, match="missing_keys"):
        clap_model.load(str(broken))


def test_unsupported_front_end_is_refused(saved_tiny, tmp_path):
    import json
    import shutil

    other = tmp_path / "fusion"
    shutil.copytree(saved_tiny, other)
    cfg = json.loads((other / "preprocessor_config.json").read_text())
    cfg["truncation"] = "fusion"
    (other / "preprocessor_config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsLoadError, match="fusion"):
        clap_model.load(str(other))


# ------------------------------------------------------------------------------------------ scorer


def _hf_reference_score(
    model, tokenizer, wave_48k: np.ndarray, text: str, padding: str = "max_length"
) -> float:
    """JavisBench calc_clap_score with transformers 5 (`audio=` keyword), on an unambiguous <= 10 s clip.

    transformers 4.49 forwarded the reference's padding=True to the extractor, which then zero-pads; transformers
    5 maps True to the checkpoint default (repeatpad), so a non-repeat value ("max_length") stands in for it.
    """
    from transformers import ClapFeatureExtractor

    fe = ClapFeatureExtractor(
        frequency_min=50, frequency_max=14_000, truncation="rand_trunc", padding="repeatpad"
    )
    feats = fe(wave_48k, sampling_rate=SR, return_tensors="pt", padding=padding)
    enc = tokenizer(text, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **feats)
    return float(torch.nn.CosineSimilarity(dim=1, eps=1e-6)(out.text_embeds, out.audio_embeds).mean())


def test_registry_builds_a_scorer():
    s = registry.build("clap", ScorerConfig(max_batch_size=2))
    assert isinstance(s, Scorer)
    assert s.info.outputs == ("clap_score",) and s.info.embeddings == ("audio", "text")
    assert s.info.protocol == "javisbench-v1" and s.info.weights.tiny
    assert s.info.input_spec.audio_sample_rate == 48_000 and s.info.input_spec.modalities == (
        "audio",
        "audio_prompt",
    )
    out = s.postprocess(s.forward([s.preprocess(s.warmup_sample())])[0])
    assert -1.0 <= out.scores["clap_score"] <= 1.0


@pytest.mark.parametrize("seconds", [0.5, 4.0, 10.0])
def test_score_matches_transformers_reference(scorer, loaded, seconds):
    model, tokenizer, _ = loaded
    pcm = _noise(seconds, seed=int(seconds * 10))
    out = scorer.postprocess(
        scorer.forward([scorer.preprocess(_sample("s", pcm, prompt="rain on a roof"))])[0]
    )
    ref = _hf_reference_score(model, tokenizer, pcm[0], "rain on a roof")
    assert out.scores["clap_score"] == pytest.approx(ref, abs=1e-5)
    assert -1.0 <= out.scores["clap_score"] <= 1.0
    assert np.linalg.norm(out.embeddings["audio"]) == pytest.approx(1.0, abs=1e-5)


def _variant(loaded, protocol):
    from omninft.reward_servers.scorers.base import WeightsInfo

    model, tokenizer, ident = loaded
    return clap_scorer.ClapScorer(
        "clap",
        ScorerConfig(max_batch_size=4, protocol=protocol),
        backend=TorchBackend(clap_scorer.make_graphs(model, tokenizer)),
        tokenizer=tokenizer,
        weights=WeightsInfo(ident.weights_id, ident.sha256, ident.tiny),
        text_max_len=512,
    )


def test_repeatpad_variant_matches_the_checkpoint_default(loaded):
    model, tokenizer, _ = loaded
    s = _variant(loaded, "javisbench-v1-repeatpad")
    assert s.info.protocol == "javisbench-v1-repeatpad"
    pcm = _noise(3.0, seed=30)
    out = s.postprocess(s.forward([s.preprocess(_sample("s", pcm, prompt="rain on a roof"))])[0])
    ref = _hf_reference_score(model, tokenizer, pcm[0], "rain on a roof", padding="repeatpad")
    assert out.scores["clap_score"] == pytest.approx(ref, abs=1e-5)
    assert ref != pytest.approx(_hf_reference_score(model, tokenizer, pcm[0], "rain on a roof"), abs=1e-5)


def test_resampling_is_kaiser_best_by_default_and_soxr_as_variant(scorer, loaded):
    from omninft.reward_servers.functional.kaiser_resample import kaiser_resample
    from omninft.reward_servers.media import resample

    pcm = _noise(3.0, sr=16_000, seed=31)
    item = scorer.preprocess(_sample("k", pcm, sr=16_000))
    want = _log_mel(kaiser_resample(pcm[0], 16_000, SR), "zero")
    np.testing.assert_array_equal(item.features, want)
    soxr = _variant(loaded, "javisbench-v1-soxr").preprocess(_sample("k", pcm, sr=16_000))
    np.testing.assert_array_equal(soxr.features, _log_mel(resample(pcm[0], 16_000, SR), "zero"))
    assert not np.array_equal(soxr.features, item.features)
    with pytest.raises(ValueError, match="unknown protocol"):
        _variant(loaded, "javisbench-v2")


def _log_mel(wave: np.ndarray, pad: str) -> np.ndarray:
    from omninft.reward_servers.functional.audio import clap_log_mel

    return clap_log_mel(wave, 0, pad=pad)


def test_long_audio_crop_is_deterministic_and_matches_reference_on_the_crop(scorer, loaded):
    model, tokenizer, _ = loaded
    pcm = _noise(12.5, seed=5)
    item = scorer.preprocess(_sample("long", pcm))
    assert item.num_samples == pcm.shape[1] and 0 <= item.crop_offset <= pcm.shape[1] - 480_000
    assert scorer.preprocess(_sample("again", pcm)).crop_offset == item.crop_offset  # content-seeded
    assert clap_scorer.crop_offset_for(pcm[0], seed=1) != item.crop_offset  # the seed moves it
    score = scorer.postprocess(scorer.forward([item])[0]).scores["clap_score"]
    crop = pcm[0, item.crop_offset : item.crop_offset + 480_000]
    assert score == pytest.approx(_hf_reference_score(model, tokenizer, crop, "a dog barks"), abs=1e-5)


def test_batching_invariance(scorer):
    samples = [
        _sample("a", _noise(1.0, seed=1), prompt="a dog barks"),
        _sample("b", _noise(3.0, sr=16_000, channels=2, seed=2), prompt="thunder and heavy rain at night"),
        _sample("c", _noise(11.0, seed=3), prompt="x", audio_prompt="a violin"),
        _sample("d", np.zeros((1, 4800), np.float32), prompt="silence"),
        _sample("e", _noise(0.2, sr=22_050, seed=4), prompt="a dog barks"),
    ]
    items = [scorer.preprocess(s) for s in samples]
    batch = [scorer.postprocess(r) for r in scorer.forward(items)]
    for item, b in zip(items, batch, strict=True):
        scorer.text_cache.clear()
        single = scorer.postprocess(scorer.forward([item])[0])
        assert b.scores["clap_score"] == pytest.approx(single.scores["clap_score"], abs=1e-5)
        np.testing.assert_allclose(b.embeddings["audio"], single.embeddings["audio"], atol=1e-5)
        np.testing.assert_allclose(b.embeddings["text"], single.embeddings["text"], atol=1e-5)


def test_text_cache_gives_identical_results(scorer):
    scorer.text_cache.clear()
    items = [scorer.preprocess(_sample(str(i), _noise(0.5, seed=i), prompt="a dog barks")) for i in range(3)]
    first = scorer.forward(items)
    assert len(scorer.text_cache) == 1
    hits = scorer.text_cache.hits
    second = scorer.forward(items)
    assert scorer.text_cache.hits == hits + 3
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.text, b.text)
        np.testing.assert_array_equal(a.audio, b.audio)


def test_caption_falls_back_to_prompt(scorer):
    assert scorer.preprocess(_sample("a", _noise(0.1), prompt="p", audio_prompt="ap")).text == "ap"
    assert scorer.preprocess(_sample("b", _noise(0.1), prompt="p")).text == "p"


def test_silent_audio_is_scored(scorer):
    out = scorer.postprocess(
        scorer.forward([scorer.preprocess(_sample("z", np.zeros((2, SR), np.float32)))])[0]
    )
    assert np.isfinite(out.scores["clap_score"]) and -1.0 <= out.scores["clap_score"] <= 1.0


@pytest.mark.parametrize(
    "bad",
    [
        DecodedSample(id="no-audio", prompt="a dog"),
        _sample("empty", np.zeros((1, 0), np.float32)),
        _sample("nan", np.full((1, 100), np.nan, np.float32)),
        _sample("no-text", _noise(0.1), prompt="  "),
    ],
    ids=lambda s: s.id,
)
def test_invalid_samples(scorer, bad):
    with pytest.raises(InvalidSample):
        scorer.preprocess(bad)


def test_graphs_and_protocol_checks(loaded):
    model, tokenizer, _ = loaded
    graphs = clap_scorer.make_graphs(model, tokenizer)
    assert set(graphs) == {"audio", "text"}
    assert graphs["audio"].example_inputs["input_features"].shape[1:] == (1, 1001, 64)
    assert graphs["text"].dynamic_axes["input_ids"] == {1: "sequence"}
    graphs, info = clap_scorer.export_graphs("clap", ScorerConfig())
    assert set(graphs) == {"audio", "text"}
    assert info.weights_id == "tiny-random(seed=0)" and len(info.sha256) == 64
    with pytest.raises(ValueError, match="unknown protocol"):
        clap_scorer.ClapScorer(
            "clap",
            dataclasses.replace(ScorerConfig(), protocol="javisbench-v9"),
            backend=TorchBackend(graphs),
            tokenizer=tokenizer,
            weights=None,  # type: ignore[arg-type]
            text_max_len=512,
        )


def test_gather_time_resize_equals_torch_bicubic() -> None:
    import torch

    from omninft.reward_servers.models.clap.model import BicubicTimeResize

    x = torch.randn(2, 1, 1001, 64) * 20 - 50
    ref = torch.nn.functional.interpolate(x, (1024, 64), mode="bicubic", align_corners=True)
    torch.testing.assert_close(BicubicTimeResize(1001, 1024)(x), ref, atol=5e-5, rtol=1e-6)
