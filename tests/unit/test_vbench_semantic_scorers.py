"""The served VBench Semantic scorers without GRiT (scorers/vbench_{viclip,action,scene,style}.py) on tiny weights:
each equals an independent computation of its dimension on generated frames (the reference's frame sampling,
transforms and formula written out here), follows the runner's contract, and shares its model where the
reference uses one (ViCLIP for two dimensions, CLIP ViT-B/32 with background_consistency).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from omninft.bench.suites.vbench.dimensions import DIMENSIONS
from omninft.reward_servers.media import DecodedSample, DecodedVideo
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers._shared import shared_load, sharing
from omninft.reward_servers.scorers.base import InvalidSample, ScorerConfig

SEMANTIC_SCORERS = (
    "vbench_human_action",
    "vbench_scene",
    "vbench_appearance_style",
    "vbench_temporal_style",
    "vbench_overall_consistency",
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add contention on the shared CI cores
    yield
    torch.set_num_threads(before)


def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """t frames of smooth colour blobs drifting right (uint8 T x H x W x 3), different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    out = []
    for k in range(t):
        chans = [127.5 + 120 * np.sin((x + 2 * k) / (5 + 3 * c) + y / (7 + c) + phase[c]) for c in range(3)]
        out.append(np.stack(chans, -1))
    return np.clip(np.round(np.stack(out)), 0, 255).astype(np.uint8)


def _sample(frames: np.ndarray, prompt: str, sid: str = "v") -> DecodedSample:
    return DecodedSample(id=sid, prompt=prompt, video=DecodedVideo(frames, fps=8.0))


def _result(scorer, sample: DecodedSample) -> dict:
    out = scorer.forward([scorer.preprocess(sample)])[0]
    if isinstance(out, Exception):
        raise out
    res = scorer.postprocess(out)
    return res.embeddings if scorer.info.embeddings else res.scores


def _build(name: str, **options) -> object:
    return registry.build(name, ScorerConfig(weights="tiny", options=options))


def _middle_indices(n: int, vlen: int) -> list[int]:
    """get_frame_indices(n, vlen, 'middle') written out: segment middles, padded with the last index."""
    acc = min(n, vlen)
    edges = [int(e) for e in np.linspace(0, vlen, acc + 1)]
    idx = [(edges[k] + edges[k + 1] - 1) // 2 for k in range(acc)]
    return idx + [idx[-1]] * (n - acc)


def test_outputs_follow_the_runner_contract() -> None:
    for name in SEMANTIC_SCORERS:
        dim = DIMENSIONS[name.removeprefix("vbench_")]
        spec = registry.spec(name)
        assert dim.scorer == name
        assert (spec.embeddings if dim.rpc == "embed" else spec.outputs) == dim.wire_outputs
        assert spec.modalities == ("video", "prompt")  # the condition travels as the prompt


def test_frame_sampling_is_the_reference_rule() -> None:
    from omninft.reward_servers.scorers._vbench_conditioned import sampled

    frames = np.arange(48)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    assert list(sampled(frames.astype(np.uint8), 16)[:, 0, 0, 0]) == list(
        range(1, 48, 3)
    )  # §12: 1, 4, ..., 46
    assert list(sampled(frames[:17].astype(np.uint8), 8)[:, 0, 0, 0]) == [0, 2, 4, 6, 8, 10, 12, 15]
    assert list(sampled(frames[:5].astype(np.uint8), 8)[:, 0, 0, 0]) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert _middle_indices(8, 17) == [0, 2, 4, 6, 8, 10, 12, 15]


def test_an_empty_condition_fails_the_sample_alone() -> None:
    for name in ("vbench_temporal_style", "vbench_appearance_style"):
        with pytest.raises(InvalidSample, match="condition"):
            _build(name).preprocess(_sample(_frames(3, 32, 40), ""))


# ------------------------------------------------------------------------------------------------ ViCLIP


def test_temporal_style_equals_the_reference_loop_and_shares_viclip() -> None:
    """8 middle frames, clip_transform on uint8 (bicubic, clamp, round), ViCLIP, float32 L2-normalised cosine."""
    from omninft.reward_servers.models import viclip

    frames = _frames(13, 40, 52, seed=1)
    prompt = "a beautiful coastal beach in spring, waves lapping on sand, zoom in"
    with sharing():
        ts = _build("vbench_temporal_style")
        oc = _build("vbench_overall_consistency")
        shared, _tok, _w = shared_load(
            ("vbench-viclip", "tiny", 0, "cpu", None, None), lambda: (None, None, None)
        )
    assert shared is not None  # both scorers were built on the copy this key holds
    got_ts = _result(ts, _sample(frames, prompt))["temporal_style_video_results"]
    got_oc = _result(oc, _sample(frames, prompt))["overall_consistency_video_results"]
    assert got_ts == got_oc  # one procedure, one model

    model, tok, _ = viclip.load("tiny", 0)
    size = model.config.image_size
    x = torch.from_numpy(frames[_middle_indices(8, 13)]).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    nh, nw = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    x = torch.nn.functional.interpolate(x.float(), size=(nh, nw), mode="bicubic", align_corners=False)
    x = x.clamp(0, 255).round().to(torch.uint8)
    top, left = int(round((nh - size) / 2)), int(round((nw - size) / 2))
    x = x[:, :, top : top + size, left : left + size].float() / 255
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)
    with torch.no_grad():
        v = model.encode_video(((x - mean) / std)[None]).double().numpy()[0]
        t = model.encode_text(torch.from_numpy(tok([prompt]))).double().numpy()[0]
    want = float(v @ t / np.linalg.norm(v) / np.linalg.norm(t))
    assert got_ts == pytest.approx(want, rel=1e-5, abs=1e-6)
    other = _result(ts, _sample(frames, "a cat"))["temporal_style_video_results"]
    assert other != got_ts  # the prompt matters


