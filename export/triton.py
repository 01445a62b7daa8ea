"""A Triton Inference Server model repository from a verified artifact (``dcpt-export --triton``).

    REPO/<name>/config.pbtxt              the restorer: padded image -> restored image
    REPO/<name>/1/model.onnx              model.xml + model.bin (openvino), model.plan (tensorrt)
    REPO/<name>/1/dcpt.json, README.md    the artifact's facts: REPO/<name>/1 is an artifact too
    REPO/<name>-classifier/config.pbtxt   the DCPT degradation classifier: padded image -> logits
                                          and the restored image ("output"), one pass
    REPO/<name>-classifier/labels.txt     its class names, the logits output's label_filename
    REPO/<name>-classifier/1/model.onnx

Each config.pbtxt is Triton's own ModelConfig protobuf (tritonclient ships it) printed with
text_format, so it always parses. Tensor names, dtypes and dims come from the model file itself:
the ONNX graph, OpenVINO's read_model, and for a TensorRT plan the engine TensorRT deserializes
(its I/O tensors and profile 0, which bounds max_batch_size and the image sides). That needs
TensorRT and the GPU the plan was built for, which ``--trt`` needs anyway.

Pre- and post-processing stay a documented client step, the artifact's ``io`` contract: float32
NCHW RGB in [0, 1], reflect-pad bottom/right to the pad multiple, then crop, clip and round.
The configs' ``parameters`` carry what that step needs (``dcpt_pad_multiple``, pad mode and
sides, value range, the classifier model's name, the class names); backends ignore keys they do
not read. Not an ensemble with a Python-backend model: the crop needs the unpadded size, so a
server-side step would take a second tensor or encoded image bytes; every image would pass
through Triton's Python stub process (a copy each way) for a pad and a slice the client does
anyway while it converts its pixels to float; and tritonserver cannot run on this project's
machines, so that model would ship untested. The served models stay the verified tensor models.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcpt_sdk import formats
from dcpt_sdk._optional import require
from dcpt_sdk.artifact import CARD_FILE, ArtifactInfo, read_artifact, write_artifact_info
from dcpt_sdk.errors import BackendError, DcptError, UnsupportedOptionError
from dcpt_sdk.export.api import _readable_by_others, _staging  # the export's own atomic commit
from dcpt_sdk.export.contract import model_card
from dcpt_sdk.formats import Format, TritonModel, get_format, resolve
from dcpt_sdk.spec import ModelSpec

__all__ = [
    "CONFIG_FILE",
    "LABELS_FILE",
    "VERSION",
    "CPU_MAX_BATCH",
    "require_triton",
    "base_name",
    "model_name",
    "model_dirs",
    "check_model_dir",
    "write_triton_models",
    "ModelIO",
    "read_onnx_io",
    "read_openvino_io",
    "read_tensorrt_io",
]

CONFIG_FILE = "config.pbtxt"
LABELS_FILE = "labels.txt"
VERSION = "1"
CLASSIFIER_SUFFIX = "-classifier"
# The graphs take any batch; Triton needs a bound. 8 tiles of 512x512 are about 0.9 GB of
# activations at the 435 bytes/pixel OpenVINO's CPU plugin measured for the default model.
# No dynamic_batching block: batching gains nothing on CPU (the runtimes' batch_gain is False
# there), and Triton's batcher only merges requests of one image size anyway.
CPU_MAX_BATCH = 8
# The parameter that marks a model directory as written here (so a re-export may replace it).
_MARKER = "dcpt_format"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


Shape = tuple[int, ...]


@dataclass(frozen=True)
class _Tensor:
    """One model input or output: its name, Triton data type and full shape (-1: dynamic)."""

    name: str
    data_type: str
    shape: Shape


@dataclass(frozen=True)
class ModelIO:
    """A model file's inputs and outputs; a TensorRT engine's profile-0 (min, max) input shape."""

    inputs: list[_Tensor]
    outputs: list[_Tensor]
    profile: tuple[Shape, Shape] | None = None


def require_triton() -> Any:
    """Triton's ModelConfig protobuf module, or a MissingDependencyError naming the extra."""
    return require("tritonclient.grpc.model_config_pb2", "dcpt-export --triton")


