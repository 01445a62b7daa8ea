"""RecordingTensorRT: a test double of the TensorRT 10 Python API. It is not TensorRT.

TensorRT cannot be installed on this project's machines (its wheels fetch the libraries from
NVIDIA's own index at install time), so export/tensorrt.py and runtimes/tensorrt_backend.py run
against this double in CI. It implements the calls they make and keeps TensorRT's rules where a
mistake would otherwise pass unnoticed:

- OnnxParser really parses the ONNX bytes (with onnx): bad bytes fail with parser errors, and the
  network's inputs and outputs carry the graph's own names, shapes (-1 where dynamic) and types;
- the builder refuses dynamic inputs without an optimization profile, profiles that leave out an
  input and profiles that contradict its fixed dimensions: build_serialized_network returns None
  and the logger gets TensorRT's error text (as quoted in NVIDIA/TensorRT#939 and #1812, and for
  10.0's missing-profile error daniel89710/trt-depth-anything#1);
- the plan embeds the ONNX graph and the profiles (read_plan); Runtime deserializes it into an
  engine whose execution context checks input shapes against profile 0 and really computes:
  execute_async_v3 runs the graph with onnxruntime on the memory behind the tensor addresses.

Where it differs from TensorRT: host memory stands in for the GPU (FakeGpus; the addresses are
CPU tensors' data_ptr()); beside real CUDA it reads device memory through torch instead. It
computes in the graph's own types, which is what a strongly typed network does (builder precision
flags are recorded, not emulated), and infers output shapes by running the graph once per input
shape. A context created or executed on another CUDA device than its engine's fails cleanly
(logged, None/False), where on a GPU it is a CUDA error or worse. ``calls`` records every call
with the device current at the time.
"""

from __future__ import annotations

import importlib.machinery
from typing import Any

import torch

from .builder import Builder, IBuilderConfig, INetworkDefinition, OnnxParser
from .core import (
    PLAN_MAGIC,
    BuilderFlag,
    Call,
    DataType,
    ErrorCode,
    ILogger,
    Logger,
    MemoryPoolType,
    NetworkDefinitionCreationFlag,
    Severity,
    TensorIOMode,
    nptype,
    read_plan,
)
from .gpus import FakeGpus, HostPlacement
from .runtime import Runtime

__all__ = [
    "RecordingTensorRT",
    "FakeGpus",
    "HostPlacement",
    "Call",
    "PLAN_MAGIC",
    "read_plan",
    "BuilderFlag",
    "DataType",
    "ErrorCode",
    "MemoryPoolType",
    "NetworkDefinitionCreationFlag",
    "Severity",
    "TensorIOMode",
]


class RecordingTensorRT:
    """The double: pass it where the ``tensorrt`` module goes (``trt=``), or put it in
    sys.modules["tensorrt"] (it carries a module spec, so importlib.util.find_spec finds it).

    Args:
        gpus: the FakeGpus whose ``current`` device the double reads (and whose host memory the
            addresses point into); None: torch.cuda's current device and CUDA memory where torch
            sees a GPU, else no device and host memory.

    Attributes:
        calls: every call in order, with the device current at the time (Call).
        networks / configs: each network and builder config created, in order.
        parsed: file name -> the bytes parse_from_file read.
        plans: each plan built, in order.
    """

    __version__ = "10.16.0 (RecordingTensorRT test double)"
    __spec__ = importlib.machinery.ModuleSpec("tensorrt", None)

    ILogger = ILogger
    Logger = Logger
    NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag
    BuilderFlag = BuilderFlag
    MemoryPoolType = MemoryPoolType
    DataType = DataType
    TensorIOMode = TensorIOMode
    ErrorCode = ErrorCode
    # python/src/infer/pyFoundationalTypes.cpp: trt.float32 and friends.
    float32 = DataType.FLOAT
    float16 = DataType.HALF
    bfloat16 = DataType.BF16
    int8 = DataType.INT8
    int32 = DataType.INT32
    int64 = DataType.INT64
    bool = DataType.BOOL
    uint8 = DataType.UINT8
    nptype = staticmethod(nptype)

    def __init__(self, gpus: FakeGpus | None = None) -> None:
        self.gpus = gpus
        self.calls: list[Call] = []
        self.networks: list[INetworkDefinition] = []
        self.configs: list[IBuilderConfig] = []
        self.parsed: dict[str, bytes] = {}
        self.plans: list[bytes] = []
        # Classes bound to this double, so trt.Builder(logger) records into it.
        self.Builder = type("Builder", (Builder,), {"double": self})
        self.OnnxParser = type("OnnxParser", (OnnxParser,), {"double": self})
        self.Runtime = type("Runtime", (Runtime,), {"double": self})

    @property
    def cuda_memory(self) -> bool:
        """True when tensor addresses are CUDA device pointers (real CUDA, no FakeGpus)."""
        return self.gpus is None and torch.cuda.is_available()

    def current_device(self) -> int | None:
        if self.gpus is not None:
            return self.gpus.current
        return torch.cuda.current_device() if torch.cuda.is_available() else None

    def record(self, name: str, detail: Any = None) -> None:
        self.calls.append(Call(name, detail, self.current_device()))

    def log(self, logger: ILogger, severity: Severity, message: str) -> None:
        self.record("log", (Severity(severity), message))
        logger.log(severity, message)

    def on_device(self, device: int | None, logger: ILogger) -> bool:
        """False (logged) when the current device is not ``device``, the engine's."""
        current = self.current_device()
        if current == device:
            return True
        self.log(
            logger,
            Severity.ERROR,
            f"Error Code 1: Cuda Runtime (invalid resource handle) [RecordingTensorRT: the "
            f"engine is on device {device}, this call runs on device {current}]",
        )
        return False

    def errors(self) -> list[str]:
        """Every error message logged through any of this double's loggers, in order."""
        return [
            call.detail[1]
            for call in self.calls
            if call.name == "log" and call.detail[0] <= Severity.ERROR
        ]
