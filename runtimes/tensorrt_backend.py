"""The TensorRT backend: deserializes model.engine and runs it on torch CUDA tensors.

Buffers are torch tensors on the engine's GPU; their data pointers are handed to the execution
context (``set_tensor_address``) and the engine runs on torch's current CUDA stream, so no other
CUDA binding (pycuda, cuda-python) is needed. The engine's optimization profile (dcpt.json
``shape_profile``) bounds the input sizes; a batch larger than the profile's is run in chunks.
An execution context is not safe to share between threads: ``thread_safe`` is False and the
Restorer serialises calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcpt_sdk._optional import is_available as _module_available
from dcpt_sdk._optional import require
from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.runtimes.base import ArtifactRuntime

__all__ = ["TensorRtRuntime", "is_available", "load_artifact"]


def is_available() -> bool:
    """True when tensorrt imports and torch sees a CUDA GPU."""
    return _module_available("tensorrt") and torch.cuda.is_available()


def _cuda_device(device: str) -> str:
    name = device.lower()
    if name == "auto":
        return "cuda"
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise UnsupportedOptionError(f"tensorrt device '{device}' is unknown; valid: auto, cuda[:N]")


class _Engine:
    """One deserialized engine, its execution context and its I/O tensor names."""

    def __init__(self, trt: Any, path: Path, device: str) -> None:
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with torch.cuda.device(device):
            self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BackendError(
                f"TensorRT {trt.__version__} cannot deserialize '{path}': plans run only on the "
                "TensorRT version and GPU model they were built with; re-export it here "
                "(dcpt-export MODEL --trt)"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.input, self.output = inputs[0], next(n for n in names if n not in inputs)
        self.max_batch = int(self.engine.get_tensor_profile_shape(self.input, 0)[2][0])
        self.dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}
        self.device = device

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(batch, max(1, self.max_batch))
        return torch.cat([self._run(chunk) for chunk in chunks])

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, self.dtypes[self.input]).contiguous()
        if not self.context.set_input_shape(self.input, tuple(x.shape)):
            raise BackendError(
                f"input shape {tuple(x.shape)} is outside this engine's optimization profile; "
                "tile smaller or re-export with larger --max-size"
            )
        shape = tuple(self.context.get_tensor_shape(self.output))
        out = torch.empty(shape, device=self.device, dtype=self.dtypes[self.output])
        self.context.set_tensor_address(self.input, x.data_ptr())
        self.context.set_tensor_address(self.output, out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT execution failed (see the TensorRT log)")
        stream.synchronize()
        return out.float()


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=trt.nptype(dtype))).dtype


class TensorRtRuntime(ArtifactRuntime):
    """A TensorRT plan on one CUDA device."""

    backend = "tensorrt"
    thread_safe = False

    def __init__(self, directory: Path, info: ArtifactInfo, device: str = "auto") -> None:
        trt = require("tensorrt", "the tensorrt backend")
        cuda = _cuda_device(device)
        model = _Engine(trt, directory / info.model_file, cuda)
        classifier = (
            _Engine(trt, directory / info.classifier_file, cuda) if info.classifier_file else None
        )
        super().__init__(info.spec, cuda, info.precision, model, classifier)
        self.batch_gain = model.max_batch > 1

    def close(self) -> None:
        super().close()
        torch.cuda.empty_cache()


def load_artifact(directory: Path, info: ArtifactInfo, device: str = "auto") -> TensorRtRuntime:
    """Open a TensorRT artifact directory (see runtimes.load_artifact)."""
    return TensorRtRuntime(Path(directory), info, device)
