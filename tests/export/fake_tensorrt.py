"""RecordingTensorRT — a test double, not TensorRT.

It stands in for the ``tensorrt`` module where TensorRT cannot be installed (all of this project's
machines), implementing only the builder API that dcpt_sdk.export.tensorrt calls, and records every
call so tests can check the network flags, the optimization profile and that no precision flag or
calibrator is ever set. It builds nothing: the "plan" it returns is a fixed byte string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

FAKE_PLAN = b"RecordingTensorRT plan (not a TensorRT engine)"


class NetworkDefinitionCreationFlag(IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 5


class MemoryPoolType(IntEnum):
    WORKSPACE = 0


class BuilderFlag(IntEnum):
    FP16 = 0
    INT8 = 1
    TF32 = 7


@dataclass
class _Input:
    name: str


class Logger:
    WARNING = 2
    ERROR = 1

    def __init__(self, severity: int = WARNING) -> None:
        self.severity = severity


@dataclass
class _Network:
    flags: int
    inputs: list[_Input] = field(default_factory=list)

    def get_input(self, index: int) -> _Input:
        return self.inputs[index]

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)


@dataclass
class _Profile:
    shapes: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)

    def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
        self.shapes[name] = (tuple(low), tuple(opt), tuple(high))


@dataclass
class _Config:
    memory_limits: dict[int, int] = field(default_factory=dict)
    profiles: list[_Profile] = field(default_factory=list)
    flags_set: list[Any] = field(default_factory=list)
    flags_cleared: list[Any] = field(default_factory=list)
    int8_calibrator: Any = None

    def set_memory_pool_limit(self, pool: int, size: int) -> None:
        self.memory_limits[int(pool)] = size

    def add_optimization_profile(self, profile: _Profile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_flag(self, flag: Any) -> None:  # recorded so tests can assert it is never called
        self.flags_set.append(flag)

    def clear_flag(self, flag: Any) -> None:
        self.flags_cleared.append(flag)


class RecordingTensorRT:
    """The double: a module-like object; ``calls`` lists what was called, in order."""

    __version__ = "10.99-recording-double"
    Logger = Logger
    NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag
    MemoryPoolType = MemoryPoolType
    BuilderFlag = BuilderFlag

    def __init__(self, *, parse_errors: list[str] | None = None, build_fails: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.parse_errors = parse_errors or []
        self.build_fails = build_fails
        self.networks: list[_Network] = []
        self.parsed: dict[str, bytes] = {}  # file name -> the ONNX bytes it was given
        self.configs: list[_Config] = []
        double = self

        class Builder:
            def __init__(self, logger: Logger) -> None:
                double.calls.append(("Builder", logger.severity))

            def create_network(self, flags: int) -> _Network:
                network = _Network(flags)
                double.networks.append(network)
                double.calls.append(("create_network", flags))
                return network

            def create_builder_config(self) -> _Config:
                config = _Config()
                double.configs.append(config)
                return config

            def create_optimization_profile(self) -> _Profile:
                return _Profile()

            def build_serialized_network(self, network: _Network, config: _Config) -> Any:
                double.calls.append(("build_serialized_network", network.flags))
                return None if double.build_fails else memoryview(FAKE_PLAN)

        class OnnxParser:
            def __init__(self, network: _Network, logger: Logger) -> None:
                self.network = network
                self.num_errors = 0

            def parse_from_file(self, path: str) -> bool:
                double.calls.append(("parse_from_file", Path(path).name))
                double.parsed[Path(path).name] = Path(path).read_bytes()
                self.num_errors = len(double.parse_errors)
                if not self.num_errors:
                    self.network.inputs.append(_Input("input"))
                return not self.num_errors

            def get_error(self, index: int) -> str:
                return double.parse_errors[index]

        self.Builder = Builder
        self.OnnxParser = OnnxParser
