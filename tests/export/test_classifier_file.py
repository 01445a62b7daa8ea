"""The exported classifier file: ONE graph giving the logits (first) and the restored image
(under the restorer's output name) from one pass, described by dcpt.json's ``io`` and the
artifact's README, and verified against torch for both outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _export_nets import CLASSES, tiny_network

from dcpt_sdk.errors import VerificationError
from dcpt_sdk.export import api

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


def _dims(value) -> list[int | str]:  # type: ignore[no-untyped-def]
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_the_classifier_graph_returns_logits_then_the_image(exported) -> None:
    directory, _ = exported("nafnet-tiny", "onnx", "fp32")
    graph = onnx.load(str(directory / "classifier.onnx")).graph
    assert [o.name for o in graph.output] == ["logits", "output"]
    logits, image = graph.output
    assert _dims(logits) == ["batch", len(CLASSES)]
    assert _dims(image) == ["batch", 3, "height", "width"]
    assert [o.name for o in onnx.load(str(directory / "model.onnx")).graph.output] == ["output"]


def test_a_plain_onnxruntime_client_reads_the_logits_by_name_and_as_output_0(exported) -> None:
    directory, _ = exported("nafnet-tiny", "onnx", "fp32")
    network = tiny_network("nafnet-tiny")
    x = torch.rand(2, 3, 24, 40, generator=torch.Generator().manual_seed(1))
    head = ort.InferenceSession(
        str(directory / "classifier.onnx"), providers=["CPUExecutionProvider"]
    )
    model = ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {"input": x.numpy()}
    everything = head.run(None, feed)
    (by_name,) = head.run(["logits"], feed)
    np.testing.assert_array_equal(everything[0], by_name)
    with torch.no_grad():
        restored, logits = network.restore_and_classify(x)
    np.testing.assert_allclose(by_name, logits.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(everything[1], restored.numpy(), atol=1e-4, rtol=0)
    (alone,) = model.run(["output"], feed)
    np.testing.assert_allclose(everything[1], alone, atol=1e-5, rtol=0)


def test_dcpt_json_and_the_readme_describe_both_outputs(exported) -> None:
    directory, info = exported("nafnet-tiny", "onnx", "fp32")
    head = info.io["classifier"]
    assert head["output_name"] == "logits"  # what older clients read stays
    assert head["outputs"] == ["logits", "output"] and head["image_output_name"] == "output"
    assert "run this file alone" in head["outputs_note"] and "int8" not in head["outputs_note"]
    for figures in info.classifier_parity.values():
        assert figures["image_max_abs"] <= 1e-4 and figures["max_abs"] <= 1e-4
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert "then `output`, the restored image as the model file's" in card
    assert "(image), " in card and "(logits)" in card


def test_an_int8_artifact_keeps_an_fp32_classifier_file_held_to_fp32(exported) -> None:
    _, info = exported("nafnet-tiny", "onnx", "int8")
    assert info.classifier_precision == "fp32"
    assert "classifier file is fp32" in info.io["classifier"]["outputs_note"]
    # fp32's max-abs threshold, not int8's 38 dB, for the classifier file's image
    assert all(f["image_max_abs"] <= 1e-4 for f in info.classifier_parity.values())
    assert all(f["psnr_db"] < 100 for f in info.parity.values())  # the model file is int8


class _OffImage(api._ClassifierGraph):
    """A classifier graph whose image output is off by 1% (its logits are right)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, restored = super().forward(x)
        return logits, restored + 0.01


def test_verification_checks_the_classifier_files_image(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(api, "_ClassifierGraph", _OffImage)
    target = tmp_path / "artifact"
    with pytest.raises(VerificationError, match=r"onnx fp32 classifier image failed verification"):
        api.export(tiny_network("nafnet-tiny"), "onnx", "fp32", target)
    assert not target.exists() and list(tmp_path.iterdir()) == []
