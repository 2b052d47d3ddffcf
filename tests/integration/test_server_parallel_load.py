"""A server loads weight files in parallel, keeps seeded random builds as they were, and warms a shared model
up once (issue 15 item 2)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from omninft.reward_servers.models.clap import model as clap_model
from omninft.reward_servers.models.clip import model as clip_model
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.serving.app import create_server
from omninft.reward_servers.serving.config import ServerConfig


def _hf_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Tiny CLIP and CLAP saved as Hugging Face folders (weights read from files, like official ones)."""
    from transformers import ClapFeatureExtractor

    clip, clip_tok, _ = clip_model._tiny(5)
    clap, clap_tok, _ = clap_model._tiny(6)
    out = []
    for name, model, tok in (("clip", clip, clip_tok), ("clap", clap, clap_tok)):
        folder = tmp_path / name
        model.save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
        out.append(folder)
    fe = {k: v for k, v in clap_model.EXPECTED_FEATURE_EXTRACTOR.items() if k != "top_db"}
    ClapFeatureExtractor(**fe).save_pretrained(str(out[1]))
    return out[0], out[1]


async def test_parallel_file_loads_serial_random_builds_and_one_warmup_per_shared_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip_dir, clap_dir = _hf_folders(tmp_path)
    scorers = {
        "imagebind": ScorerConfig(weights="tiny"),
        "clip": ScorerConfig(weights=str(clip_dir)),
        "imagebind_avh": ScorerConfig(weights="tiny"),
        "clap": ScorerConfig(weights=str(clap_dir)),
        "i3d": ScorerConfig(weights="tiny"),
    }
    server = create_server(ServerConfig(port=0, metrics_port=-1, scorers=scorers))
    caplog.set_level(logging.INFO, logger="omninft.reward_servers.serving.app")
    await server.start()
    try:
        await server.wait_serving(280)
        assert list(server.scorers) == list(scorers)  # config order, whatever finished first
        for name, folder in (("clip", clip_dir), ("clap", clap_dir)):
            info = server.scorers[name].info.weights
            assert not info.tiny and info.weights_id == f"local:{folder.resolve()}"
        # seeded tiny builds are what a build on its own gives (they never run beside another build)
        alone = registry.build("i3d", ScorerConfig(weights="tiny"))
        assert server.scorers["i3d"].info.weights.sha256 == alone.info.weights.sha256
    finally:
        await server.stop(0)
    text = caplog.text
    assert "warm-up of imagebind_avh skipped" in text
    assert "warmed up imagebind in" in text and "warmed up imagebind_avh in" not in text
    for name in ("clip", "clap", "i3d"):
        assert f"warmed up {name} in" in text
    # after parallel from_pretrained calls, torch's init functions are torch's again
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        w = torch.nn.Linear(4, 4).weight
    assert w.abs().sum() > 0 and w.std() > 0
