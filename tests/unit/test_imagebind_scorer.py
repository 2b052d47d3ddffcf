"""ImageBind scorers (tiny weights): scores equal the model's official calling convention, per-sample failures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.functional import imagebind_clips as C
from omninft.reward_servers.functional.image import resize_shortest_edge_center_crop, to_normalized_chw
from omninft.reward_servers.functional.sync_frontend import sinc_resample
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo, resample
from omninft.reward_servers.models import imagebind as ib
from omninft.reward_servers.scorers import imagebind as S
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers._common import even_splits
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, WeightsInfo


@pytest.fixture(scope="module")
def loaded():
    return ib.load("tiny", seed=0)


@pytest.fixture(scope="module")
def scorers(loaded):
    model, tok, ident = loaded
    winfo = WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)
    cfg = ScorerConfig(max_batch_size=4, options={"clip_batch_size": 8})
    main = S.ImageBindScorer(
        "imagebind", cfg, backend=TorchBackend(S.make_graphs(model)), tokenizer=tok, weights=winfo
    )
    avh = S.ImageBindAvhScorer(
        "imagebind_avh", cfg, backend=TorchBackend(S.make_graphs(model, text=False)), weights=winfo
    )
    return main, avh


def _sample(
    sid: str, seconds: float = 2.5, fps: float = 4.0, seed: int = 0, sr: int = 22_050, **kw
) -> DecodedSample:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (int(round(seconds * fps)), 36, 48, 3), dtype=np.uint8)
    pcm = (rng.standard_normal((2, int(seconds * sr))) * 0.1).astype(np.float32)
    return DecodedSample(
        sid,
        kw.get("prompt", "a dog barks in the rain"),
        kw.get("audio_prompt", "barking"),
        DecodedVideo(frames, fps),
        DecodedAudio(pcm, sr),
    )


def _sinc_16k(s: DecodedSample) -> np.ndarray:
    """Each channel resampled as the reference's torchaudio.functional.resample (re-implemented, tested there)."""
    return np.stack([sinc_resample(ch, s.audio.sample_rate, 16_000) for ch in s.audio.pcm])


def test_audio_is_resampled_like_torchaudio_not_soxr() -> None:
    s = _sample("a")
    wave = S.audio_16k(s, "imagebind")
    assert wave.shape == (2, 40_000) and np.array_equal(wave, _sinc_16k(s))
    assert not np.allclose(wave, resample(s.audio.pcm, s.audio.sample_rate, 16_000), atol=1e-4)
    same = S.audio_16k(dataclasses.replace(s, audio=DecodedAudio(s.audio.pcm, 16_000)), "imagebind")
    assert np.array_equal(same, s.audio.pcm)  # 16 kHz input untouched


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1, eps=1e-6).mean())


def test_registry_builds_both_with_a_banner(caplog: pytest.LogCaptureFixture) -> None:
    for name, outputs in (
        ("imagebind", ("ib_tv", "ib_ta", "ib_av")),
        ("imagebind_avh", ("avh_score", "javis_score")),
    ):
        with caplog.at_level("WARNING"):
            scorer = registry.build(name, ScorerConfig(weights="tiny", max_batch_size=2))
        assert isinstance(scorer, Scorer)
        assert scorer.info.outputs == outputs and scorer.info.protocol == "javisbench-v1"
        assert scorer.info.weights.tiny and scorer.info.model_family == "imagebind"
        assert f"scorer {name} runs RANDOM IMAGEBIND WEIGHTS" in caplog.text
    with pytest.raises(ValueError, match="unknown protocol"):
        registry.build("imagebind", ScorerConfig(weights="tiny", protocol="vbench"))