def base_name(spec: ModelSpec) -> str:
    """The default name stem of a model's Triton models: its spec name, else its architecture."""
    return spec.name or spec.arch


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UnsupportedOptionError(
            f"'{name}' cannot be a Triton model name (a folder of the repository): use letters, "
            "digits, '_', '.', '-', starting with a letter or digit (--triton-name BASE)"
        )
    return name


def model_name(base: str, format: str, precision: str) -> str:
    """The restorer's Triton model name, ``<base>-<format>-<precision>`` (checked)."""
    return _checked_name(f"{base}-{format}-{precision}")


def model_dirs(repo: Path, name: str, with_classifier: bool) -> list[Path]:
    """The model folders written for ``name``: the restorer's, then the classifier's."""
    return [repo / name, *([repo / f"{name}{CLASSIFIER_SUFFIX}"] if with_classifier else [])]


def _written_here(directory: Path) -> bool:
    from google.protobuf import text_format

    pb = require_triton()
    try:
        text = (directory / CONFIG_FILE).read_text(encoding="utf-8")
        config = text_format.Parse(text, pb.ModelConfig())
    except (OSError, UnicodeDecodeError, text_format.ParseError):
        return False
    return _MARKER in config.parameters


def check_model_dir(directory: Path) -> bool:
    """Refuse a file or a folder that dcpt-export did not write; True when one it wrote is
    there and will be replaced (callers say so)."""
    if directory.exists() and not directory.is_dir():
        raise UnsupportedOptionError(f"Triton model folder '{directory}' is a file")
    if not directory.is_dir() or not any(directory.iterdir()):
        return False
    if not _written_here(directory):
        raise UnsupportedOptionError(
            f"'{directory}' exists and is not a Triton model written by dcpt-export (its "
            f"{CONFIG_FILE} has no {_MARKER} parameter); refusing to replace it: remove it or "
            "choose another --triton-name"
        )
    return True


def _triton_type(dtype: Any, what: str) -> str:
    from tritonclient.utils import np_to_triton_dtype

    name = np_to_triton_dtype(dtype)
    if name is None:
        raise DcptError(f"{what} has dtype {dtype}, which Triton has no type for")
    return f"TYPE_{name}"


def read_onnx_io(path: Path) -> ModelIO:
    """An ONNX file's graph inputs (weights excluded) and outputs."""
    onnx = require("onnx", "dcpt-export --triton")
    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {initializer.name for initializer in graph.initializer}

    def tensor(value: Any) -> _Tensor:
        typed = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(typed.elem_type)
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in typed.shape.dim)
        return _Tensor(value.name, _triton_type(dtype, f"'{value.name}' of {path.name}"), shape)

    inputs = [tensor(value) for value in graph.input if value.name not in weights]
    return ModelIO(inputs, [tensor(value) for value in graph.output])


def read_openvino_io(path: Path) -> ModelIO:
    """An OpenVINO IR's inputs and outputs, as read_model sees them."""
    ov = require("openvino", "dcpt-export --triton")
    model = ov.Core().read_model(str(path))

    def tensor(port: Any) -> _Tensor:
        name = port.get_any_name()
        shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
        dtype = port.get_element_type().to_dtype()
        return _Tensor(name, _triton_type(dtype, f"'{name}' of {path.name}"), shape)

    return ModelIO(
        [tensor(port) for port in model.inputs], [tensor(port) for port in model.outputs]
    )


def read_tensorrt_io(path: Path) -> ModelIO:
    """The engine's own I/O: the tensors TensorRT lists after deserializing the plan."""
    import numpy as np

    from dcpt_sdk.export import tensorrt as trt_export

    trt = trt_export.require_tensorrt()
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise BackendError(
            f"TensorRT {trt.__version__} cannot deserialize '{path.name}': plans open only with "
            "the TensorRT version and GPU model they were built with; re-export it here"
        )
    inputs: list[_Tensor] = []
    outputs: list[_Tensor] = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
        shape = tuple(engine.get_tensor_shape(name))
        tensor = _Tensor(name, _triton_type(dtype, f"'{name}' of {path.name}"), shape)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        (inputs if is_input else outputs).append(tensor)
    low, _, high = engine.get_tensor_profile_shape(inputs[0].name, 0)
    return ModelIO(inputs, outputs, (tuple(low), tuple(high)))


def _served_by(fmt: Format) -> TritonModel:
    if fmt.triton is None:
        raise UnsupportedOptionError(f"Triton cannot serve {fmt.name} models")
    return fmt.triton


