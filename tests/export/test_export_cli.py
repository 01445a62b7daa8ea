"""dcpt-export: flags from the formats table, one artifact per format x precision, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _export_nets import tiny_network

from dcpt_sdk.export.cli import build_parser, main
from dcpt_sdk.formats import PRECISIONS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dcpt_sdk.checkpoint import save_model

    return save_model(
        tiny_network("nafnet-tiny"), tmp_path_factory.mktemp("ckpt") / "n.safetensors"
    )


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_flags_come_from_the_formats_table() -> None:
    text = build_parser().format_help()
    for flag in ("--onnx", "--openvino", "--tensorrt", "--trt", "--calib", "--opset"):
        assert flag in text
    precision = next(a for a in build_parser()._actions if a.dest == "precision")
    assert tuple(precision.choices) == PRECISIONS


def test_trt_without_tensorrt_exits_1_with_one_line(checkpoint, tmp_path, capsys) -> None:
    from dcpt_sdk.export.tensorrt import missing_requirements

    missing = missing_requirements()
    if missing is None:
        pytest.skip("this machine has TensorRT and a GPU")
    code = main([str(checkpoint), "--onnx", "--trt", "--precision", "fp16", "-o", str(tmp_path)])
    assert code == 1
    line = _one_error_line(capsys)
    assert "TensorRT" in line and missing in line
    assert list(tmp_path.iterdir()) == []  # failed before exporting the ONNX artifact


def test_exports_one_directory_per_format_and_precision(checkpoint, tmp_path, capsys) -> None:
    code = main([str(checkpoint), "--onnx", "--precision", "fp32", "fp16", "-o", str(tmp_path)])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx-fp16", "onnx-fp32"]
    info = json.loads((tmp_path / "onnx-fp16" / "dcpt.json").read_text())
    assert info["precision"] == "fp16" and info["parity"]
    out = capsys.readouterr().out
    assert "onnx-fp32:" in out and "dB" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--precision", "fp32"], "choose at least one format"),
        (["--onnx", "--precision", "bf16"], "onnx does not support precision 'bf16'"),
        (["--openvino", "--opset", "18"], "--opset applies to onnx"),
        (["--onnx", "--calib", "photos"], "only apply to --precision int8"),
        (["--onnx", "--export-size", "30"], "not a multiple"),
    ],
)
def test_bad_requests_print_one_error_line(checkpoint, tmp_path, capsys, argv, message) -> None:
    assert main([str(checkpoint), *argv, "-o", str(tmp_path)]) == 1
    assert message in _one_error_line(capsys)


def test_missing_model_is_one_line(tmp_path, capsys) -> None:
    assert main([str(tmp_path / "nope.safetensors"), "--onnx", "-o", str(tmp_path)]) == 1
    assert "does not exist" in _one_error_line(capsys)


def test_output_naming_a_file_is_one_line(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main([str(checkpoint), "--onnx", "-o", str(target)]) == 1
    assert "is a file" in _one_error_line(capsys)


def test_every_target_is_checked_before_the_first_export(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second target is a foreign folder: nothing may be written for the first one."""
    out = tmp_path / "out"
    (out / "onnx-int8").mkdir(parents=True)
    (out / "onnx-int8" / "mine.txt").write_text("user data")
    assert main([str(checkpoint), "--onnx", "--precision", "fp32", "int8", "-o", str(out)]) == 1
    assert "onnx-int8" in _one_error_line(capsys)
    assert not (out / "onnx-fp32").exists()


def test_replacing_an_artifact_says_so(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main([str(checkpoint), "--onnx", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main([str(checkpoint), "--onnx", "-o", str(out)]) == 0
    assert "replacing the existing artifact" in capsys.readouterr().out
