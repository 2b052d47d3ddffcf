"""ONNX export of GraphSpecs: both exporters, dynamic axes, atomic writes, weight-norm folding, the check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from omninft.reward_servers.backends import onnx_export
from omninft.reward_servers.backends.base import GraphSpec
from omninft.reward_servers.backends.onnx_export import (
    META_EXPORTER,
    META_STATE,
    META_STRUCTURE,
    ExportError,
    check_graph,
    ensure_onnx,
    export_graph,
    fold_weight_norm,
    graph_dir,
    onnx_metadata,
    random_inputs,
)

TOL = 1e-4


class _Mlp(torch.nn.Module):
    """Two outputs, a weight-normed layer, and a named second input axis."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(6, 8))
        self.head = torch.nn.Linear(8, 4)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.proj(features))
        pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.head(pooled), h.mean(-1)


def mlp_spec() -> GraphSpec:
    """A small MLP over a variable number of frames."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    return GraphSpec(
        module=_Mlp().eval(),
        input_names=("features", "mask"),
        output_names=("embeds", "frame_scores"),
        example_inputs={
            "features": rng.standard_normal((2, 5, 6)).astype(np.float32),
            "mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=np.float32),
        },
        dynamic_axes={"features": {1: "frames"}, "mask": {1: "frames"}, "frame_scores": {1: "frames"}},
    )


class _ClapText(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).text_embeds


class _ClipVision(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).image_embeds


def clap_text_spec() -> GraphSpec:
    """Tiny random ClapTextModelWithProjection (RoBERTa tower) with dynamic batch and length."""
    from transformers import ClapTextConfig, ClapTextModelWithProjection

    torch.manual_seed(0)
    cfg = ClapTextConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        projection_dim=16,
    )
    ids = np.random.default_rng(0).integers(3, 99, size=(2, 9))
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    return GraphSpec(
        module=_ClapText(ClapTextModelWithProjection(cfg)).eval(),
        input_names=("input_ids", "attention_mask"),
        output_names=("text_embeds",),
        example_inputs={"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64)},
        dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}},
    )


def clip_vision_spec() -> GraphSpec:
    """Tiny random CLIPVisionModelWithProjection."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    cfg = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=16,
    )
    return GraphSpec(
        module=_ClipVision(CLIPVisionModelWithProjection(cfg)).eval(),
        input_names=("pixel_values",),
        output_names=("image_embeds",),
        example_inputs={
            "pixel_values": np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
        },
    )


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("builder", [clap_text_spec, clip_vision_spec], ids=["clap_text", "clip_vision"])
def test_transformers_towers_export_and_match(tmp_path: Path, builder, dynamo: bool) -> None:
    spec = builder()
    path = export_graph(spec, tmp_path / "g.onnx", dynamo=dynamo)
    assert onnx_metadata(path)[META_EXPORTER] == ("dynamo" if dynamo else "torchscript")
    report = check_graph(spec, path, batch_sizes=(1, 3))
    assert report.batch_sizes == (1, 3)
    assert {s[spec.input_names[0]][0] for s in report.input_shapes} >= {1, 3}
    assert report.max_abs < TOL, report
    assert report.ok(rtol=1e-4)
    if spec.dynamic_axes:  # text: a second, shorter length was checked too
        assert len({s["input_ids"][1] for s in report.input_shapes}) == 2
    model = onnx.load(str(path))
    first = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert first.dim_param == "batch"
    assert [o.name for o in model.graph.output] == list(spec.output_names)


def test_auto_exporter_prefers_dynamo_and_folds_weight_norm(tmp_path: Path) -> None:
    spec = mlp_spec()
    path = export_graph(spec, tmp_path / "mlp.onnx")
    assert onnx_metadata(path)[META_EXPORTER] == "dynamo"
    names = {i.name for i in onnx.load(str(path)).graph.initializer}
    assert not any("original0" in n or "original1" in n for n in names), names  # folded, not g/v pairs
    report = check_graph(spec, path, batch_sizes=(1, 3))
    assert set(report.outputs) == {"embeds", "frame_scores"}
    assert report.max_abs < TOL
    assert {s["features"][1] for s in report.input_shapes} == {5, 2}
    # The caller's module keeps its parametrisation.
    assert torch.nn.utils.parametrize.is_parametrized(spec.module.proj)