def _parameters(info: ArtifactInfo, io_of_file: ModelIO) -> dict[str, str]:
    """What the client step needs, as config parameters (Triton passes these to the client in
    the model config; no backend reads ``dcpt_*`` keys)."""
    io = info.io
    bottom, top = info.spec.value_range
    parameters = {
        _MARKER: info.format,
        "dcpt_precision": info.precision,
        "dcpt_layout": str(io["layout"]),
        "dcpt_color_order": str(io["color_order"]),
        "dcpt_value_range": f"{bottom},{top}",
        "dcpt_pad_multiple": str(io["pad_multiple"]),
        "dcpt_pad_mode": str(io["pad_mode"]),
        "dcpt_pad_sides": str(io["pad_sides"]),
    }
    if io_of_file.profile is not None:  # requests outside the engine's profile fail: tile
        low, high = io_of_file.profile
        parameters["dcpt_min_size"] = f"{low[2]}x{low[3]}"
        parameters["dcpt_max_size"] = f"{high[2]}x{high[3]}"
    if info.format == "openvino" and info.runtime_hints.get("INFERENCE_PRECISION_HINT") == "bf16":
        parameters["HINT_BF16"] = "YES"  # the OpenVINO backend's one precision parameter
    return parameters


def _config_text(
    name: str, format: str, io: ModelIO, parameters: Mapping[str, str], labelled: str = ""
) -> str:
    from google.protobuf import text_format

    pb = require_triton()
    backend = _served_by(get_format(format))
    # A TensorRT engine's profile bounds the batch; the CPU graphs take any.
    max_batch = io.profile[1][0] if io.profile is not None else CPU_MAX_BATCH
    config = pb.ModelConfig(
        name=name, backend=backend.backend, platform=backend.platform, max_batch_size=max_batch
    )
    for tensor in (*io.inputs, *io.outputs):
        if not tensor.shape or tensor.shape[0] != -1:  # exports always have a dynamic batch axis
            raise DcptError(
                f"'{tensor.name}' of {name} has shape {list(tensor.shape)}, not a dynamic batch "
                "axis first; re-export it with dcpt-export"
            )
    for tensor in io.inputs:
        config.input.add(
            name=tensor.name, data_type=pb.DataType.Value(tensor.data_type), dims=tensor.shape[1:]
        )
    for tensor in io.outputs:
        config.output.add(
            name=tensor.name,
            data_type=pb.DataType.Value(tensor.data_type),
            dims=tensor.shape[1:],
            # Class names label the logits only (Triton's classification extension reads them),
            # never the classifier's restored image.
            label_filename=LABELS_FILE if labelled and tensor.name == labelled else "",
        )
    # One instance: ONNX Runtime and OpenVINO already spread one request over every core, and a
    # TensorRT engine fills its GPU at 512 px.
    config.instance_group.add(kind=pb.ModelInstanceGroup.Kind.Value(backend.kind), count=1)
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    return str(text_format.MessageToString(config))


def _served_info(info: ArtifactInfo) -> ArtifactInfo:
    """dcpt.json for the restorer's version folder: its file under Triton's name, no classifier
    (that is a model of its own), so the folder opens as an artifact (Restorer(REPO/name/1))."""
    io = {key: value for key, value in info.io.items() if key != "classifier"}
    return dataclasses.replace(
        info,
        model_file=_served_by(get_format(info.format)).model_file,
        classifier_file=None,
        classifier_precision=None,
        classifier_parity={},
        io=io,
    )


def _write_model(
    target: Path,
    directory: Path,
    source: str,
    info: ArtifactInfo,
    config: str,
    labels: tuple[str, ...] = (),
    served: ArtifactInfo | None = None,
) -> None:
    """One model folder, staged beside ``target`` and renamed into place (api._staging)."""
    fmt = get_format(info.format)
    triton_file = Path(_served_by(fmt).model_file)
    with _staging(target) as staging:
        version = staging / VERSION
        version.mkdir()
        for suffix in ("", *fmt.extra_files):  # model.xml -> model.bin too
            name = Path(source).with_suffix(suffix) if suffix else Path(source)
            copied = triton_file.with_suffix(suffix) if suffix else triton_file
            shutil.copyfile(directory / name, version / copied)
        (staging / CONFIG_FILE).write_text(config, encoding="utf-8")
        if labels:
            (staging / LABELS_FILE).write_text("\n".join(labels) + "\n", encoding="utf-8")
        if served is not None:
            write_artifact_info(version, served)
            (version / CARD_FILE).write_text(model_card(served.to_dict()), encoding="utf-8")
        _readable_by_others(staging)


