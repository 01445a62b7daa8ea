"""The double's runtime half: Runtime, ICudaEngine, IExecutionContext.

An engine is a plan's ONNX graph in an onnxruntime session plus the plan's I/O and profiles. The
execution context checks input shapes against profile 0, infers output shapes, and
execute_async_v3 reads the inputs from the tensor addresses, runs the graph and writes the outputs
to their addresses: host memory where FakeGpus stands in for the GPU, device memory (through
torch and the CUDA array interface) where the double runs beside real CUDA.
"""

from __future__ import annotations

import ctypes
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .core import DataType, ILogger, Severity, Shape, TensorIOMode, nptype, onnx_session, read_plan

if TYPE_CHECKING:
    from . import RecordingTensorRT


class _CudaArray:
    """Device memory at an address, as torch.as_tensor reads it (CUDA array interface v2)."""

    def __init__(self, address: int, shape: Shape, dtype: Any) -> None:
        self.__cuda_array_interface__ = {
            "data": (address, False),
            "shape": shape,
            "typestr": np.dtype(dtype).str,
            "version": 2,
        }


def _host_array(address: int, shape: Shape, dtype: Any) -> np.ndarray:
    kind = np.dtype(dtype)
    count = math.prod(shape)
    buffer = (ctypes.c_char * (count * kind.itemsize)).from_address(address)
    return np.frombuffer(buffer, dtype=kind, count=count).reshape(shape)


def _read(double: RecordingTensorRT, address: int, shape: Shape, dtype: Any) -> np.ndarray:
    if not double.cuda_memory:
        return _host_array(address, shape, dtype).copy()
    import torch

    return torch.as_tensor(_CudaArray(address, shape, dtype), device="cuda").cpu().numpy()


def _write(double: RecordingTensorRT, address: int, values: np.ndarray) -> None:
    if not double.cuda_memory:
        np.copyto(_host_array(address, values.shape, values.dtype), values)
        return
    import torch

    target = torch.as_tensor(_CudaArray(address, values.shape, values.dtype), device="cuda")
    target.copy_(torch.from_numpy(np.ascontiguousarray(values)))


class Runtime:
    """trt.Runtime(logger); RecordingTensorRT binds ``double`` per instance."""

    double: RecordingTensorRT

    def __init__(self, logger: ILogger) -> None:
        self.logger = logger
        self.double.record("Runtime")

    def deserialize_cuda_engine(self, serialized_engine: bytes) -> ICudaEngine | None:
        self.double.record("deserialize_cuda_engine")
        try:
            header, graph = read_plan(bytes(serialized_engine))
        except ValueError:
            self.double.log(
                self.logger,
                Severity.ERROR,
                "Error Code 1: Serialization (Serialization assertion plan->header.magicTag == "
                "rt::kPLAN_MAGIC_TAG failed.)",
            )
            return None
        return ICudaEngine(self.double, self.logger, header, graph)


class ICudaEngine:
    """A plan's graph and I/O, on the CUDA device current when it was deserialized."""

    def __init__(
        self, double: RecordingTensorRT, logger: ILogger, header: dict[str, Any], graph: bytes
    ) -> None:
        self.double, self.logger = double, logger
        self.device = double.current_device()
        self.session = onnx_session(graph)
        self.io: dict[str, tuple[TensorIOMode, DataType, Shape]] = {}
        for mode, key in ((TensorIOMode.INPUT, "inputs"), (TensorIOMode.OUTPUT, "outputs")):
            for tensor in header[key]:
                self.io[tensor["name"]] = (mode, DataType[tensor["dtype"]], tuple(tensor["shape"]))
        self.profiles = [
            {name: tuple(tuple(shape) for shape in shapes) for name, shapes in profile.items()}
            for profile in header["profiles"]
        ]
        self._output_shapes: dict[tuple[Any, ...], dict[str, Shape]] = {}

    @property
    def num_io_tensors(self) -> int:
        return len(self.io)

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.profiles)

    def get_tensor_name(self, index: int) -> str:
        return list(self.io)[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return self.io[name][0] if name in self.io else TensorIOMode.NONE

    def get_tensor_dtype(self, name: str) -> DataType:
        return self.io[name][1]

    def get_tensor_shape(self, name: str) -> Shape:
        return self.io[name][2]

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Shape]:
        return list(self.profiles[profile_index].get(name, ()))

    def create_execution_context(self) -> IExecutionContext | None:
        self.double.record("create_execution_context")
        if not self.double.on_device(self.device, self.logger):
            return None
        return IExecutionContext(self)

    def inputs(self) -> list[str]:
        return [name for name, (mode, _, _) in self.io.items() if mode == TensorIOMode.INPUT]

    def output_shapes(self, shapes: dict[str, Shape]) -> dict[str, Shape]:
        """Output shapes for these input shapes: the graph run once on zeros, then cached.

        TensorRT computes them from the engine's shape graph; ONNX shape inference cannot (the
        classifier's batch axis comes out unknown), so the double runs the graph."""
        key = tuple(sorted(shapes.items()))
        if key not in self._output_shapes:
            feeds = {n: np.zeros(s, nptype(self.io[n][1])) for n, s in shapes.items()}
            self._output_shapes[key] = {
                name: tuple(values.shape) for name, values in self.run(feeds).items()
            }
        return self._output_shapes[key]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [n for n, (mode, _, _) in self.io.items() if mode == TensorIOMode.OUTPUT]
        return dict(zip(names, self.session.run(names, feeds), strict=True))


