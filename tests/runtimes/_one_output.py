"""An artifact's classifier file written the way dcpt-export wrote it before the one-pass file:
image -> logits only, and a dcpt.json whose ``io`` knows nothing of a restored-image output
(a helper module of the runtime tests, not collected)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch
from torch import nn

from dcpt_sdk.artifact import ArtifactInfo, write_artifact_info
from dcpt_sdk.export import onnx as onnx_export
from dcpt_sdk.export.inputs import sample_crops, to_batch

# What export/contract.py added to io["classifier"] with the second output.
_NEW_KEYS = ("outputs", "image_output_name", "outputs_note")


class _LogitsOnly(nn.Module):
    """The old classifier graph: the feature path and the head, logits out."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.network.classify_logits(x)  # type: ignore[operator]
        return logits


def _one_output_onnx(network: nn.Module, path: Path) -> Path:
    example = torch.from_numpy(to_batch(sample_crops([(64, 64)], seed=7)[0], network.spec))
    onnx_export.torch_to_onnx(
        _LogitsOnly(network).eval(), path, example, outputs=(onnx_export.LOGITS_NAME,)
    )
    onnx_export.save(onnx_export.slim(onnx_export.load(path)), path)
    return path


def write_one_output_classifier(
    network: nn.Module, directory: Path, info: ArtifactInfo
) -> ArtifactInfo:
    """Replace the fp32 classifier file of the artifact in ``directory`` (a copy) by a
    logits-only one and rewrite its dcpt.json as an older export wrote it; the new info."""
    assert info.classifier_file and info.classifier_precision == "fp32", "fp32 artifacts only"
    target = directory / info.classifier_file
    with tempfile.TemporaryDirectory() as scratch:
        graph = _one_output_onnx(network, Path(scratch) / "classifier.onnx")
        if info.format == "onnx":
            target.write_bytes(graph.read_bytes())
        elif info.format == "openvino":
            from dcpt_sdk.export.openvino import export_ir

            export_ir(graph, target, "fp32")
        else:
            from fake_tensorrt import RecordingTensorRT

            from dcpt_sdk.export.tensorrt import ShapeProfile, build_engine

            shapes = info.shape_profile
            profile = ShapeProfile(*(tuple(shapes[key]) for key in ("min", "opt", "max")))
            build_engine(graph, target, profile, exact_fp32=True, trt=RecordingTensorRT())
    head = {k: v for k, v in info.io.get("classifier", {}).items() if k not in _NEW_KEYS}
    old = dataclasses.replace(
        info,
        io={**info.io, "classifier": head},
        classifier_parity={
            size: {k: v for k, v in figures.items() if not k.startswith("image_")}
            for size, figures in info.classifier_parity.items()
        },
    )
    write_artifact_info(directory, old)
    return old