# ------------------------------------------------------------------------------------------------ UMT


def _umt_scorer() -> tuple[object, object]:
    with sharing():
        scorer = _build("vbench_human_action")
        model, _ = shared_load(("vbench-umt", "tiny", 0, "cpu", None), lambda: (None, None))
    return scorer, model


def test_human_action_is_the_top5_sigmoid_rule_on_the_named_label() -> None:
    from omninft.reward_servers.models.umt import kinetics400_classes

    classes = kinetics400_classes()
    scorer, model = _umt_scorer()
    frames = _frames(20, 40, 48, seed=2)
    assert _result(scorer, _sample(frames, "juggling balls"))["human_action_video_results"] == 0.0  # p ~ 0.5
    target = classes.index("juggling balls")
    with torch.no_grad():
        model.head.bias[target] = 5.0  # sigmoid ~ 0.993: in the top 5 and above 0.85
    assert _result(scorer, _sample(frames, "juggling balls"))["human_action_video_results"] == 1.0
    assert _result(scorer, _sample(frames, "riding a bike"))["human_action_video_results"] == 0.0
    with torch.no_grad():
        model.head.bias[target] = 1.7  # sigmoid 0.8455...: top 1, but below 0.85 after rounding
    assert _result(scorer, _sample(frames, "juggling balls"))["human_action_video_results"] == 0.0
    with torch.no_grad():
        model.head.bias[[classes.index(c) for c in classes[:5]]] = 9.0  # five stronger classes push it out
        model.head.bias[target] = 5.0
    assert _result(scorer, _sample(frames, "juggling balls"))["human_action_video_results"] == 0.0


def test_human_action_input_is_umts_transform_of_16_middle_frames() -> None:
    from omninft.reward_servers.models.umt import umt_clip
    from omninft.reward_servers.scorers.vbench_action import resize_for

    assert resize_for(224) == 256 and resize_for(32) == 37
    scorer, _ = _umt_scorer()
    frames = _frames(7, 36, 44, seed=3)  # shorter than 16: the last index repeats
    item = scorer.preprocess(_sample(frames, "juggling balls"))
    want = umt_clip(frames[_middle_indices(16, 7)], 37, 32)
    assert item.extra.data.shape == (3, 16, 32, 32)
    np.testing.assert_array_equal(item.extra.data.numpy(), want)


def test_human_action_unknown_label_is_a_named_per_video_error() -> None:
    scorer, _ = _umt_scorer()
    with pytest.raises(InvalidSample, match="'flying a kite badly'.*not a Kinetics-400 class"):
        scorer.preprocess(_sample(_frames(4, 32, 32), "flying a kite badly"))
    lenient = _build("vbench_human_action", unknown_label="incorrect")  # the reference's silent wrong answer
    assert _result(lenient, _sample(_frames(4, 32, 32), "flying a kite badly")) == {
        "human_action_video_results": 0.0
    }


# ------------------------------------------------------------------------------------------------ Tag2Text


