"""The one table of model formats and backends, read by the exporter, the loader, the CLIs and tests.

A *format* is how weights are stored (a torch checkpoint, an ONNX file, an OpenVINO IR, a TensorRT
plan); each format has exactly one runtime backend that executes it. Every fact that differs from
one format to another is a field of its row here: the code that builds or runs a format lives in
that format's own modules, which the row names by import path, so adding a format is one row plus
its modules. Callers read the table through the functions below at call time (never a copy taken
at import), so a row added later, e.g. by a test, is seen everywhere.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, get_args

from dcpt_sdk.errors import UnsupportedOptionError

FormatName = Literal["torch", "onnx", "openvino", "tensorrt"]
Precision = Literal["fp32", "fp16", "bf16", "int8"]
BackendName = Literal["torch", "onnxruntime", "openvino", "tensorrt"]

PRECISIONS: tuple[Precision, ...] = get_args(Precision)


@dataclass(frozen=True)
class TritonModel:
    """How Triton Inference Server serves a format (``dcpt-export --triton``, export/triton.py).

    Attributes:
        backend / platform: config.pbtxt's ``backend`` and ``platform`` ("" where none is set).
        kind: the instance group kind, "KIND_CPU" or "KIND_GPU".
        model_file: the file name Triton loads from a version folder; companion files (the
            format's extra_files) keep its stem.
        io_reader: "module:function" reading a model file's inputs and outputs (export/triton.py's
            ModelIO), from which config.pbtxt's tensors are written.
    """

    backend: str
    platform: str
    kind: Literal["KIND_CPU", "KIND_GPU"]
    model_file: str
    io_reader: str


@dataclass(frozen=True)
class Format:
    """One row of the table.

    Attributes:
        name: format name (also the dcpt-export flag, e.g. --onnx).
        backend: the backend name that runs it (Restorer(backend=...)).
        runtime: the module that runs it: ``is_available() -> bool`` and, for artifact formats,
            ``load_artifact(directory, info, device) -> Runtime``.
        model_file / classifier_file: the restorer's and the classifier's file names inside an
            artifact directory ("" where the format has no classifier file).
        extra_files: suffixes of companion files each model file needs beside it (model.xml ->
            model.bin); read_artifact refuses an artifact that lacks one.
        precisions: precisions this format can be exported in / run at.
        python_module: the package that runs it.
        pip_extra: the dcpt-sdk extra that installs that package ("" for the base install).
        needs_gpu: True when the format only runs on an NVIDIA GPU.
        builder: "module:function" writing the model files of an export (export/builders.py's
            Builder signature); None for a format that is not an export target.
        export_options: keyword options the exporter accepts for this format (others are errors).
        export_requires: packages an export needs, checked before any work and recorded with their
            versions in dcpt.json; int8_requires: the same, added for precision="int8".
        export_check: "module:function" that raises MissingDependencyError naming everything this
            machine lacks to export the format (a GPU, say), or None.
        verify_device: the device an export is verified on.
        cli_alias: a shorter dcpt-export flag besides --<name> ("--trt"), or "".
        auto_export: precisions ``backend="auto"`` exports a built-in model to once, into the
            user cache (dcpt_sdk/autoexport.py), on CPUs.
        conv_statistics: precisions whose exports take every LayerNorm2d's channel statistics as
            1x1 convolutions instead of ReduceMean (archs.layers.LayerNorm2d.conv_statistics;
            maps of up to 32 channels are centred by one C x C convolution): where
            that measured faster on the default model at 512x512 (benchmarks/test_graph_forms.py;
            AMD EPYC with avx512_bf16, no AMX: OpenVINO bf16 1.10-1.14x, ONNX Runtime fp32
            1.09-1.21x, OpenVINO fp32 0.87-0.97x). fp16 and int8 keep ReduceMean: their fp32
            islands and quantization exclusions are found by its pattern (export/onnx.py,
            export/quantize.py); TensorRT keeps it (no machine here has TensorRT to measure).
        triton: how Triton serves it, or None when it cannot.
    """

    name: FormatName
    backend: BackendName
    runtime: str
    model_file: str
    classifier_file: str
    extra_files: tuple[str, ...]
    precisions: tuple[Precision, ...]
    python_module: str
    pip_extra: str
    needs_gpu: bool
    builder: str | None = None
    export_options: tuple[str, ...] = ()
    export_requires: tuple[str, ...] = ()
    int8_requires: tuple[str, ...] = ()
    export_check: str | None = None
    verify_device: str = "cpu"
    cli_alias: str = ""
    auto_export: tuple[Precision, ...] = ()
    conv_statistics: tuple[Precision, ...] = ()
    triton: TritonModel | None = None

    @property
    def flags(self) -> tuple[str, ...]:
        """The dcpt-export flags that select this format, the short one last."""
        return (f"--{self.name}", *((self.cli_alias,) if self.cli_alias else ()))


# Every export starts from the same ONNX graph, verified by ONNX Runtime (export/builders.py).
_ONNX_PIPELINE = ("onnx", "onnxruntime")

FORMATS: tuple[Format, ...] = (
    Format(
        name="torch",
        backend="torch",
        runtime="dcpt_sdk.runtimes.torch_backend",
        model_file="model.safetensors",
        classifier_file="",
        extra_files=(),
        precisions=("fp32", "fp16", "bf16"),
        python_module="torch",
        pip_extra="",
        needs_gpu=False,
    ),
    Format(
        name="onnx",
        backend="onnxruntime",
        runtime="dcpt_sdk.runtimes.onnxruntime_backend",
        model_file="model.onnx",
        classifier_file="classifier.onnx",
        extra_files=(),
        precisions=("fp32", "fp16", "int8"),
        python_module="onnxruntime",
        pip_extra="onnx",
        needs_gpu=False,
        builder="dcpt_sdk.export.builders:build_onnx",
        export_options=("opset", "slim", "calib", "calib_count", "export_size", "dynamo"),
        export_requires=_ONNX_PIPELINE,
        auto_export=("fp32",),
        conv_statistics=("fp32",),
        triton=TritonModel(
            "onnxruntime",
            "onnxruntime_onnx",
            "KIND_CPU",
            "model.onnx",
            "dcpt_sdk.export.triton:read_onnx_io",
        ),
    ),
    Format(
        name="openvino",
        backend="openvino",
        runtime="dcpt_sdk.runtimes.openvino_backend",
        model_file="model.xml",
        classifier_file="classifier.xml",
        extra_files=(".bin",),
        precisions=("fp32", "fp16", "bf16", "int8"),
        python_module="openvino",
        pip_extra="openvino",
        needs_gpu=False,
        builder="dcpt_sdk.export.builders:build_openvino",
        export_options=("calib", "calib_count", "export_size"),
        export_requires=(*_ONNX_PIPELINE, "openvino"),
        int8_requires=("nncf",),
        # bf16 is exported only where the CPU computes it natively (autoexport checks).
        auto_export=("fp32", "bf16"),
        conv_statistics=("bf16",),
        triton=TritonModel(
            "openvino", "", "KIND_CPU", "model.xml", "dcpt_sdk.export.triton:read_openvino_io"
        ),
    ),
    Format(
        name="tensorrt",
        backend="tensorrt",
        runtime="dcpt_sdk.runtimes.tensorrt_backend",
        model_file="model.engine",
        classifier_file="classifier.engine",
        extra_files=(),
        precisions=("fp32", "fp16", "int8"),
        python_module="tensorrt",
        pip_extra="gpu",
        needs_gpu=True,
        builder="dcpt_sdk.export.builders:build_tensorrt",
        export_options=("min_size", "opt_size", "max_size", "calib", "calib_count", "workspace_gb"),
        export_requires=(*_ONNX_PIPELINE, "tensorrt"),
        export_check="dcpt_sdk.export.tensorrt:require_tensorrt",
        verify_device="cuda",
        cli_alias="--trt",
        triton=TritonModel(
            "tensorrt",
            "tensorrt_plan",
            "KIND_GPU",
            "model.plan",
            "dcpt_sdk.export.triton:read_tensorrt_io",
        ),
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


def export_formats() -> tuple[Format, ...]:
    """The formats dcpt_sdk.export can write (those with a builder), in table order."""
    return tuple(fmt for fmt in FORMATS if fmt.builder is not None)


def check_precision(fmt: Format, precision: str) -> Precision:
    if precision not in fmt.precisions:
        raise UnsupportedOptionError(
            f"{fmt.name} does not support precision '{precision}'; valid: {', '.join(fmt.precisions)}"
        )
    return precision  # type: ignore[return-value]


def resolve(reference: str) -> Any:
    """The object a table field names as "package.module:attribute", imported on first use (so
    reading the table never imports onnxruntime, openvino or tensorrt)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
