"""The OpenVINO backend: runs model.xml/.bin on "CPU" or "GPU" with the recorded precision hint.

OpenVINO on CPUs with AMX (and AVX-512-BF16) runs bf16 unless told otherwise, so the inference
precision hint recorded in dcpt.json at export time (``runtime_hints["INFERENCE_PRECISION_HINT"]``:
"f32" for fp32, fp16-weight and int8 artifacts, "bf16" for bf16) is always applied, and the hint
the compiled model reports is kept as ``inference_precision``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcpt_sdk._optional import is_available as _module_available
from dcpt_sdk._optional import require
from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.runtimes.base import ArtifactRuntime, ClassifierFile, restorer_output

__all__ = ["OpenVinoRuntime", "is_available", "load_artifact", "ov_device", "PRECISION_HINT"]

PRECISION_HINT = "INFERENCE_PRECISION_HINT"
_DEFAULT_HINT = "f32"
_STATIC_SHAPES = 4


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
    """One model file, compiled once with dynamic shapes and again per input shape seen twice.

    Why: the IR has dynamic N/H/W (any image size), but OpenVINO's CPU plugin picks its
    kernels and memory layout once per static shape: on the default model at 512x512, bf16 ran
    ~1.4x faster compiled for 1x3x512x512 than dynamically (benchmarks/results/backend_speed.md).
    A static compile costs ~0.3 s, so a shape gets one only on its second call (folders of
    same-size photos, tiles, the autotune probe), and at most _STATIC_SHAPES are kept.
    InferRequests are per thread (they are not shareable).
    """

    def __init__(self, core: Any, path: Path, device: str, hint: str) -> None:
        self._core, self._path, self._device = core, path, device
        self._config = {PRECISION_HINT: hint}
        self.dynamic = _Entry(core.compile_model(core.read_model(str(path)), device, self._config))
        self.compiled = self.dynamic.compiled
        self.file = path.name
        # The IR keeps the ONNX graph's tensor names; outputs are read by them, never by index.
        self.output_names = tuple(port.get_any_name() for port in self.compiled.outputs)
        self._static: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self._seen: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()

    def _entry_for(self, shape: tuple[int, ...]) -> _Entry:
        with self._lock:
            if shape in self._static:
                self._static.move_to_end(shape)
                return self._static[shape]
            if shape not in self._seen:
                self._seen.add(shape)
                return self.dynamic
            model = self._core.read_model(str(self._path))
            model.reshape(list(shape))
            entry = _Entry(self._core.compile_model(model, self._device, self._config))
            self._static[shape] = entry
            if len(self._static) > _STATIC_SHAPES:
                self._static.popitem(last=False)
            return entry

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        array = np.ascontiguousarray(batch.detach().to("cpu", torch.float32).numpy())
        request = self._entry_for(tuple(array.shape)).request()
        request.infer({0: array})
        # Copies: the request's output buffers are reused by its next inference.
        return {
            name: torch.from_numpy(np.array(request.get_tensor(name).data, copy=True))
            for name in self.output_names
        }


class _Entry:
    """A compiled model and its InferRequest per calling thread (dropped with the entry)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self._local = threading.local()

    def request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request


class OpenVinoRuntime(ArtifactRuntime):
    """An exported OpenVINO IR artifact, compiled with its recorded inference precision hint."""

    backend = "openvino"
    thread_safe = True  # one InferRequest per thread
    # Peak RSS growth of one CPU inference of the default NAFNet: 435 bytes/pixel in fp32 and
    # 230 in bf16 at 512 and 1024 px, against torch eager's 1152 (72 x width 16); 0.5 keeps a
    # margin. Without it a 1024x1024 photo was cut into four 944 px tiles: 3.4x the work.
    activation_memory = 0.5

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
            ClassifierFile.of(_Compiled(core, directory / info.classifier_file, target, hint), info)
            if info.classifier_file
            else None
        )
        super().__init__(
            info.spec, target, info.precision, restorer_output(model, info), classifier
        )
        applied = model.compiled.get_property(PRECISION_HINT)
        self.inference_precision = str(getattr(applied, "to_string", applied.__str__)())
        self.batch_gain = target != "CPU"


def load_artifact(directory: Path, info: ArtifactInfo, device: str = "auto") -> OpenVinoRuntime:
    """Open an OpenVINO artifact directory (see runtimes.load_artifact)."""
    return OpenVinoRuntime(Path(directory), info, device)
