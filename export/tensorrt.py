"""TensorRT engines from the verified ONNX graphs: strongly typed, one optimization profile.

TensorRT 10.1 deprecated the implicit-quantization calibrators and TensorRT 11 removes them and
BuilderFlag.FP16/INT8. Here precision lives in the ONNX graph instead, and the network is created
STRONGLY_TYPED so TensorRT keeps exactly the graph's types:
    fp32  the fp32 ONNX;
    fp16  the fp16 ONNX of export/onnx.py (normalisations, softmax and the last conv in fp32);
    int8  the Q/DQ ONNX of export/quantize.py (explicit quantization; the same file ORT runs).
No builder precision flag and no calibrator is ever set (TF32 is cleared for fp32 engines). The plan is a standard (not version-
compatible) plan: it runs on the TensorRT version and GPU model it was built with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dcpt_sdk._optional import is_available as _module_available
from dcpt_sdk._optional import require
from dcpt_sdk.errors import BackendError, DcptError, MissingDependencyError, UnsupportedOptionError
from dcpt_sdk.export.builders import SizeOption, parse_size
from dcpt_sdk.imaging import write_bytes_atomic
from dcpt_sdk.spec import ModelSpec

__all__ = [
    "ShapeProfile",
    "shape_profile",
    "missing_requirements",
    "require_tensorrt",
    "build_engine",
    "DEFAULT_SIZES",
]

# Default min/opt/max image sides (rounded up to the pad multiple): a 512 tile is the Restorer's
# usual GPU tile; 1024 bounds the activation memory TensorRT reserves for the largest shape.
DEFAULT_SIZES = {"min_size": 64, "opt_size": 512, "max_size": 1024}
MAX_BATCH = 1  # the runtime splits larger batches; one image per call saturates a GPU at 512 px
DEFAULT_WORKSPACE_GB = 4.0


@dataclass(frozen=True)
class ShapeProfile:
    """The optimization profile (N, C, H, W) for min, opt and max."""

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def shape_profile(
    spec: ModelSpec,
    min_size: SizeOption = DEFAULT_SIZES["min_size"],
    opt_size: SizeOption = DEFAULT_SIZES["opt_size"],
    max_size: SizeOption = DEFAULT_SIZES["max_size"],
) -> ShapeProfile:
    """The engine's optimization profile for this model.

    Raises:
        UnsupportedOptionError: sizes that are not multiples of the spec's pad multiple, or not
            ordered min <= opt <= max in both height and width.
    """
    sizes = {
        name: parse_size(name, value)
        for name, value in (("min_size", min_size), ("opt_size", opt_size), ("max_size", max_size))
    }
    multiple = spec.pad_multiple
    for name, (height, width) in sizes.items():
        if height % multiple or width % multiple:
            raise UnsupportedOptionError(
                f"{name} {height}x{width} is not a multiple of this model's pad multiple "
                f"{multiple}; e.g. {name}={-(-height // multiple) * multiple}"
            )
    low, opt, high = sizes["min_size"], sizes["opt_size"], sizes["max_size"]
    if not all(low[i] <= opt[i] <= high[i] for i in (0, 1)):
        raise UnsupportedOptionError(
            f"TensorRT sizes must satisfy min <= opt <= max; got min {low}, opt {opt}, max {high}"
        )
    channels = spec.in_channels
    return ShapeProfile(
        min=(1, channels, *low), opt=(1, channels, *opt), max=(MAX_BATCH, channels, *high)
    )


def missing_requirements() -> str | None:
    """What this machine lacks for TensorRT (one line), or None when it has it all."""
    import torch

    missing = []
    if not _module_available("tensorrt"):
        missing.append("the 'tensorrt' Python package (pip install 'dcpt-sdk[gpu]')")
    if not torch.cuda.is_available():
        missing.append(f"an NVIDIA GPU with CUDA (torch {torch.__version__} sees none)")
    return " and ".join(missing) or None


def require_tensorrt() -> ModuleType:
    """Import tensorrt, or raise one MissingDependencyError line naming everything missing."""
    missing = missing_requirements()
    if missing:
        raise MissingDependencyError(f"TensorRT export and inference need {missing}")
    return require("tensorrt", "TensorRT")


def _parse_onnx(trt: Any, network: Any, logger: Any, onnx_path: Path) -> str:
    """Parse the graph into ``network``; the name of its one image input."""
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DcptError(f"TensorRT could not parse '{onnx_path.name}': {errors or 'no details'}")
    # The profile below covers one N x C x H x W input; any other input would be left without one.
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if len(names) != 1:
        raise DcptError(
            f"'{onnx_path.name}' has inputs {names}; a dcpt engine takes one image input "
            "(export the graph with dcpt_sdk.export)"
        )
    return str(names[0])


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    profile: ShapeProfile,
    *,
    workspace_gb: float = DEFAULT_WORKSPACE_GB,
    exact_fp32: bool = False,
    trt: ModuleType | None = None,
) -> None:
    """Build a strongly typed engine from an ONNX file and write the serialized plan.

    Args:
        onnx_path: the fp32, fp16 or Q/DQ-int8 ONNX (its types decide the engine's precision).
        engine_path: the plan file to write (model.engine).
        profile: min/opt/max input shapes.
        workspace_gb: builder workspace memory limit in GiB.
        exact_fp32: clear BuilderFlag.TF32 (on by default in TensorRT: fp32 convolutions would
            run with 10-bit mantissas on Ampere and newer, far outside the fp32 threshold).
        trt: the tensorrt module (tests pass a recording double); default: import it.

    Raises:
        MissingDependencyError: no tensorrt or no CUDA GPU.
        DcptError: the parser or the builder failed.
    """
    if not isinstance(workspace_gb, int | float) or workspace_gb <= 0:
        raise UnsupportedOptionError(
            f"workspace_gb must be a positive number; got {workspace_gb!r}"
        )
    trt = trt if trt is not None else require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    input_name = _parse_onnx(trt, network, logger, Path(onnx_path))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if exact_fp32:
        config.clear_flag(trt.BuilderFlag.TF32)
    optimization = builder.create_optimization_profile()
    optimization.set_shape(input_name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(optimization)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(
            f"TensorRT failed to build an engine from '{Path(onnx_path).name}' for profile "
            f"{profile.to_dict()} (see the TensorRT log above)"
        )
    write_bytes_atomic(engine_path, bytes(plan))