def test_ib_scores_equal_the_official_composition(loaded, scorers) -> None:
    model, tok, _ = loaded
    scorer = scorers[0]
    s = _sample("a")
    out = scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0])
    wave = _sinc_16k(s)
    inputs = {
        "vision": torch.from_numpy(C.video_clips(s.video.frames, s.video.fps))[None],
        "audio": torch.from_numpy(C.audio_clips(wave))[None],
        "text": torch.from_numpy(tok([s.prompt, s.audio_prompt])),
    }
    with torch.no_grad():
        e = model(inputs)
    assert out.scores["ib_tv"] == pytest.approx(_cos(e["text"][0], e["vision"][0]), abs=1e-5)
    assert out.scores["ib_ta"] == pytest.approx(_cos(e["text"][1], e["audio"][0]), abs=1e-5)
    assert out.scores["ib_av"] == pytest.approx(_cos(e["audio"][0], e["vision"][0]), abs=1e-5)
    assert set(out.embeddings) == {"video", "audio", "text"}
    assert float(np.linalg.norm(out.embeddings["text"])) == pytest.approx(1.0, abs=1e-5)


def test_avh_and_javis_equal_the_reference_composition(loaded, scorers) -> None:
    model, _, _ = loaded
    scorer = scorers[1]
    s = _sample("a")
    out = scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0])
    frames = resize_shortest_edge_center_crop(s.video.frames, 224, 224, rounding="round")
    wave = _sinc_16k(s)
    win = C.javis_windows(
        10, 4.0, wave.shape[1]
    )  # window 8 frames, stride 2 -> (0, 8), (2, 10); audio 2 windows
    assert win.video == [(0, 8), (2, 10)] and len(win.audio) == 2
    with torch.no_grad():
        f = model({"vision": torch.from_numpy(to_normalized_chw(frames))})["vision"]  # images (T, 3, H, W)
        a = model({"audio": torch.from_numpy(C.audio_clips(wave))[None]})["audio"]
        wa = model({"audio": torch.from_numpy(C.window_audio_clips(wave, win.audio))})["audio"]
    avh = float(torch.nn.functional.cosine_similarity(f, a, eps=1e-6).mean())
    idx = torch.tensor([list(range(x, y)) for x, y in win.video])
    grid = torch.nn.functional.cosine_similarity(f[idx], wa[:, None], dim=-1, eps=1e-6)  # (2, 8)
    lowest = torch.topk(grid, int(8 * 0.4), dim=1, largest=False).values
    assert out.scores["avh_score"] == pytest.approx(avh, abs=1e-5)
    assert out.scores["javis_score"] == pytest.approx(float(lowest.mean(1).mean()), abs=1e-5)


def test_batching_does_not_change_scores_and_prompts_are_cached(scorers) -> None:
    scorers[0].text_cache.clear()
    for scorer in scorers:
        samples = [
            _sample("a", seed=1, seconds=2.0, prompt="same words", audio_prompt="same words"),
            _sample("b", seed=2, fps=3.0, prompt="same words", audio_prompt=""),
        ]
        items = [scorer.preprocess(s) for s in samples]
        together = [scorer.postprocess(r).scores for r in scorer.forward(items)]
        alone = [scorer.postprocess(scorer.forward([it])[0]).scores for it in items]
        for t, a in zip(together, alone, strict=True):
            assert t == pytest.approx(a, abs=1e-6)
    assert len(scorers[0].text_cache) == 1  # one distinct prompt (audio_prompt falls back to prompt)


def test_bad_samples_fail_with_clear_reasons(scorers) -> None:
    main, avh = scorers
    good = _sample("a")
    cases = [
        (main, DecodedSample("x", "", video=good.video, audio=good.audio), "prompt"),
        (main, DecodedSample("x", "p", video=good.video), "needs audio"),
        (avh, DecodedSample("x", "p", audio=good.audio), "needs video"),
        (
            avh,
            DecodedSample(
                "x", "p", video=good.video, audio=DecodedAudio(np.full((1, 4000), np.nan, np.float32), 16_000)
            ),
            "NaN",
        ),
        (
            avh,
            DecodedSample(
                "x", "p", video=good.video, audio=DecodedAudio(np.zeros((1, 300), np.float32), 16_000)
            ),
            "25 ms",
        ),
        (
            main,
            DecodedSample("x", "p", video=DecodedVideo(good.video.frames, 0.0), audio=good.audio),
            "frame rate",
        ),
    ]
    for scorer, sample, reason in cases:
        with pytest.raises(InvalidSample, match=reason):
            scorer.preprocess(sample)


