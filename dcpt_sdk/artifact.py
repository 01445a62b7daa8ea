"""An exported artifact: a directory holding model file(s) and ``dcpt.json``.

``dcpt.json`` carries the ModelSpec plus the export facts (format, precision, opset, dynamic-shape
profile, tool versions and the parity figures measured at export time), so a runtime never guesses.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dcpt_sdk.errors import ModelLoadError
from dcpt_sdk.formats import FormatName, Precision, get_format
from dcpt_sdk.spec import ModelSpec

__all__ = [
    "ARTIFACT_FILE",
    "ArtifactInfo",
    "is_artifact_dir",
    "read_artifact",
    "write_artifact_info",
]

ARTIFACT_FILE = "dcpt.json"
ARTIFACT_VERSION = 1


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
    opset: int | None = None
    shape_profile: Mapping[str, Any] = field(default_factory=dict)
    runtime_hints: Mapping[str, Any] = field(default_factory=dict)
    tool_versions: Mapping[str, str] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    classifier_parity: Mapping[str, Any] = field(default_factory=dict)
    artifact_version: int = ARTIFACT_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactInfo:
        values = dict(data)
        version = int(values.get("artifact_version", ARTIFACT_VERSION))
        if version > ARTIFACT_VERSION:
            raise ModelLoadError(
                f"artifact version {version} is newer than this dcpt-sdk reads ({ARTIFACT_VERSION}): "
                "pip install -U dcpt-sdk"
            )
        try:
            values["spec"] = ModelSpec.from_dict(values["spec"])
            get_format(values["format"])
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(f"{ARTIFACT_FILE} is incomplete or malformed: {exc}") from exc


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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"'{info_file}' is not valid JSON: {exc}") from exc
    info = ArtifactInfo.from_dict(data)
    for name in (info.model_file, info.classifier_file):
        if name and not (directory / name).is_file():
            raise ModelLoadError(f"artifact '{directory}' lists '{name}' but the file is missing")
    return info


def write_artifact_info(directory: str | os.PathLike[str], info: ArtifactInfo) -> Path:
    """Write dcpt.json atomically (temp file, then rename)."""
    target = Path(directory) / ARTIFACT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=".dcpt.", suffix=".json.tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(info.to_dict(), stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
