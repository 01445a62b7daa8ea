"""TensorRT engine building, checked against RecordingTensorRT (a test double, not TensorRT).

What these tests exercise: the profile shapes, the strongly typed network flag, the workspace
limit, that no precision flag or calibrator is set, and the error paths. What they cannot: that
a real TensorRT builds and runs the plan; test_real_tensorrt_* do that where TensorRT imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_tensorrt import FAKE_PLAN, BuilderFlag, NetworkDefinitionCreationFlag, RecordingTensorRT

from dcpt_sdk.errors import BackendError, DcptError, MissingDependencyError, UnsupportedOptionError
from dcpt_sdk.export import tensorrt as trt_export
from dcpt_sdk.spec import ModelSpec

SPEC = ModelSpec(arch="nafnet", pad_multiple=16)


def _onnx(tmp_path: Path) -> Path:
    path = tmp_path / "restorer.onnx"
    path.write_bytes(b"not parsed by the double")
    return path


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
    profile = trt_export.shape_profile(SPEC, min_size=32, opt_size=64, max_size=128)
    trt_export.build_engine(_onnx(tmp_path), engine, profile, workspace_gb=2, trt=double)
    assert engine.read_bytes() == FAKE_PLAN
    strongly_typed = 1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert ("create_network", strongly_typed) in double.calls
    assert ("parse_from_file", "restorer.onnx") in double.calls
    (config,) = double.configs
    assert config.flags_set == [] and config.int8_calibrator is None
    assert config.flags_cleared == []
    assert config.memory_limits == {0: 2 << 30}
    (optimization,) = config.profiles
    assert optimization.shapes == {"input": ((1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 128, 128))}


def test_parser_errors_are_reported(tmp_path: Path) -> None:
    double = RecordingTensorRT(parse_errors=["In node 3 (Conv): unsupported"])
    profile = trt_export.shape_profile(SPEC)
    with pytest.raises(DcptError, match="could not parse 'restorer.onnx': In node 3"):
        trt_export.build_engine(_onnx(tmp_path), tmp_path / "m.engine", profile, trt=double)
    assert not (tmp_path / "m.engine").exists()


def test_builder_failure_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    double = RecordingTensorRT(build_fails=True)
    profile = trt_export.shape_profile(SPEC)
    with pytest.raises(BackendError, match="failed to build an engine"):
        trt_export.build_engine(_onnx(tmp_path), tmp_path / "m.engine", profile, trt=double)
    assert not (tmp_path / "m.engine").exists()


def test_bad_workspace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOptionError, match="workspace_gb"):
        trt_export.build_engine(
            _onnx(tmp_path),
            tmp_path / "m.engine",
            trt_export.shape_profile(SPEC),
            workspace_gb=0,
            trt=RecordingTensorRT(),
        )


def test_missing_tensorrt_names_everything_missing_in_one_line(monkeypatch) -> None:
    import torch

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

    from dcpt_sdk.export.builders import BuildOptions, build_tensorrt
    from dcpt_sdk.formats import get_format

    double = RecordingTensorRT()
    monkeypatch.setattr(trt_export, "require_tensorrt", lambda: double)
    network = tiny_network("nafnet-tiny")
    from dcpt_sdk.export.api import _ClassifierGraph

    options = BuildOptions.from_options(
        network.spec, get_format("tensorrt"), {"opt_size": 128, "max_size": 256}
    )
    built = build_tensorrt(network, _ClassifierGraph(network), tmp_path, precision, options)
    assert built.classifier_file == "classifier.engine"
    assert built.shape_profile["max"] == [1, 3, 256, 256]
    assert (tmp_path / "model.engine").read_bytes() == FAKE_PLAN
    special = {"Cast", "QuantizeLinear", "DequantizeLinear"}
    for name, expected in (("restorer.onnx", restorer_has), ("classifier.onnx", classifier_has)):
        ops = {n.op_type for n in onnx.load_from_string(double.parsed[name]).graph.node}
        assert ops & special == expected, name
    assert all(config.flags_set == [] for config in double.configs)
    # fp32 engines (the restorer at fp32, the classifier at fp32 and int8) clear TF32.
    cleared = [config.flags_cleared for config in double.configs]
    tf32 = [BuilderFlag.TF32]
    assert cleared == (
        [tf32, tf32] if precision == "fp32" else [[], tf32] if precision == "int8" else [[], []]
    )


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
        assert info.parity and info.classifier_file == "classifier.engine"
