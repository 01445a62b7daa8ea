"""The artifact's classifier file on every CPU backend: one pass gives the logits and the
restored image, read by name; run_and_classify takes that pass where the file's precision is
the restorer's, and keeps the int8 restorer's image where it is not; a classifier file written
before it returned the image (logits only) keeps working as it did. (TensorRT, under its double:
tests/runtimes/test_tensorrt_backend.py.)"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from _one_output import write_one_output_classifier
from torch import nn

from dcpt_sdk.export import verify
from dcpt_sdk.export.builders import classifier_precision
from dcpt_sdk.export.inputs import sample_crops, to_batch
from dcpt_sdk.formats import get_format
from dcpt_sdk.imaging import read_image
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.runtimes import load_artifact
from dcpt_sdk.runtimes.base import ArtifactRuntime
from dcpt_sdk.zoo.samples import SAMPLES_DIR

slow = pytest.mark.slow
CASES = [
    ("onnx", "fp32"),
    ("onnx", "fp16"),
    ("onnx", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    pytest.param("openvino", "fp16", marks=slow),
    pytest.param("openvino", "int8", marks=slow),  # NNCF calibration takes a while
]


class _Counted:
    """The real loaded file, counting the calls that reach it."""

    def __init__(self, call: object) -> None:
        self.call, self.calls = call, 0

    def __call__(self, batch: torch.Tensor) -> object:
        self.calls += 1
        return self.call(batch)  # type: ignore[operator]


def _counted(runtime: ArtifactRuntime) -> tuple[_Counted, _Counted]:
    """Count the runs of the restorer file and of the classifier file."""
    model = _Counted(runtime._model)
    head = runtime._classifier
    assert head is not None
    classifier = _Counted(head.model)
    runtime._model = model  # type: ignore[assignment]
    runtime._classifier = dataclasses.replace(head, model=classifier)  # type: ignore[arg-type]
    return model, classifier


def _natural_batch(spec: object) -> torch.Tensor:
    """A degraded sample-photo crop of 37 x 53, reflect-padded as the Restorer pads."""
    return torch.from_numpy(to_batch(sample_crops([(37, 53)], seed=5)[0], spec))  # type: ignore[arg-type]


def _open(artifact, fmt: str, precision: str) -> ArtifactRuntime:  # type: ignore[no-untyped-def]
    pytest.importorskip(get_format(fmt).python_module, reason=f"the {fmt} extra is not installed")
    directory, info = artifact(fmt, precision)
    runtime = load_artifact(directory, info, "cpu")
    assert isinstance(runtime, ArtifactRuntime)
    return runtime


def _figures(output: torch.Tensor, reference: torch.Tensor, spec: object) -> Mapping[str, float]:
    return verify.measure(lambda _: output, {"x": reference.numpy()}, {"x": output}, spec)["x"]  # type: ignore[arg-type]


@pytest.mark.parametrize(("fmt", "precision"), CASES)
def test_one_run_of_the_classifier_file_matches_torch(
    artifact, runtime_network: nn.Module, fmt: str, precision: str
) -> None:
    runtime = _open(artifact, fmt, precision)
    head = runtime._classifier
    assert head is not None and head.model.output_names == ("logits", "output")
    assert (head.logits, head.image) == ("logits", "output")
    x = _natural_batch(runtime_network.spec)
    with torch.no_grad():
        restored, logits = runtime_network.restore_and_classify(x)  # type: ignore[operator]
    image, got = runtime.classifier_outputs(x)
    assert image is not None and image.shape == restored.shape
    # Each output within its precision's threshold: the file's own (fp32 in int8 artifacts).
    own = classifier_precision(precision)  # type: ignore[arg-type]
    figures = _figures(image, restored, runtime_network.spec)
    assert verify.THRESHOLDS[own].passes(figures), figures
    error = float((got - logits).abs().max()) / max(1.0, float(logits.abs().max()))
    assert verify.CLASSIFIER_THRESHOLDS[precision].passes({"max_abs": error}), error
    runtime.close()


@pytest.mark.parametrize(("fmt", "precision"), CASES)
def test_infer_and_classify_takes_one_pass_where_the_precisions_agree(
    artifact, fmt: str, precision: str
) -> None:
    runtime = _open(artifact, fmt, precision)
    x = _natural_batch(runtime.spec)
    # OpenVINO compiles a shape statically on its second call, with kernels (and rounding) of
    # its own: call each file twice first, so that every call below runs the same compile.
    for _ in range(2):
        alone, logits = runtime.infer(x), runtime.classify_logits(x)
    model, classifier = _counted(runtime)
    image, got = runtime.infer_and_classify(x)
    assert torch.equal(got, logits)  # the same file, the same output
    if precision == "int8":
        # The fp32 classifier file is not the int8 restorer: the image comes from the model
        # file, so run() and run_and_classify() agree exactly.
        assert not runtime.one_pass
        assert (model.calls, classifier.calls) == (1, 1)
        assert torch.equal(image, alone)
    else:
        assert runtime.one_pass
        assert (model.calls, classifier.calls) == (0, 1)
        # Another file: fp16/bf16 kernels may sum in another order with the extra consumers.
        tolerance = 1e-5 if precision == "fp32" else 2e-2
        torch.testing.assert_close(image, alone, atol=tolerance, rtol=0)
    runtime.close()


@pytest.mark.parametrize(("fmt", "precision"), CASES)
def test_restorer_run_and_classify_gives_runs_image(artifact, fmt: str, precision: str) -> None:
    pytest.importorskip(get_format(fmt).python_module, reason=f"the {fmt} extra is not installed")
    directory, _ = artifact(fmt, precision)
    restorer = Restorer(directory, backend=get_format(fmt).backend)
    image = np.ascontiguousarray(read_image(SAMPLES_DIR / "chelsea.png").pixels[60:101, 90:147])
    for _ in range(2):  # OpenVINO: each file's static compile of this shape from here on
        restorer.run_and_classify(image)
        restorer.run(image)
    restored, probabilities = restorer.run_and_classify(image)
    expected = restorer.run(image)
    difference = np.abs(restored.astype(int) - expected.astype(int)).max()
    assert difference == 0 if precision in ("fp32", "int8") else difference <= 1
    classified = restorer.classify(image)
    assert list(probabilities) == list(classified) == ["noise", "rain"]
    tolerance = 1e-6 if precision in ("fp32", "int8") else 1e-3  # as above
    np.testing.assert_allclose(
        list(probabilities.values()), list(classified.values()), atol=tolerance
    )


@pytest.fixture(scope="module")
def one_output(artifact, runtime_network: nn.Module, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """fmt -> an fp32 artifact whose classifier file returns the logits alone."""
    built: dict[str, tuple[Path, object]] = {}

    def get(fmt: str) -> tuple[Path, object]:
        pytest.importorskip(
            get_format(fmt).python_module, reason=f"the {fmt} extra is not installed"
        )
        if fmt not in built:
            source, info = artifact(fmt, "fp32")
            directory = tmp_path_factory.mktemp(f"one-output-{fmt}") / "artifact"
            shutil.copytree(source, directory)
            built[fmt] = (directory, write_one_output_classifier(runtime_network, directory, info))
        return built[fmt]

    return get


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_a_one_output_classifier_file_works_as_before(
    one_output, runtime_network: nn.Module, fmt: str
) -> None:
    directory, info = one_output(fmt)
    runtime = load_artifact(directory, info, "cpu")  # type: ignore[arg-type]
    assert isinstance(runtime, ArtifactRuntime)
    assert runtime._classifier is not None and runtime._classifier.model.output_names == ("logits",)
    assert runtime.has_classifier and not runtime.one_pass
    x = _natural_batch(runtime.spec)
    with torch.no_grad():
        logits = runtime_network.classify_logits(x)  # type: ignore[operator]
    torch.testing.assert_close(runtime.classify_logits(x), logits, atol=1e-5, rtol=1e-5)
    assert runtime.classifier_outputs(x)[0] is None
    model, classifier = _counted(runtime)
    image, got = runtime.infer_and_classify(x)  # two files, as before
    assert (model.calls, classifier.calls) == (1, 1)
    assert torch.equal(image, runtime.infer(x)) and torch.equal(got, runtime.classify_logits(x))
    runtime.close()
    restorer = Restorer(directory, backend=get_format(fmt).backend)
    pixels = (np.random.default_rng(2).random((30, 42, 3)) * 255).astype(np.uint8)
    restored, probabilities = restorer.run_and_classify(pixels)
    np.testing.assert_array_equal(restored, restorer.run(pixels))
    assert probabilities == restorer.classify(pixels)


def test_a_one_output_file_is_read_by_its_logits_name(one_output) -> None:
    """The output names come from dcpt.json: a name the file lacks is a clear error."""
    from dcpt_sdk.errors import BackendError

    directory, info = one_output("onnx")
    io = {**info.io, "classifier": {**info.io["classifier"], "output_name": "scores"}}  # type: ignore[attr-defined]
    with pytest.raises(
        BackendError, match=r"outputs \['logits'\] but the logits output is 'scores'"
    ):
        load_artifact(directory, dataclasses.replace(info, io=io), "cpu")  # type: ignore[type-var]
