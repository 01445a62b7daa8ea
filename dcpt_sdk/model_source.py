"""Turn what the caller gave as ``model`` into a running backend (a runtimes.base.Runtime).

``model`` may be a torch network with a spec, a checkpoint file, an artifact directory from
dcpt-export (or a folder of several, one per format/precision), or a built-in zoo name.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from dcpt_sdk import zoo
from dcpt_sdk.artifact import ArtifactInfo, is_artifact_dir, read_artifact
from dcpt_sdk.checkpoint import CHECKPOINT_SUFFIXES, load_model
from dcpt_sdk.errors import MissingDependencyError, ModelLoadError, UnsupportedOptionError
from dcpt_sdk.formats import Precision, format_of_backend, get_format
from dcpt_sdk.runtimes import available_backends, load_artifact
from dcpt_sdk.runtimes.base import Runtime
from dcpt_sdk.runtimes.torch_backend import TorchRuntime

__all__ = ["open_runtime", "BACKEND_PREFERENCE"]

# "auto" picks the first available of these among the verified artifacts at hand: the order
# measured on this project's CPUs (deployment-notes, benchmarks/results/backend_speed.md) and
# GPUs: TensorRT, then OpenVINO (bf16 beats int8 on AMX CPUs), then ONNX Runtime, then torch.
BACKEND_PREFERENCE: tuple[tuple[str, str], ...] = (
    ("tensorrt", "int8"),
    ("tensorrt", "fp16"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
    ("openvino", "fp16"),
    ("openvino", "fp32"),
    ("onnxruntime", "fp32"),
    ("onnxruntime", "fp16"),
    ("onnxruntime", "int8"),
    ("tensorrt", "fp32"),
    ("torch", "fp32"),
)


def _check_backend_name(backend: str) -> None:
    if backend != "auto":
        format_of_backend(backend)  # raises with the valid names


def open_runtime(
    model: str | os.PathLike[str] | nn.Module,
    *,
    backend: str = "auto",
    device: str = "auto",
    precision: Precision | None = None,
) -> Runtime:
    """Open ``model`` on ``backend`` (see Restorer for the accepted values)."""
    _check_backend_name(backend)
    if isinstance(model, nn.Module):
        return _torch_runtime(model, backend, device, precision)
    if not isinstance(model, str | os.PathLike):
        raise ModelLoadError(
            f"model must be a name, a path or a torch module, got {type(model).__name__}"
        )
    path = Path(model)
    if path.is_dir():
        return _open_directory(path, backend, device, precision)
    if path.is_file() or path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return _torch_runtime(load_model(path), backend, device, precision)
    if os.sep in str(model) or (os.altsep and os.altsep in str(model)):
        raise ModelLoadError(f"'{model}' does not exist (no such file or artifact directory)")
    return _torch_runtime(load_model(zoo.model_path(str(model))), backend, device, precision)


def _torch_runtime(
    module: nn.Module, backend: str, device: str, precision: Precision | None
) -> Runtime:
    if backend not in ("auto", "torch"):
        raise UnsupportedOptionError(
            f"a checkpoint runs on the torch backend; for '{backend}' export it first: "
            f"dcpt-export MODEL --{_format_flag(backend)} -o DIR, then Restorer(DIR)"
        )
    return TorchRuntime(module, device=device, precision=precision or "fp32")


def _format_flag(backend: str) -> str:
    name = format_of_backend(backend).name
    return "trt" if name == "tensorrt" else name


def _artifact_dirs(path: Path) -> list[Path]:
    if is_artifact_dir(path):
        return [path]
    found = sorted(child for child in path.iterdir() if child.is_dir() and is_artifact_dir(child))
    if not found:
        raise ModelLoadError(
            f"'{path}' is neither an exported artifact (no dcpt.json) nor a folder of them; "
            "export one with: dcpt-export MODEL --onnx -o DIR"
        )
    return found


def _open_directory(path: Path, backend: str, device: str, precision: Precision | None) -> Runtime:
    candidates = [(d, read_artifact(d)) for d in _artifact_dirs(path)]
    chosen = _choose(candidates, backend, precision)
    directory, info = chosen
    return load_artifact(directory, info, device)


def _choose(
    candidates: list[tuple[Path, ArtifactInfo]], backend: str, precision: Precision | None
) -> tuple[Path, ArtifactInfo]:
    usable = [
        (d, info)
        for d, info in candidates
        if (backend == "auto" or get_format(info.format).backend == backend)
        and (precision is None or info.precision == precision)
    ]
    if not usable:
        have = ", ".join(f"{info.format}/{info.precision}" for _, info in candidates)
        raise UnsupportedOptionError(
            f"no exported artifact matches backend={backend!r} precision={precision!r}; "
            f"available here: {have}"
        )
    if len(usable) == 1:
        return usable[0]  # load_artifact names the missing package if it cannot run here
    present = set(available_backends())
    ranked = sorted(
        (
            (_rank(get_format(info.format).backend, info.precision), d, info)
            for d, info in usable
            if get_format(info.format).backend in present
        ),
        key=lambda item: item[0],
    )
    if not ranked:
        missing = sorted({get_format(info.format).pip_extra for _, info in usable})
        raise MissingDependencyError(
            "none of the exported artifacts can run on this machine: pip install "
            + " or ".join(f"'dcpt-sdk[{extra}]'" for extra in missing)
        )
    return ranked[0][1], ranked[0][2]


def _rank(backend: str, precision: str) -> int:
    try:
        return BACKEND_PREFERENCE.index((backend, precision))
    except ValueError:
        return len(BACKEND_PREFERENCE)
