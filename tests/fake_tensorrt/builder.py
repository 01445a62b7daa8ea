"""The double's builder half: network, ONNX parser, optimization profiles, config, Builder.

The parser reads the ONNX bytes with onnx, so the network has the graph's real I/O; the builder
validates the inputs against the profiles as TensorRT's network validation does, checks that
onnxruntime can build the graph, and returns a plan embedding the graph and the profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core import (
    ONNX_TYPES,
    BuilderFlag,
    DataType,
    ErrorCode,
    ILogger,
    MemoryPoolType,
    NetworkDefinitionCreationFlag,
    Severity,
    Shape,
    onnx_session,
    write_plan,
)

if TYPE_CHECKING:
    from . import RecordingTensorRT


@dataclass(frozen=True)
class ITensor:
    name: str
    shape: Shape
    dtype: DataType
    is_network_input: bool


class INetworkDefinition:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.inputs: list[ITensor] = []
        self.outputs: list[ITensor] = []
        self.onnx: bytes | None = None  # what the parser read, embedded in the plan

    def get_flag(self, flag: NetworkDefinitionCreationFlag) -> bool:
        return bool(self.flags >> int(flag) & 1)

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_input(self, index: int) -> ITensor:
        return self.inputs[index]

    def get_output(self, index: int) -> ITensor:
        return self.outputs[index]


@dataclass(frozen=True)
class ParserError:
    _code: ErrorCode
    _desc: str
    _func: str

    def code(self) -> ErrorCode:
        return self._code

    def desc(self) -> str:
        return self._desc

    def func(self) -> str:
        return self._func

    def node(self) -> int:
        return -1

    def __str__(self) -> str:  # python/src/parsers/pyOnnx.cpp, parserErrorStr
        text = f"({self._func}): {self._code.name}: {self._desc}"
        if self._code == ErrorCode.MODEL_DESERIALIZE_FAILED:
            return text
        return f"In node -1 with name:  and operator:  {text}"


def _tensor(value: Any, is_input: bool) -> ITensor:
    kind = value.type.tensor_type
    if kind.elem_type not in ONNX_TYPES:
        raise ValueError(f"Unsupported ONNX data type for '{value.name}': {kind.elem_type}")
    if not kind.HasField("shape"):
        raise ValueError(f"'{value.name}' has no shape; TensorRT needs the rank of every I/O")
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim)
    return ITensor(value.name, dims, ONNX_TYPES[kind.elem_type], is_input)


class OnnxParser:
    """trt.OnnxParser(network, logger); RecordingTensorRT binds ``double`` per instance."""

    double: RecordingTensorRT

    def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
        self.network, self.logger = network, logger
        self.errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> ParserError:
        return self.errors[index]

    def clear_errors(self) -> None:
        self.errors.clear()

    def parse_from_file(self, model: str) -> bool:
        path = Path(model)
        self.double.record("parse_from_file", path.name)
        try:
            data = path.read_bytes()
        except OSError:
            data = b""  # ModelImporter reports an unreadable file as a failed parse
        self.double.parsed[path.name] = data
        return self._parse(data, "parseFromFile", f"Failed to parse ONNX model from file: {model}!")

    def parse(self, model: bytes, path: str | None = None) -> bool:
        self.double.record("parse", path)
        return self._parse(bytes(model), "parse", "Failed to parse ONNX model.")

    def _parse(self, data: bytes, func: str, unreadable: str) -> bool:
        import onnx
        from google.protobuf.message import DecodeError

        try:
            model = onnx.load_from_string(data)
        except DecodeError:
            return self._fail(ErrorCode.MODEL_DESERIALIZE_FAILED, unreadable, func)
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid graph"
            return self._fail(ErrorCode.INVALID_GRAPH, first_line, func)
        graph = model.graph
        weights = {tensor.name for tensor in graph.initializer}  # IR < 4 lists them as inputs
        try:
            inputs = [_tensor(v, True) for v in graph.input if v.name not in weights]
            outputs = [_tensor(v, False) for v in graph.output]
        except ValueError as exc:
            return self._fail(ErrorCode.UNSUPPORTED_GRAPH, str(exc), func)
        self.network.inputs.extend(inputs)
        self.network.outputs.extend(outputs)
        self.network.onnx = model.SerializeToString()
        return True

    def _fail(self, code: ErrorCode, desc: str, func: str) -> bool:
        error = ParserError(code, desc, func)
        self.errors.append(error)
        self.double.log(self.logger, Severity.ERROR, str(error))
        return False


class IOptimizationProfile:
    """min/opt/max per input name; checked against the network only when the engine is built."""

    def __init__(self) -> None:
        self.shapes: dict[str, tuple[Shape, Shape, Shape]] = {}

    def set_shape(
        self,
        input: str,  # noqa: A002 - TensorRT's keyword names
        min: Sequence[int],  # noqa: A002
        opt: Sequence[int],
        max: Sequence[int],  # noqa: A002
    ) -> None:
        low, mid, high = tuple(min), tuple(opt), tuple(max)
        # python/src/infer/pyCore.cpp, opt_profile_set_shape: these when setDimensions fails.
        if any(size < 0 for size in low):
            raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
        for name, small, large in (("opt", low, mid), ("max", mid, high)):
            if len(small) != len(large) or any(a > b for a, b in zip(small, large, strict=True)):
                raise RuntimeError(f"Shape provided for {name} is inconsistent with other shapes.")
        self.shapes[input] = (low, mid, high)

    def get_shape(self, input: str) -> list[Shape]:  # noqa: A002
        return list(self.shapes.get(input, ()))


@dataclass
class IBuilderConfig:
    """Flags as TensorRT's bitmask (TF32 on by default), memory pool limits, profiles."""

    flags: int = 1 << BuilderFlag.TF32
    memory_limits: dict[MemoryPoolType, int] = field(default_factory=dict)
    profiles: list[IOptimizationProfile] = field(default_factory=list)
    int8_calibrator: Any = None  # deprecated in 10.1; nothing may set it

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags |= 1 << int(flag)

    def clear_flag(self, flag: BuilderFlag) -> None:
        self.flags &= ~(1 << int(flag))

    def get_flag(self, flag: BuilderFlag) -> bool:
        return bool(self.flags >> int(flag) & 1)

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        self.memory_limits[MemoryPoolType(pool)] = int(pool_size)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.profiles)


