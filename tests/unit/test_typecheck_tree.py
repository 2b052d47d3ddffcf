"""scripts/typecheck.py: mypy sees each folder under its import name (setup.py's package_dir mapping)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typecheck", ROOT / "scripts" / "typecheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tree_maps_every_folder_to_its_import_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tc = _script()
    assert tc.package_dirs() == {
        "omninft_client": "omninft_client",
        "omninft.reward_servers": "reward_servers",
        "omninft.bench": "bench",
        "omninft.trainer": "trainer",
    }
    monkeypatch.setattr(tc, "TREE", tmp_path / "tree")
    prefixes = tc.build_tree()
    assert sorted(prefixes.values()) == ["bench/", "reward_servers/", "trainer/"]
    for name, folder in (("reward_servers", "reward_servers"), ("bench", "bench"), ("trainer", "trainer")):
        init = tmp_path / "tree" / "omninft" / name / "__init__.py"
        assert init.resolve() == (ROOT / folder / "__init__.py").resolve()
        assert (ROOT / folder / "py.typed").is_file()  # PEP 561: installed copies are typed too
    assert not (tmp_path / "tree" / "omninft" / "__init__.py").exists()  # omninft stays a namespace package
    assert tc.build_tree() == prefixes  # idempotent
