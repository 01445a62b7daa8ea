"""The ONNX Runtime backend: runs model.onnx (fp32, fp16 or Q/DQ int8) on CPU, CUDA or TensorRT EP.

onnxruntime-gpu lists the CUDA and TensorRT providers in ``get_available_providers()`` even where
their libraries cannot load; a session then logs an error and silently runs on the CPU. So the
providers a session really got (``session.get_providers()``) are checked after creating it, and a
device that was asked for explicitly but did not load is an error, not a silent fallback.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from dcpt_sdk._optional import is_available as _module_available
from dcpt_sdk._optional import require
from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.runtimes.base import ArtifactRuntime, ClassifierFile, restorer_output

__all__ = ["OnnxRuntimeRuntime", "is_available", "load_artifact", "providers_for"]

_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
_TENSORRT = "TensorrtExecutionProvider"


def is_available() -> bool:
    return _module_available("onnxruntime")


def _device_id(device: str) -> int:
    _, _, index = device.partition(":")
    if index and not index.isdigit():
        raise UnsupportedOptionError(f"bad device '{device}'; valid: cpu, cuda[:N], tensorrt[:N]")
    return int(index or 0)


def providers_for(device: str, available: list[str]) -> list[Any]:
    """Provider list for a device name: "cpu", "cuda[:N]", "tensorrt[:N]" or "auto".

    "auto" takes CUDA when the installed onnxruntime offers it, else the CPU.

    Raises:
        UnsupportedOptionError: unknown device, or a GPU device with a CPU-only onnxruntime.
    """
    name = device.lower()
    if name == "auto":
        name = "cuda" if _CUDA in available else "cpu"
    if name == "cpu":
        return [_CPU]
    kind = name.split(":")[0]
    wanted = {"cuda": _CUDA, "tensorrt": _TENSORRT}.get(kind)
    if wanted is None:
        raise UnsupportedOptionError(
            f"onnxruntime device '{device}' is unknown; valid: auto, cpu, cuda[:N], tensorrt[:N]"
        )
    if wanted not in available:
        raise UnsupportedOptionError(
            f"onnxruntime device '{device}' needs {wanted}, which this onnxruntime lacks "
            f"(it has {', '.join(available)}): pip install 'dcpt-sdk[gpu]' (onnxruntime-gpu "
            "replaces onnxruntime; never keep both)"
        )
    options = {"device_id": _device_id(name)}
    chain: list[Any] = [(wanted, options)]
    if wanted == _TENSORRT:
        chain.append((_CUDA, options))
    return [*chain, _CPU]


def _session(path: Path, device: str) -> Any:
    ort = require("onnxruntime", "the onnxruntime backend")
    providers = providers_for(device, ort.get_available_providers())
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    first = providers[0] if isinstance(providers[0], str) else providers[0][0]
    got = session.get_providers()
    if first not in got:
        message = (
            f"onnxruntime could not load {first} for device '{device}' and fell back to "
            f"{', '.join(got)} (missing CUDA/cuDNN/TensorRT libraries?)"
        )
        if device.lower() != "auto":
            raise BackendError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return session


class _Session:
    """One onnxruntime InferenceSession as a ModelFile (sessions are thread-safe)."""

    def __init__(self, path: Path, device: str) -> None:
        self.session = _session(path, device)
        self.file = path.name
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = tuple(output.name for output in self.session.get_outputs())

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        array = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        values = self.session.run(list(self.output_names), {self.input_name: array})
        return {
            name: torch.from_numpy(value)
            for name, value in zip(self.output_names, values, strict=True)
        }


class OnnxRuntimeRuntime(ArtifactRuntime):
    """An exported ONNX artifact in an onnxruntime InferenceSession.

    ``InferenceSession.run`` may be called from several threads at once (ONNX Runtime documents
    sessions as thread-safe), so one session serves every thread.
    """

    backend = "onnxruntime"
    thread_safe = True

    def __init__(self, directory: Path, info: ArtifactInfo, device: str = "auto") -> None:
        model = _Session(directory / info.model_file, device)
        providers = model.session.get_providers()
        resolved = "cpu" if providers[0] == _CPU else device.lower().replace("auto", "cuda")
        classifier = (
            ClassifierFile.of(_Session(directory / info.classifier_file, device), info)
            if info.classifier_file
            else None
        )
        super().__init__(
            info.spec, resolved, info.precision, restorer_output(model, info), classifier
        )
        self.providers = providers
        self.batch_gain = providers[0] != _CPU


def load_artifact(directory: Path, info: ArtifactInfo, device: str = "auto") -> OnnxRuntimeRuntime:
    """Open an ONNX artifact directory (see runtimes.load_artifact)."""
    return OnnxRuntimeRuntime(Path(directory), info, device)
