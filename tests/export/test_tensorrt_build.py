"""TensorRT engine building, against RecordingTensorRT (tests/fake_tensorrt: a test double of
TensorRT 10's Python API, not TensorRT).

The double parses the real ONNX graphs, validates the optimization profile against the graph's
inputs as TensorRT's builder does, and its plans run (onnxruntime on host memory), so these tests
check the profile, the strongly typed network, the workspace limit, that no precision flag or
calibrator is set, the error paths, and that export -> verification through the TensorRT backend
works end to end. What they cannot: that a real TensorRT builds and runs the plan;
test_real_tensorrt_builds_an_engine does that where TensorRT and a GPU exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from fake_tensorrt import FakeGpus, RecordingTensorRT, read_plan

from dcpt_sdk.errors import BackendError, DcptError, MissingDependencyError, UnsupportedOptionError
from dcpt_sdk.export import tensorrt as trt_export
from dcpt_sdk.spec import ModelSpec

SPEC = ModelSpec(arch="nafnet", pad_multiple=16)
PRECISION_FLAGS = ("FP16", "INT8", "BF16", "FP8")


def _graph(path: Path, inputs: tuple[str, ...] = ("pixels",), channels: int = 3) -> Path:
    """A small real ONNX graph: the sum of its inputs times 2, dynamic N, H and W."""
    from onnx import TensorProto, helper, save

    dims = ["batch", channels, "height", "width"]
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in inputs]
    nodes, total = [], inputs[0]
    for index, name in enumerate(inputs[1:]):
        nodes.append(helper.make_node("Add", [total, name], [f"sum{index}"]))
        total = f"sum{index}"
    nodes.append(helper.make_node("Mul", [total, "two"], ["doubled"]))
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    output = helper.make_tensor_value_info("doubled", TensorProto.FLOAT, dims)
    graph = helper.make_graph(nodes, "tiny", values, [output], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    save(model, path)
    return path


def _profile(
    min_size: int = 32, opt_size: int = 64, max_size: int = 128
) -> trt_export.ShapeProfile:
    return trt_export.shape_profile(SPEC, min_size=min_size, opt_size=opt_size, max_size=max_size)


def _build_by_hand(double: RecordingTensorRT, graph: Path, shapes: dict | None) -> object:
    """What build_engine does, through the double's API: the plan, or None."""
    trt = double
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    assert trt.OnnxParser(network, logger).parse_from_file(str(graph))
    config = builder.create_builder_config()
    if shapes is not None:
        profile = builder.create_optimization_profile()
        for name, (low, opt, high) in shapes.items():
            profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(profile)
    return builder.build_serialized_network(network, config)


def test_default_profile_is_min_opt_max_in_the_pad_multiple() -> None:
    profile = trt_export.shape_profile(SPEC)
    assert profile.to_dict() == {
        "min": [1, 3, 64, 64],
        "opt": [1, 3, 512, 512],
        "max": [1, 3, 1024, 1024],
    }


def test_profile_accepts_pairs_and_hxw_strings() -> None:
    profile = trt_export.shape_profile(SPEC, min_size="32x48", opt_size=(256, 384), max_size="512")
    assert profile.min == (1, 3, 32, 48) and profile.opt == (1, 3, 256, 384)
    assert profile.max == (1, 3, 512, 512)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"min_size": 60}, "not a multiple of this model's pad multiple 16; e.g. min_size=64"),
        ({"opt_size": 2048}, "min <= opt <= max"),
        ({"max_size": "big"}, "must be a side"),
        ({"min_size": 0}, "must be positive"),
    ],
)
def test_bad_profiles_are_refused(sizes: dict, message: str) -> None:
    with pytest.raises(UnsupportedOptionError, match=message):
        trt_export.shape_profile(SPEC, **sizes)


