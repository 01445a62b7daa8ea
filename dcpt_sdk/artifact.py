"""An exported artifact: a directory holding model file(s) and ``dcpt.json``.

``dcpt.json`` carries the ModelSpec plus the export facts (format, precision, opset, dynamic-shape
profile, tool versions and the parity figures measured at export time), so a runtime never guesses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from dcpt_sdk._files import write_text_atomic
from dcpt_sdk.errors import ModelLoadError
from dcpt_sdk.formats import FormatName, Precision, get_format
from dcpt_sdk.spec import ModelSpec, declared_version, invalid_field, is_int

__all__ = [
    "ARTIFACT_FILE",
    "ArtifactInfo",
    "is_artifact_dir",
    "read_artifact",
    "write_artifact_info",
]

ARTIFACT_FILE = "dcpt.json"
CARD_FILE = "README.md"
# 2: the ``io`` client contract, ``classifier_precision``, spec v2 (code/weights licences).
ARTIFACT_VERSION = 2


@dataclass(frozen=True)
class ArtifactInfo:
    """The contents of dcpt.json.

    Attributes:
        spec: the model's ModelSpec.
        format / precision: what the model file is.
        model_file: the restorer's model file name inside the directory.
        classifier_file: the degradation classifier's model file (image -> logits), if exported.
        opset: ONNX opset (ONNX-derived formats).
        shape_profile: dynamic-shape facts, e.g. {"min": [1, 3, 8, 8], "opt": ..., "max": ...}.
        classifier_precision: the classifier file's own precision (fp32 in int8 artifacts).
        io: the client contract: tensor names, layout, dtype, colour order, pad rule, post-
            processing and compile options (export/contract.py), enough to run the files
            without dcpt-sdk.
        runtime_hints: settings the runtime must apply (e.g. OpenVINO's inference precision).
        tool_versions: package versions used to export.
        parity: measured agreement with fp32 torch, per test size, e.g.
            {"37x53": {"psnr_db": 61.2, "max_abs": 3e-5}}.
        classifier_parity: the same for the classifier logits.
    """

    spec: ModelSpec
    format: FormatName
    precision: Precision
    model_file: str
    classifier_file: str | None = None
    classifier_precision: Precision | None = None
    opset: int | None = None
    shape_profile: Mapping[str, Any] = field(default_factory=dict)
    runtime_hints: Mapping[str, Any] = field(default_factory=dict)
    tool_versions: Mapping[str, str] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    classifier_parity: Mapping[str, Any] = field(default_factory=dict)
    io: Mapping[str, Any] = field(default_factory=dict)
    artifact_version: int = ARTIFACT_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactInfo:
        """Artifact facts from untrusted JSON: every field's type checked, file names confined
        to the artifact folder.

        Raises:
            ModelLoadError: naming the field that is missing, unknown or malformed.
        """
        if not isinstance(data, Mapping):
            raise ModelLoadError(f"{ARTIFACT_FILE} must hold a JSON object")
        values = dict(data)
        declared_version(ARTIFACT_FILE, values, "artifact_version", ARTIFACT_VERSION)
        values["artifact_version"] = ARTIFACT_VERSION
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelLoadError(f"{ARTIFACT_FILE} has unknown fields {unknown}")
        for name in ("spec", "format", "precision", "model_file"):
            if name not in values:
                raise ModelLoadError(f"{ARTIFACT_FILE} has no '{name}' field")
        values["spec"] = ModelSpec.from_dict(values["spec"])
        if not isinstance(values["format"], str):
            raise _bad("format", "a format name", values["format"])
        fmt = get_format(values["format"])
        for name in ("precision", "classifier_precision"):
            value = values.get(name)
            if name == "classifier_precision" and value is None:
                continue
            if value not in fmt.precisions:
                raise _bad(name, f"one of {', '.join(fmt.precisions)} for {fmt.name}", value)
        values["model_file"] = _plain_file_name("model_file", values["model_file"])
        if values.get("classifier_file") is not None:
            values["classifier_file"] = _plain_file_name(
                "classifier_file", values["classifier_file"]
            )
        if values.get("opset") is not None and not is_int(values["opset"]):
            raise _bad("opset", "an int or null", values["opset"])
        for name in (
            "shape_profile",
            "runtime_hints",
            "tool_versions",
            "parity",
            "classifier_parity",
            "io",
        ):
            if name in values and not isinstance(values[name], Mapping):
                raise _bad(name, "an object", values[name])
        return cls(**values)


def _bad(name: str, expected: str, value: object) -> ModelLoadError:
    return invalid_field(ARTIFACT_FILE, name, expected, value)


def _plain_file_name(name: str, value: object) -> str:
    """A file name inside the artifact folder: no directories, no '..', not absolute."""
    if (
        not isinstance(value, str)
        or not value
        or value in (".", "..")
        or "/" in value
        or "\\" in value
        or "\x00" in value
    ):
        raise _bad(name, "a plain file name inside the artifact folder (no path)", value)
    return value


def is_artifact_dir(path: str | os.PathLike[str]) -> bool:
    return Path(path, ARTIFACT_FILE).is_file()


def read_artifact(path: str | os.PathLike[str]) -> ArtifactInfo:
    """Read dcpt.json of an artifact directory and check its model files exist."""
    directory = Path(path)
    info_file = directory / ARTIFACT_FILE
    if not info_file.is_file():
        raise ModelLoadError(
            f"'{directory}' is not an exported dcpt artifact (no {ARTIFACT_FILE}); "
            "export one with: dcpt-export MODEL --onnx -o DIR"
        )
    try:
        data = json.loads(info_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"'{info_file}' is not valid JSON: {str(exc)[:200]}") from None
    except OSError as exc:
        raise ModelLoadError(f"'{info_file}' cannot be read: {exc.strerror}") from None
    info = ArtifactInfo.from_dict(data)
    fmt = get_format(info.format)
    for name in (info.model_file, info.classifier_file):
        if not name:
            continue
        # The format's companion files (model.xml -> model.bin) must be there too.
        needed = [name, *(str(Path(name).with_suffix(s)) for s in fmt.extra_files)]
        for file in needed:
            if not (directory / file).is_file():
                raise ModelLoadError(
                    f"artifact '{directory}' lists '{name}' but '{file}' is missing"
                )
    return info


def write_artifact_info(directory: str | os.PathLike[str], info: ArtifactInfo) -> Path:
    """Write dcpt.json atomically (temp file, then rename)."""
    target = Path(directory) / ARTIFACT_FILE
    write_text_atomic(target, json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n")
    return target