def test_scene_captions_one_video_per_generate_call_and_counts_the_substring_rule() -> None:
    from omninft.reward_servers.functional.vbench_semantic import scene_frame_success
    from omninft.reward_servers.models import tag2text

    frames = _frames(21, 30, 50, seed=4)
    model, tok, _, _ = tag2text.load("tiny", 0)
    size = model.config.swin.image_size
    images = torch.from_numpy(tag2text.tag2text_frames(frames[_middle_indices(16, 21)], size))
    captions = tag2text.generate(model, tok, images).captions  # the 16 frames in one batch, as scene.py
    assert len(captions) == 16
    words = sorted({w for c in captions for w in c.split()})
    assert words, captions
    label = f"{words[0]} {words[-1]}"
    want = sum(scene_frame_success(c, label) for c in captions)
    scorer = _build("vbench_scene")
    got = _result(scorer, _sample(frames, label))
    assert got == {"scene_success_frame_count": float(want), "scene_frame_count": 16.0}
    assert want >= 1  # the label's words were taken from the captions
    nowhere = _result(scorer, _sample(frames, "zzqx"))
    assert nowhere["scene_success_frame_count"] == 0.0


def test_scene_protocols() -> None:
    assert registry.spec("vbench_scene").protocols == ("vbench-v1", "vbench-v1-tag2text-corrected")
    scorer = registry.build(
        "vbench_scene", ScorerConfig(weights="tiny", protocol="vbench-v1-tag2text-corrected")
    )
    assert scorer.info.protocol == "vbench-v1-tag2text-corrected"
    assert _result(scorer, _sample(_frames(16, 24, 24), "street"))["scene_frame_count"] == 16.0


# ------------------------------------------------------------------------------------------------ CLIP style


def test_appearance_style_frames_are_pils_bicubic_path() -> None:
    """clip_transform_Image(224) with Pillow itself: Resize(short side, BICUBIC), CenterCrop, ToTensor, Normalize."""
    from PIL import Image

    from omninft.reward_servers.scorers.vbench_style import clip_image_frames

    frames = _frames(2, 37, 61, seed=5)
    got = clip_image_frames(frames, 24)
    for i, f in enumerate(frames):
        img = Image.fromarray(f)
        w = int(24 * 61 / 37)
        img = img.resize((w, 24), Image.Resampling.BICUBIC)
        left = int(round((w - 24) / 2.0))
        arr = np.asarray(img.crop((left, 0, left + 24, 24)), dtype=np.float32) / np.float32(255)
        arr = (arr - np.float32([0.48145466, 0.4578275, 0.40821073])) / np.float32(
            [0.26862954, 0.26130258, 0.27577711]
        )
        np.testing.assert_array_equal(got[i], arr.transpose(2, 0, 1))


def test_appearance_style_equals_clip_forward_per_frame_and_shares_clip_b32() -> None:
    """Per frame: CLIPModel(input_ids, pixel_values).logits_per_text / 100 (transformers' own forward)."""
    from omninft.reward_servers.scorers.vbench_style import clip_image_frames

    with sharing():
        style = _build("vbench_appearance_style")
        _build("vbench_background_consistency")
        model, hf_tok, _ = shared_load(
            ("vbench-clip-b32-model", "tiny", 0, "cpu", "fp32", None), lambda: (None, None, None)
        )
    assert model is not None and hf_tok is not None
    frames = _frames(5, 40, 48, seed=6)
    got = _result(style, _sample(frames, "pixel art"))["frame_results"]
    assert got.dtype == np.float64 and got.shape == (5,)
    ids = hf_tok("pixel art")["input_ids"]
    row = torch.zeros(1, 77, dtype=torch.long)
    row[0, : len(ids)] = torch.tensor(ids)  # clip.tokenize: SOT ... EOT then zeros
    pixels = torch.from_numpy(clip_image_frames(frames, model.config.vision_config.image_size))
    with torch.no_grad():
        want = [
            float(model(input_ids=row, pixel_values=pixels[i : i + 1]).logits_per_text[0, 0]) / 100
            for i in range(5)
        ]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    batched = _result(_build("vbench_appearance_style", image_batch_size=4), _sample(frames, "pixel art"))
    np.testing.assert_allclose(batched["frame_results"], got, rtol=1e-5, atol=1e-7)


def test_appearance_style_refuses_a_text_clip_cannot_tokenize() -> None:
    with pytest.raises(InvalidSample, match="more than CLIP's 77"):
        _build("vbench_appearance_style").preprocess(_sample(_frames(2, 32, 32), " ".join(["painting"] * 90)))
