"""Checkpoint loads skip the random init they would overwrite and map the file, with the same values (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from omninft.reward_servers.models._hf import WeightsLoadError
from omninft.reward_servers.models._state_dict import build_for_checkpoint, load_strict, load_torch_file
from omninft.reward_servers.models.i3d import model as i3d_model


def test_a_checkpoint_loads_into_a_meta_built_model_with_its_exact_values(tmp_path: Path) -> None:
    src = i3d_model.build(i3d_model.I3DConfig.tiny())
    path = tmp_path / "i3d.pt"
    torch.save(src.state_dict(), path)
    built: list[nn.Module] = []

    def factory() -> nn.Module:
        built.append(i3d_model.build(i3d_model.I3DConfig.tiny()))
        return built[-1]

    model = build_for_checkpoint(factory, i3d_model.load_official, path)
    assert len(built) == 1 and model is built[0]  # no second (initialised) build was needed
    for k, v in src.state_dict().items():
        got = model.state_dict()[k]
        assert not got.is_meta and got.dtype == v.dtype and torch.equal(got, v), k
    x = torch.rand(1, 3, 16, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), src.eval()(x))


class _WithDerivedState(nn.Module):
    """A layer plus a buffer computed at construction that no checkpoint holds."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)
        self.register_buffer("grid", torch.arange(4.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x + self.grid)


def _load(model: nn.Module, path: Path) -> None:
    load_strict(model, load_torch_file(path), str(path))


def test_state_outside_the_checkpoint_falls_back_to_a_normal_build(tmp_path: Path) -> None:
    src = _WithDerivedState()
    path = tmp_path / "m.pt"
    torch.save(src.state_dict(), path)
    model = build_for_checkpoint(_WithDerivedState, _load, path)
    assert torch.equal(model.grid, torch.arange(4.0))  # type: ignore[arg-type]
    assert torch.equal(model.proj.weight, src.proj.weight)  # type: ignore[union-attr]
    x = torch.rand(2, 4)
    assert torch.equal(model(x), src(x))


def test_a_half_precision_checkpoint_is_cast_to_the_model_dtype_as_a_copy_would(tmp_path: Path) -> None:
    src = nn.Linear(5, 2)
    path = tmp_path / "half.pt"
    torch.save({k: v.half() for k, v in src.state_dict().items()}, path)
    model = build_for_checkpoint(lambda: nn.Linear(5, 2), _load, path)
    copied = nn.Linear(5, 2)
    copied.load_state_dict(torch.load(path, weights_only=True))
    assert model.weight.dtype == torch.float32
    assert torch.equal(model.weight, copied.weight) and torch.equal(model.bias, copied.bias)


def test_a_bad_checkpoint_still_names_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.pt"
    torch.save({"weight": torch.zeros(2, 5)}, path)
    with pytest.raises(WeightsLoadError, match=r"missing.*bias"):
        build_for_checkpoint(lambda: nn.Linear(5, 2), _load, path)


def test_legacy_checkpoints_cannot_be_mapped_and_are_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"a": torch.ones(3)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_torch_file(path)["a"], torch.ones(3))
