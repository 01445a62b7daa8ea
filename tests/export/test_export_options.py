"""export(): options are checked against the formats table before any work; artifacts appear
atomically (a failed verification leaves nothing behind)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _export_nets import tiny_network

from dcpt_sdk.artifact import read_artifact
from dcpt_sdk.errors import MissingDependencyError, UnsupportedOptionError, VerificationError
from dcpt_sdk.export import export, verify
from dcpt_sdk.formats import FORMATS, get_format


@pytest.mark.parametrize("fmt", ["onnx", "openvino", "tensorrt"])
def test_unknown_option_lists_what_the_format_accepts(nafnet, tmp_path: Path, fmt: str) -> None:
    accepted = ", ".join(get_format(fmt).export_options)
    with pytest.raises(UnsupportedOptionError, match=f"it accepts: {accepted}"):
        export(nafnet, fmt, "fp32", tmp_path / "out", colour="blue")
    assert not (tmp_path / "out").exists()


def test_option_of_another_format_is_refused(nafnet, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOptionError, match="openvino export does not accept option"):
        export(nafnet, "openvino", "fp32", tmp_path / "out", opset=18)


def test_precision_outside_the_table_lists_valid_ones(nafnet, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOptionError, match="valid: fp32, fp16, int8"):
        export(nafnet, "onnx", "bf16", tmp_path / "out")


def test_unknown_and_non_export_formats(nafnet, tmp_path: Path) -> None:
    names = ", ".join(f.name for f in FORMATS)
    with pytest.raises(UnsupportedOptionError, match=f"valid: {names}"):
        export(nafnet, "coreml", "fp32", tmp_path / "out")
    with pytest.raises(UnsupportedOptionError, match="valid: onnx, openvino, tensorrt"):
        export(nafnet, "torch", "fp32", tmp_path / "out")


def test_calibration_options_only_with_int8(nafnet, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOptionError, match="only apply to precision='int8'"):
        export(nafnet, "onnx", "fp16", tmp_path / "out", calib=tmp_path)


def test_bad_option_values(nafnet, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOptionError, match="slim must be True or False"):
        export(nafnet, "onnx", "fp32", tmp_path / "a", slim="yes")
    with pytest.raises(UnsupportedOptionError, match="opset must be an int >= 17"):
        export(nafnet, "onnx", "fp32", tmp_path / "b", opset=13)
    with pytest.raises(UnsupportedOptionError, match="not a multiple of this model's pad multiple"):
        export(nafnet, "onnx", "fp32", tmp_path / "c", export_size=63)
    with pytest.raises(UnsupportedOptionError, match="calib_count must be an int"):
        export(nafnet, "onnx", "int8", tmp_path / "d", calib_count=0)
    with pytest.raises(UnsupportedOptionError, match="holds no images"):
        export(nafnet, "onnx", "int8", tmp_path / "e", calib=tmp_path)
    assert not any(tmp_path.iterdir())


def test_tensorrt_without_gpu_fails_fast(nafnet, tmp_path: Path) -> None:
    from dcpt_sdk.export.tensorrt import missing_requirements

    if missing_requirements() is None:
        pytest.skip("this machine has TensorRT and a GPU")
    with pytest.raises(MissingDependencyError, match="TensorRT export and inference need"):
        export(nafnet, "tensorrt", "fp16", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_module_without_spec_is_refused(tmp_path: Path) -> None:
    import torch

    with pytest.raises(UnsupportedOptionError, match="no .spec"):
        export(torch.nn.Conv2d(3, 3, 3), "onnx", "fp32", tmp_path / "out")


def test_failed_verification_leaves_no_artifact(nafnet, tmp_path: Path, monkeypatch) -> None:
    impossible = dict(verify.THRESHOLDS, fp32=verify.Threshold(max_abs=0.0))
    monkeypatch.setattr(verify, "THRESHOLDS", impossible)
    target = tmp_path / "onnx-fp32"
    with pytest.raises(VerificationError, match=r"37x53->40x56: psnr_db=.*max_abs=.*max-abs <= 0"):
        export(nafnet, "onnx", "fp32", target)
    assert list(tmp_path.iterdir()) == []


def test_reexport_replaces_an_artifact_but_not_other_folders(tmp_path: Path) -> None:
    network = tiny_network("nafnet-tiny", classifier=False)
    target = tmp_path / "onnx-fp32"
    first = export(network, "onnx", "fp32", target, slim=False)
    assert first.classifier_file is None and not (target / "classifier.onnx").exists()
    second = export(network, "onnx", "fp32", target)
    assert read_artifact(target) == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx-fp32"]
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.png").write_bytes(b"")
    with pytest.raises(UnsupportedOptionError, match="not an artifact directory"):
        export(network, "onnx", "fp32", other)


def test_checkpoint_path_and_default_directory(tmp_path: Path, monkeypatch) -> None:
    from dcpt_sdk.checkpoint import save_model

    network = tiny_network("nafnet-tiny")
    checkpoint = save_model(network, tmp_path / "tiny.safetensors")
    monkeypatch.chdir(tmp_path)
    info = export(str(checkpoint), "onnx", "fp32")
    assert (tmp_path / "nafnet-tiny-onnx-fp32" / "dcpt.json").is_file()
    assert info.classifier_file == "classifier.onnx"
    assert info.spec.provenance["source_file"] == "tiny.safetensors"
