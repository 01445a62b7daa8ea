"""Hostile checkpoints and artifacts: one clear DcptError each, nothing allocated on a lie, and
no file outside the artifact folder ever read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _models import randomised, with_light_classifier
from safetensors.torch import save_file

from dcpt_sdk.artifact import read_artifact
from dcpt_sdk.checkpoint import SPEC_METADATA_KEY, load_model, save_model
from dcpt_sdk.errors import DcptError, ModelLoadError
from dcpt_sdk.models import create_model
from dcpt_sdk.spec import ModelSpec


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, torch.Tensor], dict]:
    model = with_light_classifier(randomised(create_model("nafnet-tiny")), ("rain", "noise"))
    path = save_model(model, tmp_path_factory.mktemp("good") / "m.safetensors")
    from safetensors import safe_open

    with safe_open(path, "pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        spec = json.loads(handle.metadata()[SPEC_METADATA_KEY])
    return tensors, spec


def _write(tmp_path: Path, tensors: dict, spec: object, name: str = "bad.safetensors") -> Path:
    path = tmp_path / name
    text = spec if isinstance(spec, str) else json.dumps(spec)
    save_file(tensors, str(path), metadata={SPEC_METADATA_KEY: text})
    return path


def _edit(spec: dict, path: str, value: object) -> dict:
    out = json.loads(json.dumps(spec))
    keys = path.split(".")
    target = out
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return out


HOSTILE_SPECS = {
    "another restorer's arch": ("arch", "restormer"),
    "a classifier arch": ("arch", "dcpt-classifier-light"),
    "unknown arch": ("arch", "resnet"),
    "hparams a list": ("hparams", [1, 2]),
    "unknown hparam": ("hparams.colour", 3),
    "width a string": ("hparams.width", "16"),
    "width a float": ("hparams.width", 16.5),
    "spec_version a string": ("spec_version", "x"),
    "spec_version from the future": ("spec_version", 99),
    "value_range a string": ("value_range", "0-1"),
    "value_range reversed": ("value_range", [1, 0]),
    "classes an int": ("degradation_classes", 7),
    "provenance a list": ("provenance", [1]),
    "pad_multiple 0": ("pad_multiple", 0),
    "pad_multiple negative": ("pad_multiple", -16),
    "pad_multiple a string": ("pad_multiple", "16"),
    "pad_multiple wrong": ("pad_multiple", 1),
    "in_channels 0": ("in_channels", 0),
    "scale 2": ("scale", 2),
    "classifier a list": ("classifier", [1]),
    "classifier hparams wrong": (
        "classifier",
        {"arch": "dcpt-classifier-light", "hparams": {"proj_dim": "x"}},
    ),
    "classifier of another kind": ("classifier", {"arch": "nafnet", "hparams": {}}),
    "unknown field": ("colour_space", "srgb"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SPECS))
def test_hostile_spec_metadata_is_one_model_load_error(good, tmp_path: Path, case: str) -> None:
    tensors, spec = good
    field, value = HOSTILE_SPECS[case]
    path = _write(tmp_path, tensors, _edit(spec, field, value))
    with pytest.raises(ModelLoadError) as caught:
        load_model(path)
    assert str(path.name) in str(caught.value) or "model spec" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ["{", "[1]", '"x"', "[" * 100_000 + "]" * 100_000, '{"arch": ' + "[" * 5000 + "]" * 5000 + "}"],
)
def test_malformed_or_deep_spec_json_is_one_model_load_error(
    good, tmp_path: Path, text: str
) -> None:
    tensors, _ = good
    with pytest.raises(ModelLoadError):
        load_model(_write(tmp_path, tensors, text))


def test_spec_from_dict_checks_nesting_depth() -> None:
    deep: object = 1
    for _ in range(50):
        deep = {"k": deep}
    with pytest.raises(ModelLoadError, match="nested"):
        ModelSpec.from_dict({"arch": "nafnet", "hparams": {"width": deep}})


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.uint8])
def test_non_float_weights_are_refused(good, tmp_path: Path, dtype: torch.dtype) -> None:
    tensors, spec = good
    bad = {k: (v != 0).to(dtype) if k.endswith("weight") else v for k, v in tensors.items()}
    with pytest.raises(ModelLoadError, match="non-floating-point"):
        load_model(_write(tmp_path, bad, spec))


def test_a_spec_that_lies_about_the_size_allocates_nothing(good, tmp_path: Path) -> None:
    """A small file whose spec says width 512 would build a 0.5 GB network before failing; the
    meta-device check refuses it first. Measured in a fresh process: the load adds < 100 MB to the
    peak RSS the imports left (about 230 MB with torch), far from the 500 MB ceiling."""
    tensors, spec = good
    path = _write(tmp_path, tensors, _edit(spec, "hparams.width", 512))
    # VmHWM, the new program's own high-water mark: ru_maxrss carries over the forking parent's
    # (the test process, often over 500 MB itself), which made the ceiling check vacuous.
    code = (
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status')\n"
        "                if l.startswith('VmHWM'))\n"
        "from dcpt_sdk.checkpoint import load_model\n"
        "from dcpt_sdk.errors import ModelLoadError\n"
        "before = hwm()\n"
        "try:\n"
        f"    load_model({str(path)!r})\n"
        "except ModelLoadError as exc:\n"
        "    print('refused:', str(exc)[:80])\n"
        "print(before, hwm())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("refused:")
    before, peak = (int(v) for v in lines[-1].split())
    assert peak - before < 100 * 1024, f"the load added {(peak - before) // 1024} MB"
    assert peak < 500 * 1024, f"peak RSS {peak // 1024} MB"


# -- dcpt.json ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact(exported_onnx: Path) -> dict:
    return json.loads((exported_onnx / "dcpt.json").read_text())


@pytest.fixture(scope="module")
def exported_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    from dcpt_sdk.export import export

    model = with_light_classifier(randomised(create_model("nafnet-tiny")), ("rain", "noise"))
    directory = tmp_path_factory.mktemp("art") / "onnx-fp32"
    export(model, "onnx", "fp32", directory)
    return directory


HOSTILE_ARTIFACT = {
    "model_file absolute": ("model_file", "/etc/passwd"),
    "model_file outside": ("model_file", "../../elsewhere/x.onnx"),
    "model_file a subfolder": ("model_file", "sub/model.onnx"),
    "model_file a number": ("model_file", 5),
    "model_file empty": ("model_file", ""),
    "classifier_file outside": ("classifier_file", "../classifier.onnx"),
    "artifact_version a string": ("artifact_version", "x"),
    "spec a list": ("spec", [1]),
    "precision unknown": ("precision", "fp7"),
    "precision not of the format": ("precision", "bf16"),
    "format unknown": ("format", "tflite"),
    "io a list": ("io", [1]),
    "unknown field": ("colour", "x"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ARTIFACT))
def test_hostile_dcpt_json_is_one_model_load_error(
    exported_onnx: Path, artifact: dict, tmp_path: Path, case: str
) -> None:
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(exported_onnx, directory)
    field, value = HOSTILE_ARTIFACT[case]
    (directory / "dcpt.json").write_text(json.dumps({**artifact, field: value}))
    with pytest.raises(DcptError):
        read_artifact(directory)


def test_a_missing_companion_file_is_named(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from dcpt_sdk.export import export

    directory = tmp_path / "ov"
    export(randomised(create_model("nafnet-tiny")), "openvino", "fp32", directory)
    (directory / "model.bin").unlink()
    with pytest.raises(ModelLoadError, match="'model.bin' is missing"):
        read_artifact(directory)


def test_exported_artifact_permissions_follow_the_umask(exported_onnx: Path) -> None:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(exported_onnx.stat().st_mode) == 0o777 & ~umask
    for path in exported_onnx.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
