"""Every format x precision exports, loads back through runtimes.load_artifact and meets its
threshold against fp32 torch, for the restorer and for the classifier file's logits and image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _export_nets import tiny_network

from dcpt_sdk.artifact import read_artifact
from dcpt_sdk.export import EXPORTABLE_FORMATS
from dcpt_sdk.export.inputs import sample_crops, to_batch
from dcpt_sdk.formats import get_format
from dcpt_sdk.metrics import psnr
from dcpt_sdk.runtimes import load_artifact

slow = pytest.mark.slow
# Every precision of every export format that runs without a GPU, read from the one formats
# table (benchmarks/export_parity.py measures the same table, GPU formats included).
CPU_TARGETS = [
    (name, precision)
    for name in EXPORTABLE_FORMATS
    if not get_format(name).needs_gpu
    for precision in get_format(name).precisions
]
# The tiny NAFNet in every target, the Restormer family in fp32 ONNX; the rest is slow.
FAST_CASES = [("nafnet-tiny", *target) for target in CPU_TARGETS] + [
    (name, "onnx", "fp32") for name in ("restormer-tiny", "promptir-tiny")
]
SLOW_CASES = [
    (name, *target)
    for name in ("restormer-tiny", "promptir-tiny")
    for target in CPU_TARGETS
    if (name, *target) not in FAST_CASES
]
CASES = FAST_CASES + [pytest.param(*case, marks=slow) for case in SLOW_CASES]


def _third_size_input(spec) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """A natural input at a size neither the export nor its verification used (59 x 45)."""
    crop = sample_crops([(59, 45)], seed=11)[0]
    return {"59x45": torch.from_numpy(to_batch(crop, spec))}


# Floors owned by this test, below what each precision measures on these tiny networks (see
# benchmarks/results/export_parity.md) and independent of export.verify's thresholds: the
# figures are recomputed here from the loaded artifact's own outputs (raw: no clipping).
MIN_PSNR_DB = {"fp32": 100.0, "fp16": 60.0, "bf16": 45.0, "int8": 38.0}
MAX_LOGIT_ERROR = {"fp32": 1e-4, "fp16": 5e-2, "bf16": 2e-1, "int8": 1e-4}


@pytest.mark.parametrize(("name", "fmt", "precision"), CASES)
def test_artifact_meets_threshold(exported, name: str, fmt: str, precision: str) -> None:
    if fmt == "openvino":
        pytest.importorskip("openvino", reason="the openvino extra is not installed")
    directory, info = exported(name, fmt, precision)
    assert read_artifact(directory) == info
    assert len(info.parity) == 2
    network = tiny_network(name)
    from dcpt_sdk.export.verify import verification_inputs

    inputs = {
        **verification_inputs(network.spec, (64, 64), None),
        **_third_size_input(network.spec),
    }
    runtime = load_artifact(directory, info, "cpu")
    try:
        for key, batch in inputs.items():
            with torch.no_grad():
                expected = network(batch).numpy()
                expected_logits = network.classify_logits(batch).numpy()
            output = runtime.infer(batch).numpy()
            db = psnr(output, expected, clip=False)
            assert db >= MIN_PSNR_DB[precision], (key, db)
            if key in info.parity:  # the figure dcpt.json records is the one measured here
                assert abs(info.parity[key]["psnr_db"] - db) < 0.5 or db == float("inf")
            classifier_precision = "fp32" if precision == "int8" else precision
            # The classifier file's restored image (the same pass as its logits), held to the
            # floor of the file's own precision, and the figure dcpt.json records for it. First:
            # OpenVINO compiles a shape statically on its second call, with kernels of its own;
            # the export measured the first.
            image, _ = runtime.classifier_outputs(batch)
            assert image is not None
            db = psnr(image.numpy(), expected, clip=False)
            assert db >= MIN_PSNR_DB[classifier_precision], (key, "classifier image", db)
            if key in info.classifier_parity:
                recorded = info.classifier_parity[key]["image_psnr_db"]
                assert abs(recorded - db) < 0.5 or db == float("inf")
            logits = runtime.classify_logits(batch).numpy()
            error = float(np.abs(logits - expected_logits).max() / np.abs(expected_logits).max())
            assert error <= MAX_LOGIT_ERROR[classifier_precision], (key, error)
            assert (logits.argmax(1) == expected_logits.argmax(1)).all()
        assert set(info.parity) <= set(inputs), "dcpt.json names sizes the exporter never ran"
    finally:
        runtime.close()


def test_fp32_onnx_is_exact_and_carries_metadata(exported) -> None:
    import json

    import onnx

    directory, info = exported("nafnet-tiny", "onnx", "fp32")
    assert all(v["max_abs"] <= 1e-5 for v in info.parity.values())
    assert info.opset == 17 and info.classifier_file == "classifier.onnx"
    for name in ("model.onnx", "classifier.onnx"):
        model = onnx.load(str(directory / name))
        props = {p.key: p.value for p in model.metadata_props}
        assert json.loads(props["dcpt"]) == info.to_dict()
        assert props["dcpt.precision"] == "fp32"
        assert model.opset_import[0].version == 17
        dims = model.graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]


def test_int8_onnx_is_qdq_with_float_first_and_last_conv(exported) -> None:
    import onnx

    directory, info = exported("nafnet-tiny", "onnx", "int8")
    model = onnx.load(str(directory / "model.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    producers = {out: n for n in model.graph.node for out in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]

    def quantized(conv) -> bool:  # type: ignore[no-untyped-def]
        weight = producers.get(conv.input[1])
        return weight is not None and weight.op_type == "DequantizeLinear"

    def reads_pool(conv) -> bool:  # type: ignore[no-untyped-def]
        # NAFNet's channel attention: a conv on a global mean (through the DQ of its input, if any)
        source = producers.get(conv.input[0])
        return source is not None and source.op_type == "ReduceMean"

    assert not quantized(convs[0]) and not quantized(convs[-1])
    middle = convs[1:-1]
    assert all(quantized(c) != reads_pool(c) for c in middle)
    assert sum(quantized(c) for c in middle) >= len(middle) // 2
    # Symmetric: every activation zero point is 0 (int8).
    inits = {t.name: t for t in model.graph.initializer}
    q_nodes = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    zero_points = [onnx.numpy_helper.to_array(inits[n.input[2]]) for n in q_nodes]
    assert all(zp.dtype == np.int8 and not zp.any() for zp in zero_points)
    # The classifier of an int8 artifact stays fp32.
    head = onnx.load(str(directory / "classifier.onnx"))
    assert "QuantizeLinear" not in [n.op_type for n in head.graph.node]


def test_openvino_records_the_precision_hint(exported) -> None:
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    for precision, hint in (("fp32", "f32"), ("bf16", "bf16"), ("fp16", "f32")):
        directory, info = exported("nafnet-tiny", "openvino", precision)
        assert info.runtime_hints == {"INFERENCE_PRECISION_HINT": hint}
        runtime = load_artifact(directory, info, "cpu")
        assert runtime.inference_precision == hint
        runtime.close()
    fp32_bin = (exported("nafnet-tiny", "openvino", "fp32")[0] / "model.bin").stat().st_size
    fp16_bin = (exported("nafnet-tiny", "openvino", "fp16")[0] / "model.bin").stat().st_size
    assert fp16_bin < 0.6 * fp32_bin
