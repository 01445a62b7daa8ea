"""OpenVINO IR export from the verified fp32 ONNX graph.

Precisions (what is stored / what runs):
    fp32  fp32 IR, run with INFERENCE_PRECISION_HINT=f32.
    fp16  IR with fp16-compressed weights (half the file), run with f32: the weights are
          decompressed at load, so only their rounding differs from fp32.
    bf16  fp32 IR, run with INFERENCE_PRECISION_HINT=bf16 (AMX / AVX-512-BF16 CPUs).
    int8  NNCF post-training quantization of the fp32 IR, non-quantized ops run with f32.
The hint is always written into dcpt.json's runtime_hints: without it OpenVINO picks bf16 on AMX
CPUs by itself, and the parity measured at export would not describe what runs later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dcpt_sdk._optional import require
from dcpt_sdk.formats import Precision

__all__ = ["runtime_hints", "export_ir"]

_HINTS: Mapping[str, str] = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}


def runtime_hints(precision: Precision) -> dict[str, str]:
    """The runtime settings recorded in dcpt.json for an OpenVINO artifact of this precision."""
    return {"INFERENCE_PRECISION_HINT": _HINTS[precision]}


def export_ir(
    onnx_path: str | Path,
    xml_path: str | Path,
    precision: Precision,
    batches: Sequence[np.ndarray] | None = None,
) -> None:
    """Convert a fp32 ONNX file to an OpenVINO IR (xml + bin) in the given precision.

    Args:
        onnx_path: the fp32 ONNX model (dynamic batch/height/width carry over).
        xml_path: the .xml to write; the .bin goes beside it.
        precision: fp32, fp16 (compressed weights), bf16 (fp32 IR; the hint does the rest), int8.
        batches: calibration inputs, required for int8.
    """
    ov = require("openvino", "OpenVINO export")
    model: Any = ov.convert_model(str(onnx_path))
    if precision == "int8":
        from dcpt_sdk.export.quantize import quantize_openvino

        if not batches:
            raise ValueError("int8 OpenVINO export needs calibration batches")  # internal misuse
        model = quantize_openvino(model, batches)
    ov.save_model(model, str(xml_path), compress_to_fp16=precision == "fp16")
