"""The ONNX graph passes: fp16 islands that keep normalisations in fp32, slimming, topology."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from dcpt_sdk.archs.layers import LayerNorm2d  # noqa: E402
from dcpt_sdk.export import onnx as onnx_export  # noqa: E402


class LoudNorm(nn.Module):
    """conv -> x300 -> channel LayerNorm -> conv: squares of 300-ish values overflow fp16."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = LayerNorm2d(8)
        self.last = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.norm(self.first(x) * 300.0)) + x


def _run(model, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.fixture(scope="module")
def loud(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, object]:
    module = LoudNorm().eval()
    path = tmp_path_factory.mktemp("loud") / "loud.onnx"
    onnx_export.torch_to_onnx(module, path, torch.rand(1, 3, 16, 16))
    return module, onnx_export.slim(onnx_export.load(path))


def _input_types(model) -> dict[str, set[int]]:  # type: ignore[no-untyped-def]
    """op type -> element types of its first input, after ONNX type inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in inferred.graph.input})
    found: dict[str, set[int]] = {}
    for node in inferred.graph.node:
        if node.input and node.input[0] in types:
            found.setdefault(node.op_type, set()).add(types[node.input[0]])
    return found


def test_fp16_islands_compute_normalisation_in_fp32(loud) -> None:
    module, model = loud
    float32, float16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    naive = _input_types(onnx_export.to_fp16(model, keep_fp32=()))
    assert naive["Pow"] == {float16}  # 300-ish values squared: > 65504, inf on fp16 hardware
    half = onnx_export.to_fp16(model)
    kept = _input_types(half)
    for op in ("ReduceMean", "Sub", "Pow", "Sqrt", "Div"):
        assert kept[op] == {float32}, op
    assert float16 in kept["Conv"] and float32 in kept["Conv"]  # first conv fp16, last fp32
    x = np.random.default_rng(0).random((1, 3, 24, 40), dtype=np.float32)
    with torch.no_grad():
        reference = module(torch.from_numpy(x)).numpy()
    assert np.abs(_run(half, x) - reference).max() < 5e-3


def test_islands_cover_the_layernorm_pattern_and_the_tail(loud) -> None:
    _, model = loud
    islands = onnx_export.fp32_island_nodes(model)
    by_name = {n.name: n.op_type for n in model.graph.node}
    kept = sorted(by_name[name] for name in islands)
    # ReduceMean x2, Sub, Pow, Add(eps), Sqrt, Div; the last Conv and the residual Add.
    assert kept == sorted(
        ["ReduceMean", "ReduceMean", "Sub", "Pow", "Add", "Sqrt", "Div", "Conv", "Add"]
    )
    first_conv = next(n for n in model.graph.node if n.op_type == "Conv")
    assert first_conv.name not in islands


def test_fp16_graph_is_valid_with_fp32_io(loud) -> None:
    _, model = loud
    half = onnx_export.to_fp16(model)
    onnx.checker.check_model(half)
    float32 = onnx.TensorProto.FLOAT
    assert half.graph.input[0].type.tensor_type.elem_type == float32
    assert half.graph.output[0].type.tensor_type.elem_type == float32
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer)


def test_slim_removes_identity_chains(tmp_path: Path) -> None:
    from _export_nets import tiny_network

    network = tiny_network("nafnet-tiny", classifier=False)
    path = tmp_path / "n.onnx"
    onnx_export.torch_to_onnx(network, path, torch.rand(1, 3, 32, 32))
    raw = onnx_export.load(path)
    slim = onnx_export.slim(raw)
    assert len(slim.graph.node) < len(raw.graph.node)
    assert "Identity" not in {n.op_type for n in slim.graph.node}
    x = np.random.default_rng(1).random((2, 3, 20, 28), dtype=np.float32)
    np.testing.assert_allclose(_run(slim, x), _run(raw, x), atol=1e-6)


def test_exported_nafnet_has_no_channel_split_and_no_depth_to_space(tmp_path: Path) -> None:
    """The gates export as convolution halves and the upsamplers as ConvTranspose: the Split and
    DepthToSpace nodes OpenVINO spent 9% and 5% of the default model's bf16 time on are gone."""
    from _export_nets import tiny_network

    from dcpt_sdk.export import export

    info = export(tiny_network("nafnet-tiny", classifier=True), "onnx", "fp32", tmp_path / "a")
    assert info.classifier_file is not None
    for name in (info.model_file, info.classifier_file):
        ops = {n.op_type for n in onnx.load(str(tmp_path / "a" / name)).graph.node}
        # (The classifier head slices its pooled features; the restorer slices nothing.)
        banned = {"Split", "DepthToSpace"} | ({"Slice"} if name == info.model_file else set())
        assert not ops & banned, f"{name}: {sorted(ops)}"
        assert "ConvTranspose" in ops


@pytest.mark.parametrize(
    ("fmt", "precision", "by_conv"),
    [
        ("onnx", "fp32", True),
        ("onnx", "fp16", False),
        ("openvino", "bf16", True),
        ("openvino", "fp32", False),
    ],
)
def test_layernorm_statistics_form_follows_the_target(
    tmp_path: Path, fmt: str, precision: str, by_conv: bool
) -> None:
    """Format.conv_statistics (the formats table): where that measured faster (ONNX Runtime
    fp32, OpenVINO bf16) each LayerNorm's map is centred by a C x C convolution (every one of
    the tiny network's is at most CENTRE_BY_CONV_MAX_CHANNELS wide) and its variance is a
    one-output-channel convolution; ReduceMean over the channels elsewhere (fp16 keeps its fp32
    islands, found by that pattern); the restorer and the classifier file alike. The artifact
    still passed its verification against torch."""
    from _export_nets import tiny_network

    from dcpt_sdk.export import export

    pytest.importorskip("openvino" if fmt == "openvino" else "onnxruntime")
    info = export(tiny_network("nafnet-tiny", classifier=True), fmt, precision, tmp_path / "a")
    assert info.classifier_file is not None
    for name in (info.model_file, info.classifier_file):
        counts = _layernorm_statistics(tmp_path / "a" / name)
        norms = counts["LayerNorm2d"]
        assert norms > 0
        # OpenVINO's converter fuses a ReduceMean LayerNorm into one MVN op (its two means).
        by_reduction = counts["channel ReduceMean"] + 2 * counts["MVN"]
        assert by_reduction == (0 if by_conv else norms * 2)
        assert counts["one-channel Conv"] == (norms if by_conv else 0)
        assert counts["centring Conv"] == (norms if by_conv else 0)


def _layernorm_statistics(path: Path) -> dict[str, int]:
    """Counts in an exported file: its LayerNorm2d modules (by the Sqrt each one holds, or the
    MVN op OpenVINO fuses one into), channel ReduceMeans (axes [1]), MVN ops, convolutions with
    one output channel, and centring convolutions (the ones whose output is squared, a
    LayerNorm's centred map)."""
    if path.suffix == ".xml":
        import openvino as ov

        model = ov.Core().read_model(str(path))
        ops = list(model.get_ops())
        sqrt = sum(op.get_type_name() == "Sqrt" for op in ops)
        mvn = sum(op.get_type_name() == "MVN" for op in ops)
        reduce = sum(
            op.get_type_name() == "ReduceMean"
            and list(op.input_value(1).get_node().get_vector()) == [1]
            for op in ops
        )
        conv = sum(
            op.get_type_name() == "Convolution" and op.input(1).get_partial_shape()[0] == 1
            for op in ops
        )
        centring = sum(
            op.get_type_name() == "Power"
            and op.input_value(0).get_node().get_type_name() == "Convolution"
            for op in ops
        )
        return {
            "LayerNorm2d": sqrt + mvn,
            "channel ReduceMean": reduce,
            "MVN": mvn,
            "one-channel Conv": conv,
            "centring Conv": centring,
        }
    graph = onnx.load(str(path)).graph
    weights = {init.name: list(init.dims) for init in graph.initializer}
    constants = {
        out: onnx.numpy_helper.to_array(attr.t).shape
        for node in graph.node
        if node.op_type == "Constant"
        for attr in node.attribute
        for out in node.output
    }

    producer = {out: node.op_type for node in graph.node for out in node.output}

    def out_channels(node: onnx.NodeProto) -> int | None:
        shape = weights.get(node.input[1]) or list(constants.get(node.input[1], ()))
        return shape[0] if shape else None

    def axes(node: onnx.NodeProto) -> list[int]:
        for attr in node.attribute:
            if attr.name == "axes":
                return list(attr.ints)
        return []

    return {
        "LayerNorm2d": sum(n.op_type == "Sqrt" for n in graph.node),
        "channel ReduceMean": sum(n.op_type == "ReduceMean" and axes(n) == [1] for n in graph.node),
        "MVN": 0,
        "one-channel Conv": sum(n.op_type == "Conv" and out_channels(n) == 1 for n in graph.node),
        "centring Conv": sum(
            n.op_type == "Pow" and producer.get(n.input[0]) == "Conv" for n in graph.node
        ),
    }


def test_metadata_is_replaced_not_duplicated(loud) -> None:
    _, model = loud
    onnx_export.set_metadata(model, {"format": "onnx", "precision": "fp32", "spec": {"arch": "x"}})
    onnx_export.set_metadata(model, {"format": "onnx", "precision": "fp16", "spec": {"arch": "x"}})
    keys = [p.key for p in model.metadata_props]
    assert sorted(keys) == ["dcpt", "dcpt.arch", "dcpt.format", "dcpt.precision", "dcpt.role"]
    assert {p.key: p.value for p in model.metadata_props}["dcpt.precision"] == "fp16"


def test_metadata_labels_each_file_with_its_own_precision_and_a_doc_string(loud) -> None:
    """An int8 artifact's classifier file is fp32, and says so."""
    _, model = loud
    facts = {
        "format": "onnx",
        "precision": "int8",
        "classifier_precision": "fp32",
        "artifact_version": 2,
        "tool_versions": {"dcpt-sdk": "0.1.0"},
        "spec": {"arch": "nafnet", "degradation_classes": ["rain", "noise"], "pad_multiple": 16},
    }
    onnx_export.set_metadata(model, facts, role="classifier")
    props = {p.key: p.value for p in model.metadata_props}
    assert props["dcpt.precision"] == "fp32" and props["dcpt.role"] == "classifier"
    assert model.producer_name == "dcpt-sdk" and model.model_version == 2
    assert "softmax" in model.doc_string and "rain, noise" in model.doc_string
