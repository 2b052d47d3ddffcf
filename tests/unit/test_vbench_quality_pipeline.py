"""The four model-backed VBench Quality chains composed from their parts on tiny models (the scorers' contract)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omninft.reward_servers.functional import vbench_frames as vf
from omninft.reward_servers.functional import vbench_quality as vq
from omninft.reward_servers.models import clip, dino, musiq
from omninft.reward_servers.models.clip import aesthetic


def _video(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth moving gradient (consecutive frames similar) with a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [
        ((np.sin((xx + 3 * i) / 9.0) + np.cos(yy / 7.0)) * 60 + 128)[..., None] + rng.normal(0, 4, (h, w, 3))
        for i in range(t)
    ]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return vf.frames_to_tensor(_video(5, 72, 128))


def test_subject_consistency_chain(frames):
    model, _ = dino.load("tiny", seed=0)
    x = vf.dino_transform(frames, 224)
    assert tuple(x.shape) == (5, 3, 224, 398)  # short side 224, no crop: DINO sees 16:9
    with torch.no_grad():
        feats = torch.cat([model(x[i : i + 1]) for i in range(len(x))])  # the reference runs batch 1
    r = vq.frame_pair_consistency(feats)
    assert r.cnt_per_video == 4 and 0.0 <= r.video_results() <= 1.0


def test_background_consistency_chain(frames):
    model, _ = clip.load_openai("tiny", seed=0)
    x = vf.clip_transform(frames, 64)  # the tiny OpenAI-layout CLIP takes 64 px
    with torch.no_grad():
        feats = clip.ClipImageCore(model)(x)
    r = vq.frame_pair_consistency(feats)
    per_video = r.video_results(empty=1.0)
    assert 0.0 <= per_video <= 1.0
    assert vq.pair_weighted_aggregate([r, r]) == pytest.approx(per_video)


def test_aesthetic_quality_chain(frames):
    model, _ = clip.load_openai("tiny", seed=0)
    head, _ = aesthetic.load("tiny", seed=0)
    core = clip.AestheticCore(model, head)
    x = vf.clip_transform(frames, 64)
    with torch.no_grad():
        chunks = [
            core(x[i : i + 2]) for i in range(0, len(x), 2)
        ]  # the reference's chunks of 32, smaller here
    score = vq.aesthetic_video_score(torch.cat(chunks))
    assert np.isfinite(score)


def test_imaging_quality_chain():
    model, _ = musiq.load("tiny", seed=0)
    video = vf.frames_to_tensor(_video(2, 40, 600, seed=1))
    x = vf.imaging_quality_transform(video, "longer")
    assert tuple(x.shape[-2:]) == (34, 512)  # int(512 / 600 * 40) = 34
    with torch.no_grad():
        mos = [float(musiq.score_frames(model, x[i : i + 1])) for i in range(len(x))]
    per_video = vq.imaging_video_score(mos)
    assert np.isfinite(per_video)
    assert vq.imaging_aggregate([per_video]) == pytest.approx(per_video / 100)