class IExecutionContext:
    """Input shapes and tensor addresses for one engine; execute_async_v3 computes."""

    def __init__(self, engine: ICudaEngine) -> None:
        self.engine, self.double = engine, engine.double
        self.shapes: dict[str, Shape] = {}
        self.addresses: dict[str, int] = {}
        for name in engine.inputs():
            if -1 not in engine.io[name][2]:  # static inputs are specified from the start
                self.shapes[name] = engine.io[name][2]

    def _error(self, message: str) -> bool:
        self.double.log(self.engine.logger, Severity.ERROR, message)
        return False

    def _missing(self) -> list[str]:
        return [name for name in self.engine.inputs() if name not in self.shapes]

    def set_input_shape(self, name: str, shape: Any) -> bool:
        dims = tuple(int(size) for size in shape)
        self.double.record("set_input_shape", (name, dims))
        if name not in self.engine.inputs():
            return self._error(f"Error Code 3: API Usage Error ({name} is not an input tensor.)")
        declared = self.engine.io[name][2]
        if len(dims) != len(declared) or any(
            fixed not in (-1, size) for fixed, size in zip(declared, dims, strict=True)
        ):
            return self._error(
                f"Error Code 3: API Usage Error (shape {list(dims)} of {name} does not match the "
                f"network's {list(declared)}.)"
            )
        bounds = self.engine.profiles[0].get(name) if self.engine.profiles else None
        for axis, size in enumerate(dims if bounds else ()):
            low, high = bounds[0][axis], bounds[2][axis]
            if not low <= size <= high:
                index = list(self.engine.io).index(name)
                return self._error(
                    "Error Code 3: API Usage Error (Parameter check failed, condition: "
                    f"profileMinDims.d[i] <= dimensions.d[i]. Supplied binding dimension "
                    f"{list(dims)} for bindings[{index}] exceed min ~ max range at index {axis}, "
                    f"maximum dimension in profile is {high}, minimum dimension in profile is "
                    f"{low}, but supplied dimension is {size}.)"
                )
        self.shapes[name] = dims
        return True

    def get_tensor_shape(self, name: str) -> Shape:
        mode, _, declared = self.engine.io[name]
        if mode == TensorIOMode.INPUT:
            return self.shapes.get(name, declared)
        if self._missing():
            return declared  # -1 where an unset input shape decides the size
        return self.engine.output_shapes(self.shapes)[name]

    def infer_shapes(self) -> list[str]:
        missing = self._missing()
        if not missing:
            self.engine.output_shapes(self.shapes)
        return missing

    @property
    def all_input_dimensions_specified(self) -> bool:
        return not self._missing()

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self.double.record("set_tensor_address", name)
        if name not in self.engine.io:
            return self._error(f"Error Code 3: API Usage Error ({name} is not an I/O tensor.)")
        self.addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self.addresses.get(name, 0)

    def execute_async_v3(self, stream_handle: int) -> bool:
        self.double.record("execute_async_v3", stream_handle)
        if not self.double.on_device(self.engine.device, self.engine.logger):
            return False
        if self._missing():
            return self._error(
                f"Error Code 3: API Usage Error (input shapes not specified: {self._missing()}.)"
            )
        for name, (mode, _, _) in self.engine.io.items():
            if not self.addresses.get(name):
                what = "input" if mode == TensorIOMode.INPUT else "output"
                return self._error(
                    f"Error Code 3: API Usage Error (Neither address or allocator is set for "
                    f"{what} tensor {name}. Call setTensorAddress before enqueue/execute.)"
                )
        feeds = {
            name: _read(self.double, self.addresses[name], shape, nptype(self.engine.io[name][1]))
            for name, shape in self.shapes.items()
        }
        for name, values in self.engine.run(feeds).items():
            _write(
                self.double, self.addresses[name], values.astype(nptype(self.engine.io[name][1]))
            )
        return True