def test_javis_nan_case_is_invalid_not_zero(scorers) -> None:
    # 2 frames at 1 fps: a single window of N = 2 frames, k = int(0.8) = 0 -> the reference returns NaN
    s = _sample("a", seconds=2.0, fps=1.0)
    with pytest.raises(InvalidSample, match=r"int\(0.4 x 2\) = 0"):
        scorers[1].preprocess(s)
    assert scorers[0].preprocess(s).video.shape == (15, 3, 2, 224, 224)  # the IB scores are still defined


def test_weights_file_and_bpe_file_load_through_the_registry(loaded, scorers, tmp_path) -> None:
    import gzip

    from omninft.reward_servers.weights import sha256_file

    model, _, _ = loaded
    path = tmp_path / "imagebind_tiny.pth"
    torch.save({**model.state_dict(), "modality_preprocessors.depth.cls_token": torch.zeros(1, 1, 4)}, path)
    bpe = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2\nd o\nb a\n")
    cfg = ScorerConfig(
        weights=str(path), max_batch_size=2, options={"architecture": "tiny", "tokenizer": str(bpe)}
    )
    scorer = registry.build("imagebind", cfg)
    assert not scorer.info.weights.tiny and scorer.info.weights.sha256 == sha256_file(path)
    assert scorer.tokenizer.vocab_size == 516
    s = _sample("a", seconds=2.0)
    got = scorer.postprocess(scorer.forward([scorer.preprocess(s)])[0]).scores
    ref = scorers[0].postprocess(scorers[0].forward([scorers[0].preprocess(s)])[0]).scores
    assert got["ib_av"] == pytest.approx(
        ref["ib_av"], abs=1e-6
    )  # same weights; the prompts tokenise differently


def test_cpu_runs_even_per_item_calls_so_no_padded_rows(loaded) -> None:
    # run_chunked pads every call to the chunk size (bit-identical rows); on a CPU each item's clips go in their
    # own even calls of at most 8 rows instead, so the scorer computes exactly the sample's clips, and a row's
    # call never depends on the other items of the batch. A GPU keeps padded 32-row cross-item calls.
    model, tok, ident = loaded
    winfo = WeightsInfo(ident.weights_id, ident.sha256, ident.tiny)
    assert S.clip_batch_size(ScorerConfig(device="cpu")) == 8
    assert S.clip_batch_size(ScorerConfig(device="cuda:0")) == 32
    assert S.clip_batch_size(ScorerConfig(device="cpu", options={"clip_batch_size": 2})) == 2
    calls: dict[str, list[int]] = {}

    class Counting(TorchBackend):
        def run(self, graph, inputs):
            calls.setdefault(graph, []).append(next(iter(inputs.values())).shape[0])
            return super().run(graph, inputs)

    cfg = ScorerConfig(max_batch_size=4, options={"clip_batch_size": 2})
    scorer = S.ImageBindScorer(
        "imagebind", cfg, backend=Counting(S.make_graphs(model)), tokenizer=tok, weights=winfo
    )
    a, b = scorer.preprocess(_sample("s0")), scorer.preprocess(_sample("s1", seed=5))
    (alone,) = scorer.forward([a])
    assert sum(calls["vision"]) == a.video.shape[0] and max(calls["vision"]) <= 2
    assert sum(calls["audio"]) == a.audio.shape[0] and calls["text"] == [1, 1]
    together = scorer.forward([b, a])
    for field in ("video", "audio", "text", "audio_text"):  # bit-identical whatever shares the batch
        assert np.array_equal(getattr(together[1], field), getattr(alone, field))


def test_even_splits_cover_rows_in_near_equal_calls() -> None:
    for n in range(0, 40):
        for k in (1, 2, 3, 8):
            spans = even_splits(n, k)
            sizes = [e - s for s, e in spans]
            assert [s for s, _ in spans] == [0, *[e for _, e in spans[:-1]]][: len(spans)] and sum(sizes) == n
            assert len(spans) == -(-n // k) and (
                not sizes or max(sizes) - min(sizes) <= 1 and max(sizes) <= k
            )
