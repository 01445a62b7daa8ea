"""The double's shared vocabulary: TensorRT 10's enums, its loggers, the plan format.

Enum values are TensorRT 10's, read from NVIDIA/TensorRT at tags v10.0.0 and v10.16 (the same in
both); the comment above each enum names the header it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np


# include/NvInfer.h, enum class NetworkDefinitionCreationFlag: kEXPLICIT_BATCH = 0 (deprecated
# and ignored since 10.0), kSTRONGLY_TYPED = 1.
class NetworkDefinitionCreationFlag(IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


# include/NvInfer.h, enum class BuilderFlag.
class BuilderFlag(IntEnum):
    FP16 = 0
    INT8 = 1
    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 4
    DISABLE_TIMING_CACHE = 5
    TF32 = 6  # "Enabled by default."
    SPARSE_WEIGHTS = 7
    FP8 = 15
    BF16 = 17


# include/NvInfer.h, enum class MemoryPoolType.
class MemoryPoolType(IntEnum):
    WORKSPACE = 0
    DLA_MANAGED_SRAM = 1
    DLA_LOCAL_DRAM = 2
    DLA_GLOBAL_DRAM = 3
    TACTIC_DRAM = 4
    TACTIC_SHARED_MEMORY = 5


# include/NvInferRuntimeBase.h, enum class DataType.
class DataType(IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8
    INT4 = 9


# include/NvInferRuntimeBase.h, enum class TensorIOMode.
class TensorIOMode(IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


# include/NvInferRuntime.h, enum class ILogger::Severity.
class Severity(IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


# include/NvOnnxParser.h, enum class ErrorCode (the ones the double reports).
class ErrorCode(IntEnum):
    SUCCESS = 0
    INTERNAL_ERROR = 1
    MODEL_DESERIALIZE_FAILED = 3
    INVALID_GRAPH = 5
    UNSUPPORTED_GRAPH = 7


# ONNX TensorProto element types -> TensorRT types (those TensorRT 10 accepts for I/O).
ONNX_TYPES = {
    1: DataType.FLOAT,
    10: DataType.HALF,
    16: DataType.BF16,
    3: DataType.INT8,
    6: DataType.INT32,
    7: DataType.INT64,
    9: DataType.BOOL,
    2: DataType.UINT8,
}
# tensorrt.nptype's table (python/packaging/bindings_wheel/tensorrt/__init__.py): no bf16/fp8.
_NUMPY_TYPES = {
    DataType.FLOAT: np.float32,
    DataType.HALF: np.float16,
    DataType.INT8: np.int8,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
    DataType.BOOL: np.bool_,
    DataType.UINT8: np.uint8,
}
Shape = tuple[int, ...]


class ILogger:
    """trt.ILogger: a custom logger subclasses it and implements ``log``."""

    Severity = Severity
    # pyCore.cpp exports the values into the class scope: trt.Logger.WARNING.
    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def log(self, severity: Severity, msg: str) -> None:
        raise NotImplementedError


class Logger(ILogger):
    """trt.Logger: prints what is at least as severe as ``min_severity``, and keeps it."""

    def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
        self.min_severity = min_severity
        self.messages: list[tuple[Severity, str]] = []

    def log(self, severity: Severity, msg: str) -> None:
        if severity <= self.min_severity:
            self.messages.append((Severity(severity), msg))
            print(f"[TRT] [{'FEWIV'[severity]}] {msg}")


@dataclass(frozen=True)
class Call:
    """One recorded call: its name, what it was given, the CUDA device active at the time."""

    name: str
    detail: Any
    device: int | None


PLAN_MAGIC = b"RecordingTensorRT plan v1\n"


def write_plan(header: dict[str, Any], graph: bytes) -> bytes:
    """A plan: PLAN_MAGIC, the JSON header's length (8 bytes, little endian), header, ONNX."""
    head = json.dumps(header, sort_keys=True).encode()
    return PLAN_MAGIC + len(head).to_bytes(8, "little") + head + graph


def read_plan(data: bytes) -> tuple[dict[str, Any], bytes]:
    """(header, ONNX bytes) of a plan this double built; ValueError for any other bytes.

    The header holds "inputs"/"outputs" ([{"name", "shape", "dtype"}]), "profiles" ([{name:
    [min, opt, max]}]), "network_flags", "builder_flags" and "memory_limits".
    """
    if not data.startswith(PLAN_MAGIC):
        raise ValueError("not a RecordingTensorRT plan")
    start = len(PLAN_MAGIC) + 8
    size = int.from_bytes(data[len(PLAN_MAGIC) : start], "little")
    return json.loads(data[start : start + size]), data[start + size :]


def onnx_session(graph: bytes) -> Any:
    """The double's "GPU": an onnxruntime CPU session of the graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the test machines have two shared cores
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def nptype(trt_type: DataType) -> Any:
    """tensorrt.nptype: the numpy type of a TensorRT type (TypeError for bf16, fp8, int4)."""
    if trt_type in _NUMPY_TYPES:
        return _NUMPY_TYPES[trt_type]
    raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