def test_build_is_strongly_typed_without_precision_flags(tmp_path: Path) -> None:
    double = RecordingTensorRT()
    engine = tmp_path / "model.engine"
    graph = _graph(tmp_path / "restorer.onnx")
    trt_export.build_engine(graph, engine, _profile(), workspace_gb=2, trt=double)
    assert engine.read_bytes() == double.plans[0]
    header, embedded = read_plan(engine.read_bytes())
    assert embedded == double.networks[0].onnx  # the parsed graph, as parsed
    assert header["network_flags"] == 1 << int(double.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    (config,) = double.configs
    assert not any(config.get_flag(double.BuilderFlag[name]) for name in PRECISION_FLAGS)
    assert config.get_flag(double.BuilderFlag.TF32)  # TensorRT's default, kept unless exact_fp32
    assert config.int8_calibrator is None
    assert config.memory_limits == {double.MemoryPoolType.WORKSPACE: 2 << 30}
    # The profile is set on the graph's own input name, read from the parsed network.
    assert header["profiles"] == [{"pixels": [[1, 3, 32, 32], [1, 3, 64, 64], [1, 3, 128, 128]]}]
    assert header["inputs"] == [{"name": "pixels", "shape": [-1, 3, -1, -1], "dtype": "FLOAT"}]


def test_the_plan_runs_the_embedded_graph(tmp_path: Path) -> None:
    double = RecordingTensorRT(FakeGpus())
    plan = tmp_path / "model.engine"
    trt_export.build_engine(_graph(tmp_path / "g.onnx"), plan, _profile(), trt=double)
    engine = double.Runtime(double.Logger()).deserialize_cuda_engine(plan.read_bytes())
    context = engine.create_execution_context()
    assert [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)] == [
        "pixels",
        "doubled",
    ]
    assert engine.get_tensor_mode("pixels") == double.TensorIOMode.INPUT
    assert context.get_tensor_shape("doubled") == (-1, 3, -1, -1)  # before the input's shape
    assert context.infer_shapes() == ["pixels"]
    x = torch.rand(1, 3, 32, 48)
    assert context.set_input_shape("pixels", x.shape)
    assert context.infer_shapes() == [] and context.get_tensor_shape("doubled") == (1, 3, 32, 48)
    y = torch.empty(1, 3, 32, 48)
    context.set_tensor_address("pixels", x.data_ptr())
    assert not context.execute_async_v3(7)  # the output has no address yet
    context.set_tensor_address("doubled", y.data_ptr())
    assert context.execute_async_v3(7)
    assert torch.equal(y, 2 * x)
    assert "Neither address or allocator is set for output tensor doubled" in double.errors()[0]


def test_a_dynamic_input_without_a_profile_fails_as_in_tensorrt(tmp_path: Path) -> None:
    double = RecordingTensorRT()
    assert _build_by_hand(double, _graph(tmp_path / "g.onnx"), None) is None
    assert double.errors() == [
        "Error Code 4: Internal Error (Network has dynamic or shape inputs, but no optimization "
        "profile has been defined.)"
    ]


def test_a_profile_for_another_input_name_fails_as_in_tensorrt(tmp_path: Path) -> None:
    double = RecordingTensorRT()
    shapes = {"input": ((1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 128, 128))}  # graph: "pixels"
    assert _build_by_hand(double, _graph(tmp_path / "g.onnx"), shapes) is None
    assert double.errors() == [
        "Error Code 4: Internal Error (pixels: dynamic input is missing dimensions in profile 0.)"
    ]


def test_a_profile_that_contradicts_the_graph_fails_the_build(tmp_path: Path) -> None:
    double = RecordingTensorRT()
    gray = trt_export.shape_profile(ModelSpec(arch="nafnet", in_channels=1, out_channels=1))
    with pytest.raises(BackendError, match="failed to build an engine from 'g.onnx'"):
        trt_export.build_engine(
            _graph(tmp_path / "g.onnx"), tmp_path / "m.engine", gray, trt=double
        )
    assert (
        "for dimension number 1 in profile 0 does not match network definition (got min=1, "
        "opt=1, max=1), expected min=opt=max=3)" in double.errors()[0]
    )
    assert not (tmp_path / "m.engine").exists()


def test_parser_errors_are_reported(tmp_path: Path) -> None:
    onnx_path = tmp_path / "restorer.onnx"
    onnx_path.write_bytes(b"\x08\x07 not an ONNX model \xff")
    double = RecordingTensorRT()
    expected = (
        r"could not parse 'restorer.onnx': \(parseFromFile\): MODEL_DESERIALIZE_FAILED: Failed "
        r"to parse ONNX model from file: .*restorer.onnx!$"
    )
    with pytest.raises(DcptError, match=expected):
        trt_export.build_engine(onnx_path, tmp_path / "m.engine", _profile(), trt=double)
    assert not (tmp_path / "m.engine").exists() and not double.configs  # stopped at the parser


def test_a_graph_with_two_inputs_is_refused(tmp_path: Path) -> None:
    graph = _graph(tmp_path / "two.onnx", inputs=("image", "mask"))
    with pytest.raises(
        DcptError, match=r"'two.onnx' has inputs \['image', 'mask'\]; a dcpt engine"
    ):
        trt_export.build_engine(graph, tmp_path / "m.engine", _profile(), trt=RecordingTensorRT())


def test_bad_workspace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOptionError, match="workspace_gb"):
        trt_export.build_engine(
            _graph(tmp_path / "g.onnx"),
            tmp_path / "m.engine",
            trt_export.shape_profile(SPEC),
            workspace_gb=0,
            trt=RecordingTensorRT(),
        )


