"""Per-format builders: write an artifact's model file(s) into a staging directory.

Every format starts from the same fp32 ONNX graph of the network (and of the classifier), so the
graph that ONNX Runtime verifies is the graph OpenVINO converts and TensorRT parses. Intermediate
files live in a scratch directory that is always removed. The formats table names each format's
builder (``Format.builder``) and the files it writes (``model_file``, ``classifier_file``); a
builder has the ``Builder`` signature and returns what it wrote as a ``Built``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.export import onnx as onnx_export
from dcpt_sdk.export.inputs import sample_crops, to_batch
from dcpt_sdk.export.quantize import DEFAULT_CALIB_COUNT
from dcpt_sdk.formats import Format, Precision, get_format
from dcpt_sdk.spec import ModelSpec, spec_of

__all__ = [
    "BuildOptions",
    "Built",
    "Builder",
    "SizeOption",
    "classifier_precision",
    "parse_size",
    "spec_of",
]

DEFAULT_EXPORT_SIZE = 64
# The export options every ONNX-derived builder reads; any other option a format accepts is its
# own builder's (BuildOptions.format_options), e.g. TensorRT's profile sizes.
_PIPELINE_OPTIONS = ("export_size", "opset", "slim", "dynamo", "calib", "calib_count")
SizeOption = int | Sequence[int] | str


def parse_size(name: str, value: SizeOption) -> tuple[int, int]:
    """An image size option: an int (square), a (height, width) pair, or "HxW"."""
    pair: Any = value
    if isinstance(value, str):
        pair = value.lower().split("x") if "x" in value.lower() else [value, value]
    elif isinstance(value, int):
        pair = (value, value)
    try:
        height, width = (int(v) for v in pair)
    except (TypeError, ValueError):
        raise UnsupportedOptionError(
            f"{name} must be a side (512), a (height, width) pair or 'HxW'; got {value!r}"
        ) from None
    if height < 1 or width < 1:
        raise UnsupportedOptionError(f"{name} must be positive; got {value!r}")
    return height, width


def classifier_precision(precision: Precision) -> Precision:
    """The classifier file's precision: the artifact's, except fp32 for int8 artifacts."""
    return "fp32" if precision == "int8" else precision


@dataclass(frozen=True)
class BuildOptions:
    """The export options of api.export, checked and with defaults filled in."""

    export_size: tuple[int, int] = (DEFAULT_EXPORT_SIZE, DEFAULT_EXPORT_SIZE)
    opset: int = onnx_export.DEFAULT_OPSET
    slim: bool = True
    dynamo: bool = False
    calib: Path | None = None
    calib_count: int = DEFAULT_CALIB_COUNT
    format_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, spec: ModelSpec, fmt: Format, options: Mapping[str, Any]) -> BuildOptions:
        """``options`` (already checked against ``fmt.export_options``) with defaults filled in;
        the options of the format's own builder are kept as given in ``format_options``."""
        size = parse_size("export_size", options.get("export_size", DEFAULT_EXPORT_SIZE))
        if size[0] % spec.pad_multiple or size[1] % spec.pad_multiple:
            raise UnsupportedOptionError(
                f"export_size {size[0]}x{size[1]} is not a multiple of this model's pad multiple "
                f"{spec.pad_multiple}"
            )
        calib = options.get("calib")
        return cls(
            export_size=size,
            opset=options.get("opset", onnx_export.DEFAULT_OPSET),
            slim=options.get("slim", True),
            dynamo=options.get("dynamo", False),
            calib=Path(calib) if calib is not None else None,
            calib_count=options.get("calib_count", DEFAULT_CALIB_COUNT),
            format_options={k: v for k, v in options.items() if k not in _PIPELINE_OPTIONS},
        )


@dataclass
class Built:
    """What a builder wrote, for dcpt.json."""

    classifier_file: str | None
    opset: int | None
    shape_profile: dict[str, Any]
    runtime_hints: dict[str, Any] = field(default_factory=dict)
    onnx_files: tuple[str, ...] = ()

    def finalize(self, directory: Path, facts: Mapping[str, Any]) -> None:
        """Write the artifact facts into the ONNX files' metadata_props (after verification)."""
        for name in self.onnx_files:
            model = onnx_export.load(directory / name)
            role = "classifier" if name == self.classifier_file else "restorer"
            onnx_export.set_metadata(model, facts, role)
            onnx_export.save(model, directory / name)


def _fp32_onnx(
    module: nn.Module,
    path: Path,
    spec: ModelSpec,
    options: BuildOptions,
    *,
    outputs: Sequence[str],
) -> Path:
    """Export ``module`` to fp32 ONNX at ``path`` (slimmed unless options.slim is False)."""
    crop = sample_crops([options.export_size], seed=7, degrade=False)[0]
    example = torch.from_numpy(to_batch(crop, spec))
    onnx_export.torch_to_onnx(
        module, path, example, opset=options.opset, dynamo=options.dynamo, outputs=outputs
    )
    if options.slim:
        onnx_export.save(onnx_export.slim(onnx_export.load(path)), path)
    return path


