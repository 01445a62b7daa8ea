"""The OpenVINO backend: runs model.xml/.bin on "CPU" or "GPU" with the recorded precision hint.

OpenVINO on CPUs with AMX (and AVX-512-BF16) runs bf16 unless told otherwise, so the inference
precision hint recorded in dcpt.json at export time (``runtime_hints["INFERENCE_PRECISION_HINT"]``:
"f32" for fp32, fp16-weight and int8 artifacts, "bf16" for bf16) is always applied, and the hint
the compiled model reports is kept as ``inference_precision``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcpt_sdk._optional import is_available as _module_available
from dcpt_sdk._optional import require
from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.runtimes.base import ArtifactRuntime

__all__ = ["OpenVinoRuntime", "is_available", "load_artifact", "ov_device", "PRECISION_HINT"]

PRECISION_HINT = "INFERENCE_PRECISION_HINT"
_DEFAULT_HINT = "f32"


def is_available() -> bool:
    return _module_available("openvino")


def ov_device(device: str) -> str:
    """dcpt device names -> OpenVINO's: "auto"/"cpu" -> "CPU", "gpu[.N]" -> "GPU[.N]"."""
    name = device.strip()
    if name.lower() in ("auto", "cpu"):
        return "CPU"
    if name.upper().startswith("GPU"):
        return name.upper()
    raise UnsupportedOptionError(
        f"openvino device '{device}' is unknown; valid: auto, cpu, GPU, GPU.N "
        "(OpenVINO's GPU plugin runs Intel GPUs; for NVIDIA GPUs use onnx or tensorrt)"
    )


class _Compiled:
    """One compiled model with an InferRequest per calling thread (requests are not shareable)."""

    def __init__(self, core: Any, path: Path, device: str, hint: str) -> None:
        model = core.read_model(str(path))
        self.compiled = core.compile_model(model, device, {PRECISION_HINT: hint})
        self._local = threading.local()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        array = np.ascontiguousarray(batch.detach().to("cpu", torch.float32).numpy())
        request.infer({0: array})
        return torch.from_numpy(np.array(request.get_output_tensor(0).data, copy=True))


class OpenVinoRuntime(ArtifactRuntime):
    """An exported OpenVINO IR artifact, compiled with its recorded inference precision hint."""

    backend = "openvino"
    thread_safe = True  # one InferRequest per thread

    def __init__(self, directory: Path, info: ArtifactInfo, device: str = "auto") -> None:
        ov = require("openvino", "the openvino backend")
        target = ov_device(device)
        hint = str(info.runtime_hints.get(PRECISION_HINT, _DEFAULT_HINT))
        core = ov.Core()
        if (
            target not in core.available_devices
            and target.split(".")[0] not in core.available_devices
        ):
            raise UnsupportedOptionError(
                f"OpenVINO device '{target}' is not present here; available: "
                f"{', '.join(core.available_devices)}"
            )
        model = _Compiled(core, directory / info.model_file, target, hint)
        classifier = (
            _Compiled(core, directory / info.classifier_file, target, hint)
            if info.classifier_file
            else None
        )
        super().__init__(info.spec, target, info.precision, model, classifier)
        applied = model.compiled.get_property(PRECISION_HINT)
        self.inference_precision = str(getattr(applied, "to_string", applied.__str__)())
        self.batch_gain = target != "CPU"


def load_artifact(directory: Path, info: ArtifactInfo, device: str = "auto") -> OpenVinoRuntime:
    """Open an OpenVINO artifact directory (see runtimes.load_artifact)."""
    return OpenVinoRuntime(Path(directory), info, device)
