"""The TensorRT backend, run under RecordingTensorRT (tests/fake_tensorrt: a test double of
TensorRT 10's Python API, not TensorRT), with FakeGpus' host memory standing in for the GPU.

What runs for real: the engines are built by export/tensorrt.py from the network's exported ONNX
graphs, and the backend's whole run path runs (deserialisation, execution context, input shape
against the profile, output allocation, tensor addresses, execute_async_v3, batches chunked by
the profile); the double computes with onnxruntime on the tensors' memory, so outputs are compared
with torch. Device scoping is checked from the device the double sees current at every call.
What cannot run here: TensorRT itself (tests/export/test_tensorrt_build.py's real test, and
benchmarks/gpu_check.py, where TensorRT and a GPU exist).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
from fake_tensorrt import FakeGpus, RecordingTensorRT
from torch import nn

from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import BackendError, MissingDependencyError, UnsupportedOptionError
from dcpt_sdk.runtimes import available_backends, load_artifact
from dcpt_sdk.runtimes import tensorrt_backend as backend
from dcpt_sdk.spec import ModelSpec

RUNTIME_CALLS = (
    "deserialize_cuda_engine",
    "create_execution_context",
    "set_input_shape",
    "set_tensor_address",
    "execute_async_v3",
)


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, runtime_network: nn.Module
) -> tuple[Path, ArtifactInfo]:
    """model.engine + classifier.engine of the tiny network (fp32), built through the double."""
    from dcpt_sdk.export import tensorrt as trt_export
    from dcpt_sdk.export.api import _ClassifierGraph
    from dcpt_sdk.export.builders import BuildOptions, build_tensorrt
    from dcpt_sdk.export.contract import io_section
    from dcpt_sdk.formats import get_format

    directory = tmp_path_factory.mktemp("trt-engines")
    fmt = get_format("tensorrt")
    sizes = {"min_size": 32, "opt_size": 64, "max_size": 128}
    options = BuildOptions.from_options(runtime_network.spec, fmt, sizes)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trt_export, "require_tensorrt", lambda: RecordingTensorRT())
        built = build_tensorrt(
            runtime_network, _ClassifierGraph(runtime_network), directory, "fp32", options
        )
    info = ArtifactInfo(
        spec=runtime_network.spec,
        format="tensorrt",
        precision="fp32",
        model_file="model.engine",
        classifier_file=built.classifier_file,
        classifier_precision="fp32",
        shape_profile=built.shape_profile,
        io=io_section(runtime_network.spec, fmt, "fp32", built.classifier_file, "fp32", {}),
    )
    return directory, info


def _open(
    engines: tuple[Path, ArtifactInfo], device: str, gpus: FakeGpus
) -> tuple[backend.TensorRtRuntime, RecordingTensorRT]:
    double = RecordingTensorRT(gpus)
    runtime = backend.TensorRtRuntime(*engines, device, trt=double, placement=gpus.placement)
    return runtime, double


def _batch(height: int, width: int, count: int = 2) -> torch.Tensor:
    return torch.rand(count, 3, height, width, generator=torch.Generator().manual_seed(3))


def test_run_path_matches_torch(
    engines: tuple[Path, ArtifactInfo], runtime_network: nn.Module
) -> None:
    runtime, double = _open(engines, "auto", FakeGpus(current=0))
    assert runtime.device == "cuda:0" and not runtime.batch_gain  # profile max batch is 1
    x = _batch(48, 80)
    with torch.no_grad():
        restored, logits = runtime_network(x), runtime_network.classify_logits(x)
    assert (runtime.infer(x) - restored).abs().max() <= 1e-4  # the fp32 export threshold
    assert (runtime.classify_logits(x) - logits).abs().max() <= 1e-4
    # Two images, profile batch 1: two executions per engine, each on its own input shape.
    executions = [call for call in double.calls if call.name == "execute_async_v3"]
    assert len(executions) == 4 and all(call.detail != 0 for call in executions)  # not stream 0
    shapes = [call.detail for call in double.calls if call.name == "set_input_shape"]
    assert shapes == [("input", (1, 3, 48, 80))] * 4
    assert double.errors() == []
    runtime.close()
    with pytest.raises(BackendError, match="closed"):
        runtime.infer(x)


def test_the_classifier_engine_restores_and_classifies_in_one_execution(
    engines: tuple[Path, ArtifactInfo], runtime_network: nn.Module
) -> None:
    """The classifier engine's two outputs (names from the engine: logits, then the image) are
    bound and read by name; infer_and_classify executes that engine alone."""
    runtime, double = _open(engines, "auto", FakeGpus(current=0))
    assert runtime._classifier.model.output_names == ("logits", "output")  # type: ignore[union-attr]
    assert runtime.one_pass
    x = _batch(48, 80)
    with torch.no_grad():
        restored, logits = runtime_network.restore_and_classify(x)
    before = len(double.calls)
    image, head = runtime.infer_and_classify(x)
    calls = double.calls[before:]
    # Two images, profile batch 1: two executions of the classifier engine and none of the
    # restorer engine, each binding the input and both outputs.
    assert [c.name for c in calls if c.name == "execute_async_v3"] == ["execute_async_v3"] * 2
    bound = [c.detail for c in calls if c.name == "set_tensor_address"]
    assert bound == ["input", "logits", "output"] * 2
    assert (image - restored).abs().max() <= 1e-4 and (head - logits).abs().max() <= 1e-4
    torch.testing.assert_close(image, runtime.infer(x), atol=1e-5, rtol=0)
    assert double.errors() == []


def test_a_one_output_classifier_engine_still_classifies(
    engines: tuple[Path, ArtifactInfo], runtime_network: nn.Module, tmp_path: Path
) -> None:
    """A classifier engine of an artifact exported before the one-pass file (logits only)."""
    from _one_output import write_one_output_classifier

    directory = tmp_path / "old"
    shutil.copytree(engines[0], directory)
    info = write_one_output_classifier(runtime_network, directory, engines[1])
    runtime, double = _open((directory, info), "auto", FakeGpus(current=0))
    assert not runtime.one_pass and runtime._classifier.image is None  # type: ignore[union-attr]
    x = _batch(32, 48)
    with torch.no_grad():
        logits = runtime_network.classify_logits(x)
    assert (runtime.classify_logits(x) - logits).abs().max() <= 1e-4
    image, head = runtime.infer_and_classify(x)  # the restorer engine, then the classifier's
    assert torch.equal(image, runtime.infer(x)) and torch.equal(head, runtime.classify_logits(x))
    assert runtime.classifier_outputs(x)[0] is None
    assert double.errors() == []


def test_a_restorer_engine_with_two_outputs_is_refused(
    engines: tuple[Path, ArtifactInfo], tmp_path: Path
) -> None:
    shutil.copyfile(engines[0] / "classifier.engine", tmp_path / "model.engine")
    info = dataclasses.replace(engines[1], classifier_file=None)
    with pytest.raises(BackendError, match=r"outputs \['logits', 'output'\].*one output"):
        _open((tmp_path, info), "cuda", FakeGpus())


def test_every_step_runs_inside_the_engines_device_scope(
    engines: tuple[Path, ArtifactInfo],
) -> None:
    gpus = FakeGpus(current=0)
    runtime, double = _open(engines, "cuda:1", gpus)
    runtime.infer(_batch(32, 32, count=1))
    runtime.close()
    assert runtime.device == "cuda:1"
    devices = {(call.name, call.device) for call in double.calls if call.name in RUNTIME_CALLS}
    assert devices == {(name, 1) for name in RUNTIME_CALLS}
    # Buffers are made and the stream synchronised on cuda:1, each inside an entered scope.
    depth = 0
    for event, device in gpus.events:
        depth += {"enter": 1, "exit": -1}.get(event, 0)
        assert device == 1 and depth >= 0
        if event in ("buffer", "empty", "synchronize"):
            assert depth == 1, event
    kinds = [event for event, _ in gpus.events]
    assert kinds.count("buffer") == kinds.count("empty") == kinds.count("synchronize") == 1
    assert depth == 0 and gpus.current == 0  # the caller's device is restored


def test_the_double_fails_work_outside_the_engines_device(
    engines: tuple[Path, ArtifactInfo],
) -> None:
    # Why the scoping matters: what the old backend did (context creation and execution on the
    # caller's current device) fails, as it does on a GPU.
    gpus = FakeGpus(current=0)
    double = RecordingTensorRT(gpus)
    plan = (engines[0] / "model.engine").read_bytes()
    with gpus.placement("cuda:1").scope():
        engine = double.Runtime(double.Logger()).deserialize_cuda_engine(plan)
        context = engine.create_execution_context()
    assert engine.create_execution_context() is None
    x, out = torch.rand(1, 3, 32, 32), torch.empty(1, 3, 32, 32)
    assert context.set_input_shape("input", (1, 3, 32, 32))
    context.set_tensor_address("input", x.data_ptr())
    context.set_tensor_address("output", out.data_ptr())
    assert not context.execute_async_v3(7)
    assert len(double.errors()) == 2
    assert all("engine is on device 1, this call runs on device 0" in e for e in double.errors())


def test_input_outside_the_profile_is_refused(engines: tuple[Path, ArtifactInfo]) -> None:
    runtime, double = _open(engines, "cuda", FakeGpus())
    with pytest.raises(BackendError, match=r"outside this engine's optimization profile"):
        runtime.infer(_batch(32, 256, count=1))
    (error,) = double.errors()
    assert "exceed min ~ max range at index 3, maximum dimension in profile is 128" in error


def test_a_file_that_is_not_a_plan_is_refused(
    engines: tuple[Path, ArtifactInfo], tmp_path: Path
) -> None:
    (tmp_path / "model.engine").write_bytes(b"\x00" * 64)
    info = dataclasses.replace(engines[1], classifier_file=None)
    with pytest.raises(BackendError, match=r"cannot deserialize .*re-export it here"):
        _open((tmp_path, info), "cuda", FakeGpus())


@pytest.mark.gpu
def test_real_cuda_device_scope(
    engines: tuple[Path, ArtifactInfo], runtime_network: nn.Module
) -> None:
    """CudaDevice itself, on the last GPU, with the double reading torch's current device."""
    if not torch.cuda.is_available():
        pytest.skip("needs torch with a CUDA GPU")
    last = torch.cuda.device_count() - 1
    double = RecordingTensorRT()  # CUDA memory, torch.cuda.current_device()
    runtime = backend.TensorRtRuntime(*engines, f"cuda:{last}", trt=double)
    x = _batch(48, 80)
    with torch.no_grad():
        expected = runtime_network(x)
    assert (runtime.infer(x) - expected).abs().max() <= 1e-4
    devices = {(call.name, call.device) for call in double.calls if call.name in RUNTIME_CALLS}
    assert devices == {(name, last) for name in RUNTIME_CALLS}
    runtime.close()


def test_unavailable_without_tensorrt_or_gpu() -> None:
    from dcpt_sdk._optional import is_available

    expected = is_available("tensorrt") and torch.cuda.is_available()
    assert backend.is_available() == expected
    assert ("tensorrt" in available_backends()) == expected


def test_loading_an_engine_here_names_what_is_missing(tmp_path) -> None:
    if backend.is_available():
        pytest.skip("this machine has TensorRT and a GPU")
    info = ArtifactInfo(
        spec=ModelSpec(arch="nafnet"),
        format="tensorrt",
        precision="fp16",
        model_file="model.engine",
    )
    with pytest.raises(
        MissingDependencyError, match=r"needs the 'tensorrt' package and an NVIDIA GPU"
    ):
        load_artifact(tmp_path, info, "cuda")


def test_device_names() -> None:
    assert backend._cuda_device("auto") == "cuda"
    assert backend._cuda_device("cuda:1") == "cuda:1"
    with pytest.raises(UnsupportedOptionError, match="valid: auto, cuda"):
        backend._cuda_device("cpu")
