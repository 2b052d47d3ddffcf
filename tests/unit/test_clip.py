"""CLIP: tiny tokenizer and model, strict loading of the official layout, and the scorer end to end."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.functional.sampling import javisbench_frame_indices
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.models import clip as clip_model
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models.tiny_tokenizers import tiny_clip_tokenizer
from omninft.reward_servers.scorers import clip as clip_scorer
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, WeightsInfo
from omninft.reward_servers.weights import ENV_WEIGHTS_DIR


def _frames(t: int, h: int = 72, w: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth random colour fields (so channel order matters) with per-frame noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * x + 1.0), np.cos(2 * y), x * y], axis=-1)
    out = [
        (base + 0.2 * rng.standard_normal((1, 1, 3)) + 0.05 * rng.standard_normal((h, w, 3)))
        for _ in range(t)
    ]
    return (np.clip(np.stack(out), -1, 1) * 127.5 + 127.5).astype(np.uint8)


def _sample(sid: str, frames: np.ndarray, prompt: str = "a red car drives on a road") -> DecodedSample:
    return DecodedSample(id=sid, prompt=prompt, video=DecodedVideo(frames, fps=16.0))


@pytest.fixture(scope="module")
def loaded():
    return clip_model.load("tiny", seed=0)


def _make_scorer(loaded, **cfg_kwargs) -> clip_scorer.ClipScorer:
    model, tokenizer, ident = loaded
    cfg = ScorerConfig(max_batch_size=4, **cfg_kwargs)
    return clip_scorer.ClipScorer(
        "clip",
        cfg,
        backend=TorchBackend(clip_scorer.make_graphs(model, tokenizer)),
        tokenizer=tokenizer,
        weights=WeightsInfo(ident.weights_id, ident.sha256, ident.tiny),
        image_size=224,
        text_max_len=77,
    )


@pytest.fixture(scope="module")
def scorer(loaded):
    return _make_scorer(loaded)


@pytest.fixture(scope="module")
def saved_tiny(loaded, tmp_path_factory):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    model, tokenizer, _ = loaded
    d = tmp_path_factory.mktemp("clip-tiny")
    model.save_pretrained(d)
    tokenizer.save_pretrained(d)
    CLIPImageProcessorPil().save_pretrained(d)
    return d


# ------------------------------------------------------------------------------------------ tokenizer / model


def test_tiny_tokenizer_matches_the_clip_layout():
    tok = tiny_clip_tokenizer()
    n = len(tok)
    assert (tok.bos_token_id, tok.eos_token_id) == (n - 2, n - 1)
    assert tok.pad_token_id == tok.eos_token_id == tok.unk_token_id
    ids = tok("A DOG  Barks!")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "a dog barks !"  # lower-cased, CLIP word split
    long = tok(" ".join(["word"] * 200), truncation=True, max_length=77)["input_ids"]
    assert len(long) == 77 and long[0] == tok.bos_token_id and long[-1] == tok.eos_token_id
    assert tiny_clip_tokenizer().get_vocab() == tok.get_vocab()


def test_tiny_model_contract_and_round_trip(loaded, saved_tiny):
    model, _, ident = loaded
    vc = model.config.vision_config
    assert (vc.image_size, vc.patch_size, model.config.text_config.max_position_embeddings) == (224, 32, 77)
    again, _, ident2 = clip_model.load(str(saved_tiny))
    assert not ident2.tiny and ident.tiny
    sd, sd2 = model.state_dict(), again.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        torch.testing.assert_close(sd[k], sd2[k], rtol=0, atol=0)


def test_official_resolves_from_weights_dir_and_strictness(saved_tiny, tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    staged = tmp_path / "hf" / "openai" / "clip-vit-base-patch32"
    shutil.copytree(saved_tiny, staged)
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    _, _, ident = clip_model.load("official")
    assert ident.weights_id == "hf:openai/clip-vit-base-patch32@main"
    sd = load_file(staged / "model.safetensors")
    sd["text_projection.weight"] = torch.zeros(3, 3)  # wrong shape
    save_file(sd, staged / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(WeightsLoadError, match="mismatched_keys"):
        clip_model.load("official")


def test_wrong_model_type_is_refused(tmp_path):
    from omninft.reward_servers.models import clap as clap_model

    model, tok, _ = clap_model.load("tiny")
    model.save_pretrained(tmp_path)
    with pytest.raises(WeightsLoadError, match="'clap' model"):
        clip_model.load(str(tmp_path))


# ------------------------------------------------------------------------------------------ scorer


def _hf_reference_score(loaded, frames_rgb: np.ndarray, prompt: str, *, bgr: bool) -> float:
    """JavisBench calc_clip_score with the HF processor/model: 48 linspace frames, optional BGR swap."""
    from PIL import Image
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    model, tokenizer, _ = loaded
    idx = javisbench_frame_indices(frames_rgb.shape[0], 48)
    picked = frames_rgb[idx][..., ::-1] if bgr else frames_rgb[idx]
    pixels = CLIPImageProcessorPil()(
        images=[Image.fromarray(np.ascontiguousarray(f)) for f in picked], return_tensors="pt"
    )
    enc = tokenizer([prompt], truncation=True, max_length=77, return_tensors="pt")
    with torch.inference_mode():
        img = model.get_image_features(pixel_values=pixels["pixel_values"]).pooler_output
        txt = model.get_text_features(**enc).pooler_output
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    return float((img @ txt.T).mean())


def test_registry_builds_a_scorer():
    s = registry.build("clip", ScorerConfig(max_batch_size=2))
    assert isinstance(s, Scorer)
    assert s.info.outputs == ("clip_score",) and s.info.embeddings == ("video", "text")
    spec = s.info.input_spec
    assert (spec.video_frames, spec.image_size, spec.video_fps) == (48, 224, 0.0)
    out = s.postprocess(s.forward([s.preprocess(s.warmup_sample())])[0])
    assert -1.0 <= out.scores["clip_score"] <= 1.0


@pytest.mark.parametrize("protocol", ["javisbench-v1", "javisbench-v1-rgb"])
def test_score_matches_hf_reference(loaded, protocol):
    s = _make_scorer(loaded, protocol=protocol)
    frames = _frames(20, 72, 128, seed=1)  # 72x128 -> 224x398, crop margin 174 (both crop rules agree)
    out = s.postprocess(s.forward([s.preprocess(_sample("v", frames, "A red car"))])[0])
    ref = _hf_reference_score(loaded, frames, "A red car", bgr=protocol == "javisbench-v1")
    assert out.scores["clip_score"] == pytest.approx(ref, abs=1e-5)


def test_bgr_and_rgb_protocols_differ(loaded, scorer):
    rgb = _make_scorer(loaded, protocol="javisbench-v1-rgb")
    sample = _sample("v", _frames(6, seed=2))
    a = scorer.postprocess(scorer.forward([scorer.preprocess(sample)])[0]).scores["clip_score"]
    b = rgb.postprocess(rgb.forward([rgb.preprocess(sample)])[0]).scores["clip_score"]
    assert scorer.info.protocol == "javisbench-v1" and rgb.info.protocol == "javisbench-v1-rgb"
    assert abs(a - b) > 1e-4


def test_short_clip_repeats_frames(scorer):
    item = scorer.preprocess(_sample("short", _frames(5, seed=3)))
    assert item.frames.shape == (48, 224, 224, 3)
    assert item.frame_indices.tolist()[:4] == [0, 0, 0, 0] and item.frame_indices[-1] == 4
    np.testing.assert_array_equal(item.frames[0], item.frames[1])


def test_batching_invariance_and_chunking(loaded, scorer):
    samples = [
        _sample("a", _frames(7, 72, 128, seed=4), "a red car"),
        _sample("b", _frames(3, 50, 40, seed=5), "a dog runs on green grass in the park"),
        _sample("c", _frames(9, 64, 64, seed=6), "a red car"),
    ]
    items = [scorer.preprocess(s) for s in samples]
    batch = [scorer.postprocess(r) for r in scorer.forward(items)]
    chunked = _make_scorer(loaded, options={"image_batch_size": 20})
    small = [chunked.postprocess(r) for r in chunked.forward(items)]
    for item, b, c in zip(items, batch, small, strict=True):
        scorer.text_cache.clear()
        single = scorer.postprocess(scorer.forward([item])[0])
        for other in (b, c):
            assert other.scores["clip_score"] == pytest.approx(single.scores["clip_score"], abs=1e-5)
            np.testing.assert_allclose(other.embeddings["video"], single.embeddings["video"], atol=1e-5)
        # the video embedding is the mean of normalised frames, so its dot with the text is the score
        dot = float(b.embeddings["video"].astype(np.float64) @ b.embeddings["text"])
        assert dot == pytest.approx(b.scores["clip_score"], abs=1e-5)


def test_text_cache_gives_identical_results(scorer):
    scorer.text_cache.clear()
    items = [scorer.preprocess(_sample(str(i), _frames(2, 32, 32, seed=i), "same prompt")) for i in range(3)]
    first = [scorer.postprocess(r).scores for r in scorer.forward(items)]
    assert len(scorer.text_cache) == 1
    second = [scorer.postprocess(r).scores for r in scorer.forward(items)]
    assert first == second


@pytest.mark.parametrize(
    "bad",
    [
        DecodedSample(id="no-video", prompt="a car"),
        _sample("no-frames", np.zeros((0, 8, 8, 3), np.uint8)),
        _sample("no-prompt", _frames(2, 16, 16), prompt=""),
        _sample("float-frames", np.zeros((2, 8, 8, 3), np.float32)),
    ],
    ids=lambda s: s.id,
)
def test_invalid_samples(scorer, bad):
    with pytest.raises(InvalidSample):
        scorer.preprocess(bad)


def test_graphs_and_protocol_checks(loaded):
    model, tokenizer, _ = loaded
    graphs = clip_scorer.make_graphs(model, tokenizer)
    assert set(graphs) == {"image", "text"}
    assert graphs["image"].example_inputs["pixel_values"].shape[1:] == (3, 224, 224)
    graphs, info = clip_scorer.export_graphs("clip", ScorerConfig())
    assert set(graphs) == {"image", "text"} and info.tiny
    with pytest.raises(ValueError, match="unknown protocol"):
        _make_scorer(loaded, protocol="javisbench-v2")
    assert (
        dataclasses.replace(ScorerConfig(), options={"image_batch_size": 7}).options["image_batch_size"] == 7
    )
    assert clip_scorer.image_batch_size(ScorerConfig(options={"image_batch_size": 7})) == 7
