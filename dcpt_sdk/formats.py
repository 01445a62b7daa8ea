"""The one table of model formats and backends, read by the exporter, the loader, the CLIs and tests.

A *format* is how weights are stored (a torch checkpoint, an ONNX file, an OpenVINO IR, a TensorRT
plan); each format has exactly one runtime backend of the same name that executes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from dcpt_sdk.errors import UnsupportedOptionError

FormatName = Literal["torch", "onnx", "openvino", "tensorrt"]
Precision = Literal["fp32", "fp16", "bf16", "int8"]
BackendName = Literal["torch", "onnxruntime", "openvino", "tensorrt"]

PRECISIONS: tuple[Precision, ...] = get_args(Precision)


@dataclass(frozen=True)
class Format:
    """One row of the table.

    Attributes:
        name: format name (also the dcpt-export flag, e.g. --onnx).
        backend: the runtimes/ backend that runs it.
        model_file: file name of the model inside an artifact directory.
        extra_files: suffixes of companion files each model file needs beside it (model.xml ->
            model.bin); read_artifact checks they exist.
        precisions: precisions this format can be exported in / run at.
        export_options: keyword options the exporter accepts for this format (others are errors).
        python_module: the package imported to export/run it.
        pip_extra: the dcpt-sdk extra that installs that package.
        needs_gpu: True when the format only runs on an NVIDIA GPU.
    """

    name: FormatName
    backend: BackendName
    model_file: str
    extra_files: tuple[str, ...]
    precisions: tuple[Precision, ...]
    export_options: tuple[str, ...]
    python_module: str
    pip_extra: str
    needs_gpu: bool


FORMATS: tuple[Format, ...] = (
    Format(
        name="torch",
        backend="torch",
        model_file="model.safetensors",
        extra_files=(),
        precisions=("fp32", "fp16", "bf16"),
        export_options=(),
        python_module="torch",
        pip_extra="",
        needs_gpu=False,
    ),
    Format(
        name="onnx",
        backend="onnxruntime",
        model_file="model.onnx",
        extra_files=(),
        precisions=("fp32", "fp16", "int8"),
        export_options=("opset", "slim", "calib", "calib_count", "export_size", "dynamo"),
        python_module="onnxruntime",
        pip_extra="onnx",
        needs_gpu=False,
    ),
    Format(
        name="openvino",
        backend="openvino",
        model_file="model.xml",
        extra_files=(".bin",),
        precisions=("fp32", "fp16", "bf16", "int8"),
        export_options=("calib", "calib_count", "export_size"),
        python_module="openvino",
        pip_extra="openvino",
        needs_gpu=False,
    ),
    Format(
        name="tensorrt",
        backend="tensorrt",
        model_file="model.engine",
        extra_files=(),
        precisions=("fp32", "fp16", "int8"),
        export_options=("min_size", "opt_size", "max_size", "calib", "calib_count", "workspace_gb"),
        python_module="tensorrt",
        pip_extra="gpu",
        needs_gpu=True,
    ),
)


def get_format(name: str) -> Format:
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise UnsupportedOptionError(
        f"unknown format '{name}'; valid: {', '.join(f.name for f in FORMATS)}"
    )


def format_of_backend(backend: str) -> Format:
    for fmt in FORMATS:
        if fmt.backend == backend:
            return fmt
    raise UnsupportedOptionError(
        f"unknown backend '{backend}'; valid: auto, {', '.join(f.backend for f in FORMATS)}"
    )


def check_precision(fmt: Format, precision: str) -> Precision:
    if precision not in fmt.precisions:
        raise UnsupportedOptionError(
            f"{fmt.name} does not support precision '{precision}'; valid: {', '.join(fmt.precisions)}"
        )
    return precision  # type: ignore[return-value]
