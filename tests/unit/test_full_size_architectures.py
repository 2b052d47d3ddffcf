"""weights="random" builds the official architectures at full size: parameter counts equal the published ones."""

from __future__ import annotations

import pytest

from omninft.reward_servers.models import clap, clip


@pytest.mark.parametrize(
    ("family", "params"),
    [
        (clap, 153_492_890),  # laion/clap-htsat-unfused, specs/models.md §4.2
        (clip, 151_277_313),  # openai/clip-vit-base-patch32, specs/models.md §7
    ],
)
def test_random_full_size_matches_official_parameter_count(family, params: int) -> None:
    model, _, ident = family.load("random", seed=1)
    assert sum(p.numel() for p in model.parameters()) == params
    assert ident.tiny and ident.weights_id == "random-init(official-architecture, seed=1)"