class IHostMemory(bytes):
    """The serialized plan: a buffer (bytes(plan) works as on TensorRT's), with nbytes/dtype."""

    @property
    def nbytes(self) -> int:
        return len(self)

    @property
    def dtype(self) -> DataType:
        return DataType.UINT8


def _error(message: str) -> str:
    return f"Error Code 4: Internal Error ({message})"


def validation_error(
    network: INetworkDefinition, profiles: list[IOptimizationProfile]
) -> str | None:
    """TensorRT's check of the network's inputs against the profiles: its error, or None."""
    if not network.outputs:
        return "Network must have at least one output"
    dynamic = [tensor for tensor in network.inputs if -1 in tensor.shape]
    if dynamic and not profiles:
        return _error(
            "Network has dynamic or shape inputs, but no optimization profile has been defined."
        )
    for index, profile in enumerate(profiles):
        for tensor in network.inputs:
            if tensor.name not in profile.shapes:
                if tensor in dynamic:
                    return _error(
                        f"{tensor.name}: dynamic input is missing dimensions in profile {index}."
                    )
                continue
            low, mid, high = profile.shapes[tensor.name]
            if len(low) != len(tensor.shape):
                return _error(
                    f"{tensor.name}: number of dimensions is {len(tensor.shape)} but profile "
                    f"{index} has {len(low)}."
                )
            for axis, size in enumerate(tensor.shape):
                if size != -1 and not low[axis] == mid[axis] == high[axis] == size:
                    return _error(
                        f"{tensor.name}: for dimension number {axis} in profile {index} does not "
                        f"match network definition (got min={low[axis]}, opt={mid[axis]}, "
                        f"max={high[axis]}), expected min=opt=max={size})."
                    )
    return None


def _describe(tensors: list[ITensor]) -> list[dict[str, Any]]:
    return [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype.name} for t in tensors]


class Builder:
    """trt.Builder(logger); RecordingTensorRT binds ``double`` per instance."""

    double: RecordingTensorRT

    def __init__(self, logger: ILogger) -> None:
        self.logger = logger
        self.double.record("Builder", logger)

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        network = INetworkDefinition(int(flags))
        self.double.networks.append(network)
        self.double.record("create_network", int(flags))
        return network

    def create_builder_config(self) -> IBuilderConfig:
        config = IBuilderConfig()
        self.double.configs.append(config)
        return config

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(
        self, network: INetworkDefinition, config: IBuilderConfig
    ) -> IHostMemory | None:
        """The plan, or None with the error logged (as TensorRT does on any build failure)."""
        self.double.record("build_serialized_network", network.flags)
        error = validation_error(network, config.profiles)
        if error is None and network.onnx is not None:
            try:
                onnx_session(network.onnx)  # the double's "tactic selection": can it run at all?
            except Exception as exc:  # onnxruntime raises its own exception types
                error = f"Error Code 10: Internal Error (Could not build the graph: {exc})"
        if error is not None or network.onnx is None:
            self.double.log(self.logger, Severity.ERROR, error or "Network is empty")
            return None
        header = {
            "inputs": _describe(network.inputs),
            "outputs": _describe(network.outputs),
            "profiles": [
                {name: [list(shape) for shape in shapes] for name, shapes in p.shapes.items()}
                for p in config.profiles
            ],
            "network_flags": network.flags,
            "builder_flags": config.flags,
            "memory_limits": {pool.name: size for pool, size in config.memory_limits.items()},
        }
        plan = IHostMemory(write_plan(header, network.onnx))
        self.double.plans.append(bytes(plan))
        return plan
