"""I3D for FVD/KVD: JavisBench frame sampling and letterbox, the official key layout, and the embedder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.functional.i3d_frames import (
    i3d_clip_input,
    i3d_frame_indices,
    javisbench_pixel_quirk,
    letterbox_geometry,
    resize_and_pad,
)
from omninft.reward_servers.media import DecodedAudio, DecodedSample, DecodedVideo
from omninft.reward_servers.models import i3d as i3d_model
from omninft.reward_servers.models._family import official_spec
from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.scorers import i3d as i3d_scorer
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import InvalidSample, Scorer, ScorerConfig, WeightsInfo
from omninft.reward_servers.weights import _url_target

# sha256 over sorted "key:shape" lines of InceptionI3d(400).state_dict() in JavisBench's pytorch_i3d.py.
OFFICIAL_MANIFEST = "e656f470803caaf5f8dcb12e8009c745eb4cc2cfe780bcd814ccd52bf517c8e9"
BAR = 2 * 127 / 255 - 1  # what I3D sees in the letterbox bars (uint8 127 after the quirk)


def _manifest(sd: dict) -> str:
    return hashlib.sha256(
        "".join(f"{k}:{tuple(v.shape)}\n" for k, v in sorted(sd.items())).encode()
    ).hexdigest()


def _clip(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def loaded():
    return i3d_model.load("tiny", seed=0)


@pytest.fixture(scope="module")
def embedder(loaded):
    model, ident = loaded
    cfg = ScorerConfig(max_batch_size=2, options={"max_frames": 10})
    return i3d_scorer.I3DEmbedder(
        "i3d",
        cfg,
        backend=TorchBackend(i3d_scorer.make_graphs(model, 10)),
        weights=WeightsInfo(ident.weights_id, ident.sha256, ident.tiny),
    )


# ------------------------------------------------------------------------------------------ preprocessing


def test_frame_indices_hand_computed():
    assert i3d_frame_indices(10, 4).tolist() == [0, 3, 6, 9]
    # linspace(0, 2, 5) = 0, .5, 1, 1.5, 2 -> round half to even
    assert i3d_frame_indices(3, 5).tolist() == [0, 0, 1, 2, 2]
    assert i3d_frame_indices(1, 24).tolist() == [0] * 24
    idx = i3d_frame_indices(100, 24)
    assert len(idx) == 24 and idx[0] == 0 and idx[-1] == 99 and idx[1] == 4 and idx[2] == 9
    with pytest.raises(ValueError):
        i3d_frame_indices(0, 24)


@pytest.mark.parametrize(
    ("h", "w", "expected"),
    [
        (240, 426, (126, 224, 49, 0)),  # int(224 * 240 / 426) = 126: 49-px bars top and bottom
        (426, 240, (224, 126, 0, 49)),
        (100, 100, (224, 224, 0, 0)),
        (33, 100, (73, 224, 75, 0)),  # int(73.92) = 73; 151 px of padding: 75 top, 76 bottom
        (101, 37, (224, 82, 0, 71)),  # int(224 * 37 / 101) = int(82.06) = 82
    ],
)
def test_letterbox_geometry_hand_computed(h, w, expected):
    assert letterbox_geometry(h, w) == expected


def test_letterbox_too_elongated_is_rejected():
    with pytest.raises(ValueError, match="elongated"):
        letterbox_geometry(1, 300)


def test_resize_and_pad_places_content_and_zero_bars():
    img = torch.full((3, 33, 100), 0.5)
    out = resize_and_pad(img)
    assert out.shape == (3, 224, 224)
    assert torch.all(out[:, :75] == 0) and torch.all(out[:, 75 + 73 :] == 0)
    assert torch.allclose(out[:, 75 : 75 + 73], torch.tensor(0.5), atol=1e-6)
    same = torch.rand(3, 224, 224)
    assert torch.equal(resize_and_pad(same), same)  # equal size: untouched, as torchvision's Resize


def test_resize_is_antialiased_bilinear_like_pillow():
    from PIL import Image

    img = np.random.default_rng(0).random((240, 426)).astype(np.float32)
    out = resize_and_pad(torch.from_numpy(img)[None])[0].numpy()
    ref = np.asarray(Image.fromarray(img, mode="F").resize((224, 126), Image.BILINEAR))
    np.testing.assert_allclose(out[49 : 49 + 126], ref, atol=2e-5)


def test_pixel_quirk_maps_unit_range_to_upper_half_of_uint8():
    x = torch.tensor([0.0, 0.001, 0.5, 1.0])
    assert javisbench_pixel_quirk(x).tolist() == [127, 127, 191, 255]


def test_clip_input_layout_and_value_range():
    frames = np.zeros((7, 240, 426, 3), dtype=np.uint8)
    frames[:, :, :, 0] = 255  # red content
    x = i3d_clip_input(frames, max_frames=10)
    assert x.shape == (3, 10, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, :, :49], BAR, atol=1e-7)  # bars
    # red content: 255 -> 1.0, or 254 where the antialiased resize of 1.0 lands a hair below 1 (uint8 truncates)
    np.testing.assert_allclose(x[0, :, 49:175], 1.0, atol=2 / 255 + 1e-6)
    np.testing.assert_allclose(x[1, :, 49:175], BAR, atol=1e-6)  # black channels look like the bars
    assert x.min() >= BAR - 1e-7 and x.max() <= 1.0


def test_clip_input_samples_the_frames_linspace_picks():
    frames = np.zeros((5, 16, 16, 3), dtype=np.uint8)
    for t in range(5):
        frames[t] = t * 50
    x = i3d_clip_input(frames, max_frames=9)  # linspace(0, 4, 9) -> 0 0 1 2 2 2 3 4 4 (half to even)
    levels = ((np.round((x[0, :, 112, 112] / 2 + 0.5) * 255)) - 127.5) / 127.5 * 255  # undo the chain
    assert np.round(levels / 50).astype(int).tolist() == [0, 0, 1, 2, 2, 2, 3, 4, 4]


# ------------------------------------------------------------------------------------------ model


def test_full_size_layout_matches_official_manifest():
    model = i3d_model.build(i3d_model.I3DConfig.official())
    sd = model.state_dict()
    assert len(sd) == 344 and sum(p.numel() for p in model.parameters()) == 12_697_264
    assert _manifest(sd) == OFFICIAL_MANIFEST


def test_tiny_has_same_topology_and_is_deterministic(loaded):
    model, ident = loaded
    assert set(model.state_dict()) == set(i3d_model.build().state_dict()) and ident.tiny
    assert sum(p.numel() for p in model.parameters()) < 300_000
    assert (
        i3d_model.identify("tiny", seed=0) == ident
        and i3d_model.identify("tiny", seed=1).sha256 != ident.sha256
    )


def test_official_checkpoint_round_trip_through_weights_cache(tmp_path: Path):
    """A full-size state dict at the cached location of the official URL loads strictly as "official"."""
    src = i3d_model.build()
    target = _url_target(official_spec("i3d"), tmp_path)
    target.parent.mkdir(parents=True)
    torch.save(src.state_dict(), target)
    model, ident = i3d_model.load("official", cache_dir=tmp_path)
    assert not ident.tiny and ident.weights_id == official_spec("i3d").source
    assert ident.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    bad = src.state_dict()
    bad.pop("logits.conv3d.bias")
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(WeightsLoadError, match=r"missing.*logits\.conv3d\.bias.*unexpected.*extra\.weight"):
        i3d_model.load(str(tmp_path / "bad.pt"))


def test_missing_official_weights_name_the_fetch_command(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="fetch-weights --family i3d"):
        i3d_model.load("official", cache_dir=tmp_path)


# ------------------------------------------------------------------------------------------ embedder


def test_registry_builds_an_embed_only_scorer():
    s = registry.build("i3d", ScorerConfig(weights="tiny", options={"max_frames": 16}))
    assert isinstance(s, Scorer)
    assert s.info.outputs == () and s.info.embeddings == ("i3d",) and s.info.weights.tiny
    assert s.info.input_spec.video_frames == 16 and s.info.input_spec.image_size == 224
    with pytest.raises(ValueError, match="max_frames"):
        registry.build("i3d", ScorerConfig(weights="tiny", options={"max_frames": 8}))


def test_embedding_shape_determinism_and_batching(embedder):
    clips = [_clip(12, 48, 64, 1), _clip(3, 33, 100, 3)]
    items = [
        embedder.preprocess(DecodedSample(str(i), video=DecodedVideo(c, 24.0))) for i, c in enumerate(clips)
    ]
    np.testing.assert_array_equal(
        items[0], embedder.preprocess(DecodedSample("x", video=DecodedVideo(clips[0], 24.0)))
    )
    together = [embedder.postprocess(o).embeddings["i3d"] for o in embedder.forward(items)]  # one batch of 2
    alone = [embedder.postprocess(embedder.forward([it])[0]).embeddings["i3d"] for it in items]
    for a, b in zip(together, alone, strict=True):
        assert a.shape == (400,) and a.dtype == np.float32
        # calibrated tiny logits are O(1), so float32 batch-composition noise is bounded relatively
        np.testing.assert_allclose(a, b, rtol=5e-5, atol=1e-5)
    assert not np.allclose(together[0], together[1])


def test_tiny_weights_are_not_degenerate_at_the_logits_level():
    """Default-initialised I3D gives every video nearly the same logits; the calibrated tiny one must not."""
    import torch

    from omninft.reward_servers.models._state_dict import build_random
    from omninft.reward_servers.models.i3d import model as m

    calibrated, _ = m.load("tiny")
    raw, _ = build_random(lambda: m.build(m.I3DConfig.tiny()), 0, "tiny")
    videos = torch.rand(3, 3, 16, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        spread_cal = float(calibrated(videos).std(dim=0).mean())
        spread_raw = float(raw(videos).std(dim=0).mean())
    assert spread_raw < 1e-4  # the degeneracy this guards against
    assert spread_cal > 1e-2


def test_invalid_samples_fail_alone(embedder):
    with pytest.raises(InvalidSample, match="needs video"):
        embedder.preprocess(DecodedSample("a", audio=DecodedAudio(np.zeros((1, 10), np.float32), 16000)))
    with pytest.raises(InvalidSample, match="elongated"):
        embedder.preprocess(DecodedSample("b", video=DecodedVideo(_clip(4, 1, 300), 24.0)))
