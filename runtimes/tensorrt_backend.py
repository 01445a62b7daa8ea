"""The TensorRT backend: deserializes model.engine and runs it on torch CUDA tensors.

Buffers are torch tensors on the engine's GPU; their data pointers are handed to the execution
context (``set_tensor_address``) and the engine runs on a torch CUDA stream, so no other CUDA
binding (pycuda, cuda-python) is needed. The engine's optimization profile (dcpt.json
``shape_profile``) bounds the input sizes; a batch larger than the profile's is run in chunks.
An execution context is not safe to share between threads: ``thread_safe`` is False and the
Restorer serialises calls.

Device scoping: TensorRT works on the CUDA runtime's *current* device. An engine's weights and a
context's activation memory are allocated there and enqueueV3 launches its kernels there, on a
stream that must belong to that device. So for cuda:N every step (deserialisation, context
creation, buffer allocation, execution, synchronisation) runs inside ``torch.cuda.device(N)``;
outside it, with cuda:0 current, cuda:1's context would get cuda:0 memory and its launches fail.
CudaDevice holds that scope, the engine's buffers and its stream; tests hand the runtime a
host-memory placement of the same shape instead (tests/fake_tensorrt, with the TensorRT double).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from dcpt_sdk._optional import is_available as _module_available
from dcpt_sdk._optional import require
from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.runtimes.base import ArtifactRuntime, ClassifierFile, restorer_output

__all__ = ["TensorRtRuntime", "CudaDevice", "Placement", "is_available", "load_artifact"]


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


class Placement(Protocol):
    """Where an engine lives: the scope its TensorRT calls run in, its buffers and stream."""

    name: str

    def scope(self) -> AbstractContextManager[None]: ...

    def buffer(self, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """A contiguous copy of ``tensor`` on this device, in ``dtype``."""
        ...

    def empty(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor: ...

    def stream_handle(self) -> int: ...

    def synchronize(self) -> None: ...

    def release(self) -> None: ...


class CudaDevice:
    """One CUDA device of torch's, with a stream of the engine's own on it."""

    def __init__(self, device: str) -> None:
        requested = torch.device(device).index
        # Plain "cuda" is the device current at load, fixed from then on: the engine's memory
        # stays where it was allocated even if the caller later switches devices.
        self.index = torch.cuda.current_device() if requested is None else requested
        count = torch.cuda.device_count()
        if self.index >= count:
            raise UnsupportedOptionError(
                f"tensorrt device '{device}' does not exist: torch sees {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
        self.name = f"cuda:{self.index}"
        self.device = torch.device("cuda", self.index)
        # Not the default stream: TensorRT warns that enqueueV3 on it costs extra device-wide
        # synchronisations.
        self.stream = torch.cuda.Stream(self.device)

    @contextmanager
    def scope(self) -> Iterator[None]:
        # Copies and allocations inside also go on self.stream, ordered with the engine's work.
        with torch.cuda.device(self.index), torch.cuda.stream(self.stream):
            yield

    def buffer(self, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return tensor.to(self.device, dtype).contiguous()

    def empty(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        return torch.empty(tuple(shape), device=self.device, dtype=dtype)

    def stream_handle(self) -> int:
        return int(self.stream.cuda_stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def release(self) -> None:
        torch.cuda.empty_cache()


def _torch_dtypes(trt: Any) -> dict[Any, torch.dtype]:
    # trt.nptype has no bfloat16, so map TensorRT's types directly.
    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    names |= {"int8": torch.int8, "int32": torch.int32, "int64": torch.int64}
    names |= {"bool": torch.bool, "uint8": torch.uint8}
    return {getattr(trt, name): dtype for name, dtype in names.items() if hasattr(trt, name)}


class _Engine:
    """One deserialized engine, its execution context and its I/O tensor names."""

    def __init__(self, trt: Any, path: Path, placement: Placement, max_outputs: int = 1) -> None:
        self.placement = placement
        self.file = path.name
        with placement.scope():
            runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                raise BackendError(
                    f"TensorRT {trt.__version__} cannot deserialize '{path}': plans run only on "
                    "the TensorRT version and GPU model they were built with; re-export it here "
                    "(dcpt-export MODEL --trt)"
                )
            context = engine.create_execution_context()
        if context is None:
            raise BackendError(
                f"TensorRT could not create an execution context for '{path.name}' on "
                f"{placement.name} (see the TensorRT log); free GPU memory or use another device"
            )
        self.engine, self.context = engine, context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or not 1 <= len(outputs) <= max_outputs:
            expected = "one output" if max_outputs == 1 else f"1 to {max_outputs} outputs"
            raise BackendError(
                f"'{path.name}' has inputs {inputs} and outputs {outputs}; this dcpt engine has "
                f"one image input and {expected}: re-export it with dcpt-export"
            )
        self.input, self.output_names = inputs[0], tuple(outputs)
        self.max_batch = int(engine.get_tensor_profile_shape(self.input, 0)[2][0])
        known = _torch_dtypes(trt)
        self.dtypes: dict[str, torch.dtype] = {}
        for name in names:
            dtype = engine.get_tensor_dtype(name)
            if dtype not in known:
                raise BackendError(f"'{path.name}' tensor '{name}' has type {dtype}, unsupported")
            self.dtypes[name] = known[dtype]

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        chunks = [self._run(chunk) for chunk in torch.split(batch, max(1, self.max_batch))]
        return {name: torch.cat([chunk[name] for chunk in chunks]) for name in self.output_names}

    def _run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        where = self.placement
        with where.scope():
            x = where.buffer(batch, self.dtypes[self.input])
            if not self.context.set_input_shape(self.input, tuple(x.shape)):
                raise BackendError(
                    f"input shape {tuple(x.shape)} is outside this engine's optimization "
                    "profile; tile smaller or re-export with larger --max-size"
                )
            outputs = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                if any(size < 0 for size in shape):
                    raise BackendError(f"TensorRT left the shape {shape} of '{name}' undetermined")
                outputs[name] = where.empty(shape, self.dtypes[name])
            self.context.set_tensor_address(self.input, x.data_ptr())
            for name, out in outputs.items():
                self.context.set_tensor_address(name, out.data_ptr())
            if not self.context.execute_async_v3(where.stream_handle()):
                raise BackendError(f"TensorRT execution failed on {where.name} (see its log)")
            where.synchronize()
            return {name: out.float() for name, out in outputs.items()}

    def close(self) -> None:
        # The context's and engine's device memory are freed on their own device.
        with self.placement.scope():
            self.context = None
            self.engine = None


class TensorRtRuntime(ArtifactRuntime):
    """A TensorRT plan on one CUDA device.

    Args:
        directory / info: the artifact (see runtimes.load_artifact).
        device: "auto" (the current CUDA device), "cuda" or "cuda:N".
        trt: the tensorrt module (tests pass the TensorRT double); default: import it.
        placement: makes the device's Placement from "cuda[:N]" (tests pass host memory);
            default: CudaDevice.
    """

    backend = "tensorrt"
    thread_safe = False

    def __init__(
        self,
        directory: Path,
        info: ArtifactInfo,
        device: str = "auto",
        *,
        trt: Any = None,
        placement: Callable[[str], Placement] | None = None,
    ) -> None:
        trt = trt if trt is not None else require("tensorrt", "the tensorrt backend")
        cuda = _cuda_device(device)
        where = placement(cuda) if placement is not None else CudaDevice(cuda)
        model = _Engine(trt, directory / info.model_file, where)
        # The classifier engine returns the logits and, since the one-pass export, the image.
        head = (
            _Engine(trt, directory / info.classifier_file, where, max_outputs=2)
            if info.classifier_file
            else None
        )
        classifier = ClassifierFile.of(head, info) if head is not None else None
        # The device as resolved ("cuda" -> "cuda:N"), so memory budgets ask the right GPU.
        super().__init__(
            info.spec, where.name, info.precision, restorer_output(model, info), classifier
        )
        self._engines = [engine for engine in (model, head) if engine is not None]
        self._placement = where
        self.batch_gain = model.max_batch > 1

    def close(self) -> None:
        super().close()
        for engine in self._engines:
            engine.close()
        self._engines = []
        self._placement.release()


def load_artifact(directory: Path, info: ArtifactInfo, device: str = "auto") -> TensorRtRuntime:
    """Open a TensorRT artifact directory (see runtimes.load_artifact)."""
    return TensorRtRuntime(Path(directory), info, device)
