"""INT8 post-training quantization: ONNX Q/DQ (ONNX Runtime, TensorRT) and OpenVINO (NNCF).

Both calibrate on small crops (``CALIB_CROP`` px): activation ranges of these convolutional
networks do not depend on the image size, while calibrating a Restormer on large inputs can
exhaust 24 GB. Without ``calib`` the crops come from the shipped sample photos, degraded by the
degradation engine; with ``calib`` they come from the user's folder as given.

The ONNX path writes explicit QuantizeLinear/DequantizeLinear pairs (QDQ format), symmetric int8
activations and per-channel symmetric int8 weights: the form TensorRT's strongly typed networks
consume, so one file serves ONNX Runtime and TensorRT. Only convolutions and matrix products are
quantized; normalisations, softmax and elementwise ops stay fp32, and so do the first convolution
(it reads the image), the last one (it writes it), as is usual for restoration networks, and
convolutions reading a global pool (NAFNet's channel attention: a 1x1 map whose range a few
small crops do not capture; quantizing it saves nothing). Measured (PSNR vs fp32 at 40x56 /
104x136): tiny random-weight Restormer, all convs 37.9 / 45.0 dB, first and last in fp32
42.3 / 46.6 dB; briefly trained NAFNet width 16, 37.6 / 53.2 dB, pooled-input convs in fp32
too 48.2 / 53.2 dB (16 crops), 49.3 / 53.1 dB (32 crops, the default).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dcpt_sdk._optional import require
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.export.inputs import folder_crops, round_up, sample_crops, to_batch
from dcpt_sdk.spec import ModelSpec

__all__ = [
    "CALIB_CROP",
    "DEFAULT_CALIB_COUNT",
    "calibration_batches",
    "quantize_onnx_qdq",
    "quantize_openvino",
]

CALIB_CROP = 96
DEFAULT_CALIB_COUNT = 32
_MAX_CALIB_COUNT = 1024
_QUANTIZED_ONNX_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm"]
_POOLING_OPS = frozenset({"ReduceMean", "GlobalAveragePool", "ReduceMax", "GlobalMaxPool"})
# OpenVINO op types NNCF must leave in floating point: normalisation statistics and softmax.
_OV_IGNORED_TYPES = [
    "MVN",
    "NormalizeL2",
    "ReduceMean",
    "ReduceL2",
    "ReduceSum",
    "Power",
    "Sqrt",
    "Divide",
    "SoftMax",
    "Softmax",
]
_OV_CONVS = frozenset({"Convolution", "GroupConvolution", "MatMul"})
_OV_TAIL_TYPES = frozenset({"Add", "Subtract", "Slice", "StridedSlice", "Convert", "Clamp"})


def calibration_batches(
    spec: ModelSpec, calib: str | Path | None = None, count: int = DEFAULT_CALIB_COUNT
) -> list[np.ndarray]:
    """``count`` calibration inputs, each 1 x C x S x S float32 in the spec's value range.

    Args:
        spec: the model's spec (pad multiple, channels, value range).
        calib: a folder of representative (degraded) images; None for degraded crops of the
            shipped sample photos.
        count: number of crops.

    Raises:
        UnsupportedOptionError: bad count, missing/empty folder.
    """
    if not isinstance(count, int) or not 1 <= count <= _MAX_CALIB_COUNT:
        raise UnsupportedOptionError(
            f"calib_count must be an int from 1 to {_MAX_CALIB_COUNT}; got {count!r}"
        )
    size = round_up(CALIB_CROP, spec.pad_multiple)
    if calib is None:
        crops = sample_crops([(size, size)] * count, seed=1)
    else:
        crops = folder_crops(calib, size, count, seed=1)
    return [to_batch(crop, spec) for crop in crops]


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader protocol over a list of batches."""

    def __init__(self, input_name: str, batches: Sequence[np.ndarray]) -> None:
        self._input_name = input_name
        self._batches = list(batches)
        self._iterator: Iterator[np.ndarray] = iter(self._batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._iterator, None)
        return None if batch is None else {self._input_name: batch}

    def rewind(self) -> None:
        self._iterator = iter(self._batches)


def _onnx_float_convs(model: Any) -> list[str]:
    """Quantizable nodes kept in float: the last conv(s), those reading the image, and those
    reading a global pool (their input is a 1x1 map whose range small crops do not capture)."""
    from dcpt_sdk.export.onnx import fp32_island_nodes

    islands = fp32_island_nodes(model)
    inputs = {value.name for value in model.graph.input}
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    return [
        n.name
        for n in model.graph.node
        if n.op_type in _QUANTIZED_ONNX_OPS
        and (n.name in islands or n.input[0] in inputs or producer.get(n.input[0]) in _POOLING_OPS)
    ]