def _convert(
    fp32_path: Path, output: Path, precision: Precision, spec: ModelSpec, options: BuildOptions
) -> Path:
    """The fp32 ONNX at ``precision``: a copy, the fp16 graph, or the Q/DQ int8 graph."""
    if precision == "fp16":
        onnx_export.save(onnx_export.to_fp16(onnx_export.load(fp32_path)), output)
    elif precision == "int8":
        from dcpt_sdk.export.quantize import calibration_batches, quantize_onnx_qdq

        batches = calibration_batches(spec, options.calib, options.calib_count)
        quantize_onnx_qdq(fp32_path, output, batches)
    else:
        shutil.copyfile(fp32_path, output)
    return output


def _onnx_profile(spec: ModelSpec, options: BuildOptions) -> dict[str, Any]:
    return {
        "dynamic_axes": ["batch", "height", "width"],
        "multiple": spec.pad_multiple,
        "traced_at": [1, spec.in_channels, *options.export_size],
    }


def _onnx_graphs(
    network: nn.Module,
    classifier: nn.Module | None,
    scratch: Path,
    precision: Precision,
    options: BuildOptions,
) -> tuple[Path, Path | None]:
    """fp32-derived ONNX files of the restorer (at ``precision``) and the classifier (image ->
    logits and the restored image, one pass: export.onnx.CLASSIFIER_OUTPUTS)."""
    spec = spec_of(network)
    restorer = _fp32_onnx(
        network, scratch / "restorer.fp32.onnx", spec, options, outputs=onnx_export.RESTORER_OUTPUTS
    )
    restorer = _convert(restorer, scratch / "restorer.onnx", precision, spec, options)
    if classifier is None:
        return restorer, None
    head = _fp32_onnx(
        classifier,
        scratch / "classifier.fp32.onnx",
        spec,
        options,
        outputs=onnx_export.CLASSIFIER_OUTPUTS,
    )
    head = _convert(
        head, scratch / "classifier.onnx", classifier_precision(precision), spec, options
    )
    return restorer, head


def build_onnx(
    network: nn.Module,
    classifier: nn.Module | None,
    directory: Path,
    precision: Precision,
    options: BuildOptions,
) -> Built:
    fmt = get_format("onnx")
    with tempfile.TemporaryDirectory(prefix="dcpt-onnx-") as scratch:
        restorer, head = _onnx_graphs(network, classifier, Path(scratch), precision, options)
        shutil.copyfile(restorer, directory / fmt.model_file)
        if head is not None:
            shutil.copyfile(head, directory / fmt.classifier_file)
    head_file = fmt.classifier_file if head is not None else None
    return Built(
        classifier_file=head_file,
        opset=options.opset,
        shape_profile=_onnx_profile(spec_of(network), options),
        onnx_files=(fmt.model_file, *((head_file,) if head_file else ())),
    )


def build_openvino(
    network: nn.Module,
    classifier: nn.Module | None,
    directory: Path,
    precision: Precision,
    options: BuildOptions,
) -> Built:
    from dcpt_sdk.export.openvino import export_ir, runtime_hints
    from dcpt_sdk.export.quantize import calibration_batches

    spec, fmt = spec_of(network), get_format("openvino")
    with tempfile.TemporaryDirectory(prefix="dcpt-openvino-") as scratch:
        restorer, head = _onnx_graphs(network, classifier, Path(scratch), "fp32", options)
        batches = None
        if precision == "int8":
            batches = calibration_batches(spec, options.calib, options.calib_count)
        export_ir(restorer, directory / fmt.model_file, precision, batches)
        if head is not None:
            export_ir(head, directory / fmt.classifier_file, classifier_precision(precision))
    return Built(
        classifier_file=fmt.classifier_file if head is not None else None,
        opset=options.opset,
        shape_profile=_onnx_profile(spec, options),
        runtime_hints=runtime_hints(precision),
    )


def build_tensorrt(
    network: nn.Module,
    classifier: nn.Module | None,
    directory: Path,
    precision: Precision,
    options: BuildOptions,
) -> Built:
    from dcpt_sdk.export import tensorrt

    fmt, given = get_format("tensorrt"), options.format_options
    # Checked first: a bad profile fails before any ONNX export starts.
    sizes = {k: given.get(k, v) for k, v in tensorrt.DEFAULT_SIZES.items()}
    profile = tensorrt.shape_profile(spec_of(network), **sizes)
    workspace_gb = given.get("workspace_gb", tensorrt.DEFAULT_WORKSPACE_GB)
    with tempfile.TemporaryDirectory(prefix="dcpt-tensorrt-") as scratch:
        restorer, head = _onnx_graphs(network, classifier, Path(scratch), precision, options)
        tensorrt.build_engine(
            restorer,
            directory / fmt.model_file,
            profile,
            workspace_gb=workspace_gb,
            exact_fp32=precision == "fp32",
        )
        if head is not None:
            tensorrt.build_engine(
                head,
                directory / fmt.classifier_file,
                profile,
                workspace_gb=workspace_gb,
                exact_fp32=classifier_precision(precision) == "fp32",
            )
    return Built(
        classifier_file=fmt.classifier_file if head is not None else None,
        opset=options.opset,
        shape_profile=profile.to_dict(),
    )


# (network, classifier graph or None, staging directory, precision, options) -> what it wrote.
Builder = Callable[[nn.Module, nn.Module | None, Path, Precision, BuildOptions], Built]