def test_fallback_to_torchscript_when_dynamo_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = onnx_export._run_exporter

    def dynamo_breaks(*args, **kwargs):
        if kwargs["dynamo"]:
            raise RuntimeError("simulated torch.export failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx_export, "_run_exporter", dynamo_breaks)
    spec = mlp_spec()
    path = export_graph(spec, tmp_path / "mlp.onnx")
    assert onnx_metadata(path)[META_EXPORTER] == "torchscript"
    assert check_graph(spec, path).max_abs < TOL


def test_export_failure_is_clear_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def always_fails(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(onnx_export, "_run_exporter", always_fails)
    with pytest.raises(ExportError, match=r"dynamo: RuntimeError: boom; torchscript: RuntimeError: boom"):
        export_graph(mlp_spec(), tmp_path / "mlp.onnx")
    assert list(tmp_path.iterdir()) == []  # no partial file, no temp folder


def test_specialised_axis_is_rejected(tmp_path: Path) -> None:
    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(2, -1).sum(-1)  # hard-codes batch 2

    spec = GraphSpec(Fixed(), ("x",), ("y",), {"x": np.zeros((2, 3), np.float32)})
    with pytest.raises(ExportError, match="batch"):
        export_graph(spec, tmp_path / "fixed.onnx", dynamo=True)


def test_external_data_for_large_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 100)
    monkeypatch.setattr(onnx_export, "EXTERNAL_TENSOR_MIN_BYTES", 0)
    spec = mlp_spec()
    path = export_graph(spec, tmp_path / "mlp.onnx", dynamo=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "mlp.onnx.data"]
    assert onnx_export.onnx_files(path) == [path, tmp_path / "mlp.onnx.data"]
    assert check_graph(spec, path).max_abs < TOL
    # Re-exporting small removes the now stale weights file.
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 10**12)
    export_graph(spec, path, dynamo=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx"]


def test_half_export_keeps_fp32_io(tmp_path: Path) -> None:
    spec = mlp_spec()
    path = export_graph(spec, tmp_path / "mlp16.onnx", dynamo=False, half=True)
    model = onnx.load(str(path))
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in model.graph.input)
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in model.graph.output)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert spec.module.head.weight.dtype == torch.float32  # the reference stays fp32


def test_fold_weight_norm_is_exact() -> None:
    spec = mlp_spec()
    folded = fold_weight_norm(spec.module)
    assert folded is not spec.module
    x = torch.from_numpy(spec.example_inputs["features"])
    m = torch.from_numpy(spec.example_inputs["mask"])
    with torch.no_grad():
        torch.testing.assert_close(folded(x, m), spec.module(x, m))
    plain = torch.nn.Linear(2, 2)
    assert fold_weight_norm(plain) is plain
    with pytest.warns(FutureWarning):
        legacy = torch.nn.utils.weight_norm(torch.nn.Linear(3, 2))
    assert fold_weight_norm(legacy) is legacy  # legacy hooks are traced as they are


def test_legacy_weight_norm_exports(tmp_path: Path) -> None:
    with pytest.warns(FutureWarning):
        legacy = torch.nn.utils.weight_norm(torch.nn.Linear(3, 2)).eval()
    spec = GraphSpec(legacy, ("input",), ("output",), {"input": np.ones((2, 3), np.float32)})
    assert check_graph(spec, export_graph(spec, tmp_path / "l.onnx", dynamo=False)).max_abs < TOL


def test_random_inputs_respect_dtypes_ranges_and_masks() -> None:
    spec = clap_text_spec()
    rng = np.random.default_rng(1)
    inputs = random_inputs(spec, 4, rng, sizes={"tokens": 5})
    assert inputs["input_ids"].dtype == np.int64 and inputs["input_ids"].shape == (4, 5)
    assert 3 <= inputs["input_ids"].min() and inputs["input_ids"].max() < 99
    assert set(np.unique(inputs["attention_mask"]).tolist()) <= {0, 1}
    assert (inputs["attention_mask"][:, 0] == 1).all()
    ranged = random_inputs(spec, 2, rng, input_ranges={"input_ids": (0, 1)})
    assert ranged["input_ids"].max() <= 1


def test_ensure_onnx_reuses_fresh_and_replaces_stale(tmp_path: Path) -> None:
    spec = mlp_spec()
    path, exported = ensure_onnx(spec, tmp_path / "mlp.onnx", dynamo=False, verify_state=True)
    assert exported and META_STRUCTURE in onnx_metadata(path) and META_STATE in onnx_metadata(path)
    _, exported = ensure_onnx(spec, path, dynamo=False, verify_state=True)
    assert not exported
    with torch.no_grad():
        spec.module.head.bias.add_(1.0)  # a different checkpoint, same structure
    _, exported = ensure_onnx(spec, path, dynamo=False, verify_state=False)
    assert not exported  # with a cache key, weights identity is the key's job
    _, exported = ensure_onnx(spec, path, dynamo=False, verify_state=True)
    assert exported
    assert check_graph(spec, path).max_abs < TOL
    path.write_bytes(b"not an onnx model")  # corrupted cache entry
    _, exported = ensure_onnx(spec, path, dynamo=False)
    assert exported and check_graph(spec, path).max_abs < TOL


def test_graph_dir_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNINFT_CACHE_DIR", str(tmp_path / "cache"))
    spec = mlp_spec()
    assert graph_dir("", "clap-abc", spec) == tmp_path / "cache" / "onnx" / "clap-abc"
    assert graph_dir(tmp_path / "x", "k", spec) == tmp_path / "x" / "k"
    assert graph_dir(tmp_path / "x", "", spec) == tmp_path / "x"
    assert graph_dir("", "", spec).name.startswith("unkeyed-")
    with pytest.raises(ValueError, match="single folder"):
        graph_dir("", "../evil", spec)