def test_missing_tensorrt_names_everything_missing_in_one_line(monkeypatch) -> None:
    monkeypatch.setattr(trt_export, "_module_available", lambda name: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MissingDependencyError) as caught:
        trt_export.require_tensorrt()
    message = str(caught.value)
    assert "\n" not in message
    assert "'tensorrt' Python package" in message and "pip install 'dcpt-sdk[gpu]'" in message
    assert "NVIDIA GPU with CUDA" in message


@pytest.mark.parametrize(
    ("precision", "restorer_has", "classifier_has"),
    [
        ("fp32", set(), set()),
        ("fp16", {"Cast"}, {"Cast"}),
        ("int8", {"QuantizeLinear", "DequantizeLinear"}, set()),
    ],
)
def test_engine_precision_comes_from_the_onnx_graph(
    monkeypatch, tmp_path: Path, precision: str, restorer_has: set, classifier_has: set
) -> None:
    import onnx
    from _export_nets import tiny_network

    from dcpt_sdk.export.api import _ClassifierGraph
    from dcpt_sdk.export.builders import BuildOptions, build_tensorrt
    from dcpt_sdk.formats import get_format

    double = RecordingTensorRT()
    monkeypatch.setattr(trt_export, "require_tensorrt", lambda: double)
    network = tiny_network("nafnet-tiny")
    options = BuildOptions.from_options(
        network.spec, get_format("tensorrt"), {"opt_size": 128, "max_size": 256}
    )
    built = build_tensorrt(network, _ClassifierGraph(network), tmp_path, precision, options)
    assert built.classifier_file == "classifier.engine"
    assert built.shape_profile["max"] == [1, 3, 256, 256]
    assert (tmp_path / "model.engine").read_bytes() == double.plans[0]
    assert (tmp_path / "classifier.engine").read_bytes() == double.plans[1]
    special = {"Cast", "QuantizeLinear", "DequantizeLinear"}
    for name, expected in (("restorer.onnx", restorer_has), ("classifier.onnx", classifier_has)):
        ops = {n.op_type for n in onnx.load_from_string(double.parsed[name]).graph.node}
        assert ops & special == expected, name
    flags = double.BuilderFlag
    assert not any(c.get_flag(flags[name]) for c in double.configs for name in PRECISION_FLAGS)
    # fp32 engines (the restorer at fp32, the classifier at fp32 and int8) clear TF32.
    tf32 = [config.get_flag(flags.TF32) for config in double.configs]
    assert tf32 == {"fp32": [False, False], "int8": [True, False], "fp16": [True, True]}[precision]


def test_export_verifies_through_the_tensorrt_backend(monkeypatch, tmp_path: Path) -> None:
    """dcpt_sdk.export(..., "tensorrt") end to end: build, then the parity check through
    runtimes/tensorrt_backend.py, both under the double (host memory for the GPU)."""
    from _export_nets import tiny_network

    from dcpt_sdk.artifact import read_artifact
    from dcpt_sdk.export import export
    from dcpt_sdk.runtimes import tensorrt_backend

    gpus = FakeGpus()
    double = RecordingTensorRT(gpus)
    monkeypatch.setitem(sys.modules, "tensorrt", double)
    monkeypatch.setattr(trt_export, "missing_requirements", lambda: None)
    monkeypatch.setattr(tensorrt_backend, "is_available", lambda: True)
    monkeypatch.setattr(tensorrt_backend, "CudaDevice", gpus.placement)
    sizes = {"min_size": 32, "opt_size": 64, "max_size": 128}
    info = export(tiny_network("nafnet-tiny"), "tensorrt", "fp32", tmp_path / "trt", **sizes)
    assert info.parity and all(p["max_abs"] <= 1e-4 for p in info.parity.values())
    assert info.classifier_parity and info.tool_versions["tensorrt"] == double.__version__
    assert read_artifact(tmp_path / "trt").model_file == "model.engine"
    assert sum(call.name == "execute_async_v3" for call in double.calls) >= 4
    assert double.errors() == []


def test_real_tensorrt_builds_an_engine(tmp_path: Path) -> None:
    if trt_export.missing_requirements():
        pytest.skip(f"real TensorRT test: this machine lacks {trt_export.missing_requirements()}")
    from _export_nets import tiny_network

    from dcpt_sdk.export import export

    for precision in ("fp16", "int8"):
        info = export(
            tiny_network("nafnet-tiny"),
            "tensorrt",
            precision,
            tmp_path / precision,
            min_size=32,
            opt_size=64,
            max_size=128,
        )
        assert info.parity and info.classifier_parity
        assert info.classifier_file == "classifier.engine"
