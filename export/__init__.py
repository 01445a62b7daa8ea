"""Export to ONNX, OpenVINO and TensorRT, each artifact verified against torch.

``dcpt_sdk.export.export(model, format, precision, output_dir, **options)`` from Python, or the
``dcpt-export`` command (dcpt_sdk.export.cli). Heavy packages (onnx, onnxruntime, openvino, nncf,
tensorrt) are imported only by the format that needs them.
"""

from __future__ import annotations

from dcpt_sdk.export.api import EXPORTABLE_FORMATS, export
from dcpt_sdk.export.verify import CLASSIFIER_THRESHOLDS, THRESHOLDS, Threshold

__all__ = ["EXPORTABLE_FORMATS", "export", "THRESHOLDS", "CLASSIFIER_THRESHOLDS", "Threshold"]
