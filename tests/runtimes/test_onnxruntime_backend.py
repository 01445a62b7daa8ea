"""The ONNX Runtime backend: provider choice, silent-fallback detection, parity, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from dcpt_sdk.errors import BackendError, UnsupportedOptionError  # noqa: E402
from dcpt_sdk.runtimes import load_artifact  # noqa: E402
from dcpt_sdk.runtimes import onnxruntime_backend as backend  # noqa: E402

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


def test_provider_lists() -> None:
    assert backend.providers_for("cpu", [CPU]) == [CPU]
    assert backend.providers_for("auto", [CPU]) == [CPU]
    assert backend.providers_for("auto", [CUDA, CPU]) == [(CUDA, {"device_id": 0}), CPU]
    assert backend.providers_for("cuda:1", [CUDA, CPU]) == [(CUDA, {"device_id": 1}), CPU]
    assert backend.providers_for("tensorrt", [TRT, CUDA, CPU]) == [
        (TRT, {"device_id": 0}),
        (CUDA, {"device_id": 0}),
        CPU,
    ]


def test_gpu_device_without_gpu_onnxruntime_names_the_fix() -> None:
    with pytest.raises(UnsupportedOptionError, match=r"onnxruntime-gpu replaces onnxruntime"):
        backend.providers_for("cuda", [CPU])
    with pytest.raises(UnsupportedOptionError, match="valid: auto, cpu, cuda"):
        backend.providers_for("npu", [CPU])


class _FallbackSession:
    """An InferenceSession stand-in that, like onnxruntime-gpu without CUDA libraries, says it
    offers CUDA but runs on the CPU."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        pass

    def get_providers(self) -> list[str]:
        return [CPU]

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="input")]

    def get_outputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="logits"), SimpleNamespace(name="output")]


def test_silent_cpu_fallback_is_detected(monkeypatch, artifact) -> None:
    import onnxruntime

    directory, info = artifact("onnx", "fp32")
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(onnxruntime, "InferenceSession", _FallbackSession)
    with pytest.raises(BackendError, match="could not load CUDAExecutionProvider .* fell back"):
        load_artifact(directory, info, "cuda")
    with pytest.warns(RuntimeWarning, match="fell back to CPUExecutionProvider"):
        runtime = load_artifact(directory, info, "auto")
    assert runtime.device == "cpu"


def test_parity_batches_and_classifier(artifact, runtime_network) -> None:
    directory, info = artifact("onnx", "fp32")
    runtime = load_artifact(directory, info, "cpu")
    assert runtime.providers == [CPU] and runtime.thread_safe and runtime.has_classifier
    x = torch.rand(3, 3, 20, 28)
    with torch.no_grad():
        expected = runtime_network(x)
        logits = runtime_network.classify_logits(x)
    torch.testing.assert_close(runtime.infer(x), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(runtime.classify_logits(x), logits, atol=1e-5, rtol=1e-5)
    with pytest.raises(BackendError, match="not a multiple of 4"):
        runtime.infer(torch.rand(1, 3, 21, 28))


def test_concurrent_calls_match_sequential(artifact) -> None:
    directory, info = artifact("onnx", "int8")
    runtime = load_artifact(directory, info, "cpu")
    inputs = [torch.rand(1, 3, 16 + 4 * i, 24) for i in range(6)]
    sequential = [runtime.infer(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(runtime.infer, inputs))
    for a, b in zip(sequential, parallel, strict=True):
        assert torch.equal(a, b)


def test_artifact_without_classifier(artifact) -> None:
    directory, info = artifact("onnx", "fp16", classifier=False)
    runtime = load_artifact(directory, info, "cpu")
    assert not runtime.has_classifier and info.classifier_file is None
    with pytest.raises(UnsupportedOptionError, match="no degradation classifier"):
        runtime.classify_logits(torch.rand(1, 3, 16, 16))