def quantize_onnx_qdq(
    fp32_path: str | Path, output_path: str | Path, batches: Sequence[np.ndarray]
) -> None:
    """Write a Q/DQ INT8 copy of a fp32 ONNX model, calibrated (MinMax) on ``batches``.

    Symmetric int8 activations and per-channel symmetric int8 weights on Conv/MatMul inputs; the
    first and last convolutions are excluded. ORT's symbolic-shape pre-processing is skipped on purpose: it
    fails on graphs whose shapes depend on the input ("incomplete symbolic shape inference") and
    quantize_static does not need it.
    """
    onnx = require("onnx", "INT8 quantization")
    quantization = require("onnxruntime.quantization", "INT8 quantization")
    model = onnx.load(str(fp32_path))
    input_name = model.graph.input[0].name
    excluded = _onnx_float_convs(model)
    # Node names were filled in by fp32_island_nodes; quantize a copy that carries them.
    with tempfile.TemporaryDirectory(prefix="dcpt-qdq-") as scratch:
        named = Path(scratch) / "named.onnx"
        onnx.save(model, str(named))
        # quantize_static logs "consider pre-processing" on the root logger; the pre-processing
        # is skipped on purpose (see above), so the advice is silenced for this call.
        logging.disable(logging.WARNING)
        try:
            _quantize_static(quantization, named, output_path, input_name, batches, excluded)
        finally:
            logging.disable(logging.NOTSET)


def _quantize_static(
    quantization: Any,
    model_path: Path,
    output_path: str | Path,
    input_name: str,
    batches: Sequence[np.ndarray],
    excluded: list[str],
) -> None:
    quantization.quantize_static(
        model_input=str(model_path),
        model_output=str(output_path),
        calibration_data_reader=_Reader(input_name, batches),
        quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QInt8,
        weight_type=quantization.QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=_QUANTIZED_ONNX_OPS,
        nodes_to_exclude=excluded,
        calibrate_method=quantization.CalibrationMethod.MinMax,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )


def _ov_float_convs(model: Any) -> list[str]:
    """Convolutions NNCF must leave in float: the last, the first, those after a global pool
    (as in the ONNX path) and those after a Concat."""
    names = _ov_tail_convs(model)
    for node in model.get_ops():
        if node.get_type_name() not in _OV_CONVS:
            continue
        source = node.input_value(0).get_node().get_type_name()
        if source in ("Parameter", "Concat", "ReduceMean", "ReduceMax"):
            names.append(node.get_friendly_name())
    return names


def _ov_tail_convs(model: Any) -> list[str]:
    """Friendly names of the convolutions that produce the outputs (through Add/Slice/...)."""
    names: list[str] = []
    stack = [result.input_value(0).get_node() for result in model.get_results()]
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        name = node.get_friendly_name()
        if name in seen:
            continue
        seen.add(name)
        kind = node.get_type_name()
        if kind in _OV_CONVS:
            names.append(name)
        elif kind in _OV_TAIL_TYPES:
            stack.extend(value.get_node() for value in node.input_values())
    return names


def quantize_openvino(model: Any, batches: Sequence[np.ndarray]) -> Any:
    """NNCF post-training INT8 quantization of an OpenVINO model (symmetric, "performance" preset).

    Ignored scope: normalisation ops (reductions, power, sqrt, divide, MVN, NormalizeL2), softmax,
    the first and last convolutions and those fed by a global pool (as in the ONNX path), and
    convolutions fed by a Concat (Restormer's reduce_chan). ``model_type=TRANSFORMER`` keeps NNCF
    from quantizing the inputs of elementwise Add/Multiply (LayerNorm and gating pieces); the
    MINMAX range estimator takes the calibration extremes instead of the mean of per-sample
    extremes, which clips noisy inputs.

    Measured (PSNR vs fp32 at 40x56 / 104x136, OpenVINO 2026.4, NNCF 3.4). Tiny random-weight
    Restormer: NNCF defaults 22.3 / 19.0 dB; first conv float 30 / 28; Concat-fed convs float too
    37.0 / 46.1; plus TRANSFORMER 45.4 / 52.5; plus MINMAX 44.2 / 49.1. Briefly trained NAFNet
    width 16 (a noisy and a JPEG crop): defaults 29.0 / 52.8; float convs + TRANSFORMER 28.8 /
    52.1; plus MINMAX 49.2 / 57.9.
    """
    nncf = require("nncf", "OpenVINO INT8 quantization")
    advanced = require("nncf.quantization.advanced_parameters", "OpenVINO INT8 quantization")
    ranges = require("nncf.quantization.range_estimator", "OpenVINO INT8 quantization")
    ignored = nncf.IgnoredScope(
        names=_ov_float_convs(model), types=list(_OV_IGNORED_TYPES), validate=False
    )
    nncf_logger = logging.getLogger("nncf")
    previous = nncf_logger.level
    nncf.set_log_level(logging.WARNING)  # NNCF logs every ignored node at INFO
    try:
        return nncf.quantize(
            model,
            nncf.Dataset(list(batches)),
            preset=nncf.QuantizationPreset.PERFORMANCE,
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(batches),
            ignored_scope=ignored,
            advanced_parameters=advanced.AdvancedQuantizationParameters(
                activations_range_estimator_params=ranges.RangeEstimatorParametersSet.MINMAX
            ),
        )
    finally:
        nncf.set_log_level(previous)