def write_triton_models(
    artifact: str | os.PathLike[str], repo: str | os.PathLike[str], name: str | None = None
) -> list[Path]:
    """Write a verified artifact into a Triton model repository.

    Args:
        artifact: an artifact directory written by ``dcpt_sdk.export.export`` (onnx, openvino or
            tensorrt).
        repo: the model repository (created if missing; other models in it are left alone).
        name: the restorer's model name (default ``<spec name>-<format>-<precision>``); the
            classifier, when the artifact has one, is ``<name>-classifier``.

    Returns:
        The model folders written: the restorer's, then the classifier's.

    Raises:
        UnsupportedOptionError: an unverified artifact, a bad name, or a folder in the way that
            dcpt-export did not write.
        MissingDependencyError: tritonclient (``pip install 'dcpt-sdk[triton]'``) is missing.

    Example:
        >>> write_triton_models("exported/onnx-fp32", "models")
        [PosixPath('models/dcpt-nafnet-w16-7d-onnx-fp32'), ...]
    """
    require_triton()
    directory, repository = Path(artifact), Path(repo)
    info = read_artifact(directory)
    fmt = get_format(info.format)
    if fmt.triton is None:
        served = [f.name for f in formats.FORMATS if f.triton is not None]
        raise UnsupportedOptionError(
            f"'{directory}' is a {info.format} artifact; Triton models are written from "
            f"{', '.join(served)} artifacts"
        )
    if not info.parity:
        raise UnsupportedOptionError(
            f"'{directory}' has no parity figures (not verified at export); export it with "
            "dcpt-export, which verifies before it writes"
        )
    if name is None:
        name = model_name(base_name(info.spec), info.format, info.precision)
    _checked_name(name)
    if repository.exists() and not repository.is_dir():
        raise UnsupportedOptionError(f"Triton repository '{repository}' is a file")
    targets = model_dirs(repository, name, info.classifier_file is not None)
    for target in targets:  # every folder before the first is written
        check_model_dir(target)
    _warn_unenforced_precision(info)
    read: Callable[[Path], ModelIO] = resolve(fmt.triton.io_reader)
    restorer_io = read(directory / info.model_file)
    parameters = _parameters(info, restorer_io)
    if info.classifier_file:  # written first: the restorer's config names it
        head_io = read(directory / info.classifier_file)
        head = _parameters(info, head_io)
        head["dcpt_activation"] = str(info.io["classifier"]["activation"])
        head["dcpt_classes"] = ",".join(info.spec.degradation_classes)
        logits = str(info.io["classifier"]["output_name"])
        image = info.io["classifier"].get("image_output_name")
        if image is not None and image in {tensor.name for tensor in head_io.outputs}:
            head["dcpt_image_output"] = str(image)  # the same pass's restored image
        config = _config_text(targets[1].name, info.format, head_io, head, labelled=logits)
        labels = info.spec.degradation_classes
        _write_model(targets[1], directory, info.classifier_file, info, config, labels)
        parameters["dcpt_classifier_model"] = targets[1].name
    config = _config_text(name, info.format, restorer_io, parameters)
    _write_model(targets[0], directory, info.model_file, info, config, served=_served_info(info))
    return targets


def _warn_unenforced_precision(info: ArtifactInfo) -> None:
    """Triton's OpenVINO backend can ask for bf16 (HINT_BF16) but never for f32, and OpenVINO
    ignores a precision hint stored in the IR's rt_info (tried with 2026.4): an f32 artifact
    then runs at the CPU plugin's default, bf16 on CPUs with bf16 arithmetic."""
    if info.format == "openvino" and info.runtime_hints.get("INFERENCE_PRECISION_HINT") == "f32":
        warnings.warn(
            f"Triton's OpenVINO backend cannot pass INFERENCE_PRECISION_HINT=f32: on CPUs with "
            f"bf16 arithmetic (AVX512_BF16, AMX) it runs this {info.precision} model in bf16, "
            "outside the parity measured at export; serve the ONNX model, or export "
            "--precision bf16 to serve what was measured",
            UserWarning,
            stacklevel=3,
        )
