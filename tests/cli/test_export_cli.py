"""`omninft-export` through click's CliRunner: a test-only scorer, the real CLAP scorer, and the error paths."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from omninft.reward_servers import export
from omninft.reward_servers.backends import onnx_export
from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import CheckReport, OutputError
from omninft.reward_servers.backends.onnxruntime_backend import OrtBackend
from omninft.reward_servers.backends.torch_backend import TorchBackend
from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers.base import ScorerConfig, WeightsInfo

MODULE = "omninft_test_export_scorer"


def _graphs(cfg: ScorerConfig) -> dict[str, GraphSpec]:
    """Two tiny graphs whose weights depend on cfg.seed, like a tiny scorer's."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    return {
        "embed": GraphSpec(
            module=torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval(),
            input_names=("input",),
            output_names=("embedding",),
            example_inputs={"input": rng.standard_normal((2, 4)).astype(np.float32)},
        ),
        "pool": GraphSpec(
            module=torch.nn.Conv1d(2, 3, kernel_size=3).eval(),
            input_names=("input",),
            output_names=("output",),
            example_inputs={"input": rng.standard_normal((1, 2, 10)).astype(np.float32)},
            dynamic_axes={"input": {2: "time"}, "output": {2: "time_out"}},
        ),
    }


@pytest.fixture
def test_scorer(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A scorer module registered as "tinytest" (graphs_for) and "tinytest_full" (export_graphs)."""
    module = types.ModuleType(MODULE)
    module.build = lambda name, cfg: None  # type: ignore[attr-defined]
    module.graphs_for = lambda name, cfg: _graphs(cfg)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    full = types.ModuleType(MODULE + "_full")
    full.build = module.build  # type: ignore[attr-defined]
    full.export_graphs = lambda name, cfg: (  # type: ignore[attr-defined]
        _graphs(cfg),
        WeightsInfo(weights_id="org/model@rev", sha256="ab" * 32, tiny=False),
    )
    monkeypatch.setitem(sys.modules, MODULE + "_full", full)
    monkeypatch.setattr(registry, "_PLUGINS", dict(registry._PLUGINS))
    registry.register("tinytest", f"{MODULE}:build")
    registry.register("tinytest_full", f"{MODULE}_full:build")
    return module


def test_export_writes_graphs_table_and_manifest(tmp_path: Path, test_scorer) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(export.main, ["--scorer", "tinytest", "--out", str(out), "--no-dynamo"])
    assert result.exit_code == 0, result.output
    assert "TINY RANDOM WEIGHTS" in result.output
    table = result.output[result.output.index("graph  path") :]
    for column in ("size MB", "batches", "max abs err", "max rel err", "exporter"):
        assert column in table
    assert "embed" in table and "pool" in table and "torchscript" in table and "1,3" in table
    assert sorted(p.name for p in out.iterdir()) == ["embed.onnx", "manifest.json", "pool.onnx"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scorer"] == "tinytest" and manifest["tiny"] is True
    assert manifest["weights"] == {"id": "tiny", "sha256": "", "tiny": True}
    assert manifest["opset"] == 18 and manifest["exporter_requested"] == "torchscript"
    assert manifest["package_version"] and manifest["versions"]["onnxruntime"]
    pool = manifest["graphs"]["pool"]
    assert pool["exporter"] == "torchscript" and pool["files"] == ["pool.onnx"]
    assert pool["inputs"]["input"] == {"dtype": "float32", "shape": ["batch", 2, "time"]}
    assert pool["check"]["max_abs"] < 1e-5 and pool["check"]["batch_sizes"] == [1, 3]
    assert len(pool["state_sha256"]) == 64


def test_export_folder_serves_as_onnx_dir(tmp_path: Path, test_scorer, monkeypatch) -> None:
    out = tmp_path / "out"
    assert (
        CliRunner().invoke(export.main, ["--scorer", "tinytest", "--out", str(out), "--no-dynamo"]).exit_code
        == 0
    )
    calls: list[str] = []
    monkeypatch.setattr(onnx_export, "export_graph", lambda *a, **k: calls.append("export"))
    graphs = _graphs(ScorerConfig())
    backend = OrtBackend.from_graphs(graphs, onnx_dir=str(out), cache_key="tinytest-0123")
    assert calls == [] and backend.path("embed") == out / "embed.onnx"
    x = {"input": np.random.default_rng(3).standard_normal((4, 2, 17)).astype(np.float32)}
    np.testing.assert_allclose(
        backend.run("pool", x)["output"], TorchBackend(graphs).run("pool", x)["output"], atol=1e-5
    )


def test_scorer_supplied_weights_identity(tmp_path: Path, test_scorer) -> None:
    out = tmp_path / "full"
    result = CliRunner().invoke(
        export.main,
        [
            "--scorer",
            "tinytest_full",
            "--weights",
            "official",
            "--out",
            str(out),
            "--no-dynamo",
            "--no-check",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "TINY" not in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["weights"] == {"id": "org/model@rev", "sha256": "ab" * 32, "tiny": False}
    assert manifest["graphs"]["embed"]["check"] is None


def test_failed_check_exits_nonzero_but_keeps_manifest(tmp_path: Path, test_scorer, monkeypatch) -> None:
    def bad_check(spec, path, **kwargs):
        return CheckReport(Path(path), (1, 3), (), {spec.output_names[0]: OutputError(0.5, 0.25)})

    monkeypatch.setattr(export, "check_graph", bad_check)
    result = CliRunner().invoke(export.main, ["--scorer", "tinytest", "--out", str(tmp_path), "--no-dynamo"])
    assert result.exit_code == 1
    assert "numerical check failed (rtol 0.001) for graphs: embed, pool" in result.output
    assert json.loads((tmp_path / "manifest.json").read_text())["graphs"]["embed"]["check"]["max_rel"] == 0.25


def test_unknown_scorer_suggests_names() -> None:
    result = CliRunner().invoke(export.main, ["--scorer", "clapp"])
    assert result.exit_code == 2
    assert "Did you mean: clap" in result.output


def test_scorer_without_graphs_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(export.main, ["--scorer", "video_stats", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "has no exportable neural core" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error path")
def test_tensorrt_without_gpu_is_a_clear_error(tmp_path: Path, test_scorer) -> None:
    result = CliRunner().invoke(
        export.main, ["--scorer", "tinytest", "--format", "tensorrt", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert 'pip install "omninft[gpu]"' in result.output or "needs a CUDA GPU" in result.output
    assert not (tmp_path / "manifest.json").exists()


def test_real_clap_scorer_exports(tmp_path: Path) -> None:
    pytest.importorskip("omninft.reward_servers.scorers.clap")
    result = CliRunner().invoke(export.main, ["--scorer", "clap", "--out", str(tmp_path), "--no-dynamo"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["graphs"]) == {"audio", "text"}
    for entry in manifest["graphs"].values():
        assert entry["check"]["max_abs"] < 1e-4
    assert manifest["graphs"]["text"]["inputs"]["input_ids"]["shape"] == ["batch", "sequence"]


def test_module_entry_point_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from omninft.reward_servers.export import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for option in (
        "--scorer",
        "--weights",
        "--format",
        "--dynamo / --no-dynamo",
        "--fp16",
        "--max-batch-size",
    ):
        assert option in proc.stdout
