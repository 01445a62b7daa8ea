"""The OpenVINO backend: the recorded precision hint is applied, devices, parity, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

pytest.importorskip("openvino", reason="the openvino extra is not installed")

from dcpt_sdk.errors import UnsupportedOptionError  # noqa: E402
from dcpt_sdk.runtimes import load_artifact  # noqa: E402
from dcpt_sdk.runtimes.openvino_backend import ov_device  # noqa: E402


def test_device_names() -> None:
    assert ov_device("auto") == ov_device("cpu") == "CPU"
    assert ov_device("gpu.1") == "GPU.1"
    with pytest.raises(UnsupportedOptionError, match="for NVIDIA GPUs use onnx or tensorrt"):
        ov_device("cuda")


def test_absent_device_is_an_error(artifact) -> None:
    import openvino

    directory, info = artifact("openvino", "fp32")
    if "GPU" in openvino.Core().available_devices:
        pytest.skip("this machine has an OpenVINO GPU")
    with pytest.raises(UnsupportedOptionError, match="'GPU' is not present here; available: CPU"):
        load_artifact(directory, info, "GPU")


@pytest.mark.parametrize(
    ("precision", "hint", "atol"), [("fp32", "f32", 1e-5), ("bf16", "bf16", 0.1)]
)
def test_hint_is_applied_and_output_matches(
    artifact, runtime_network, precision, hint, atol
) -> None:
    directory, info = artifact("openvino", precision)
    runtime = load_artifact(directory, info, "cpu")
    assert runtime.inference_precision == hint and runtime.device == "CPU"
    x = torch.rand(2, 3, 24, 36)
    with torch.no_grad():
        expected = runtime_network(x)
    torch.testing.assert_close(runtime.infer(x), expected, atol=atol, rtol=0)
    assert runtime.classify_logits(x).shape == (2, 2)


def test_one_infer_request_per_thread(artifact) -> None:
    directory, info = artifact("openvino", "fp32")
    runtime = load_artifact(directory, info, "cpu")
    inputs = [torch.rand(1, 3, 16, 16 + 4 * i) for i in range(6)]
    sequential = [runtime.infer(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(runtime.infer, inputs))
    for a, b in zip(sequential, parallel, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_shape_seen_twice_runs_a_static_compile_with_the_same_output(artifact, precision) -> None:
    """The second call of a shape compiles the model for it (faster kernels), the output stays
    what the dynamic model gives; at most _STATIC_SHAPES static compiles are kept."""
    from dcpt_sdk.runtimes import openvino_backend

    directory, info = artifact("openvino", precision)
    runtime = load_artifact(directory, info, "cpu")
    compiled = runtime._model.model  # type: ignore[attr-defined]  # the restorer file's
    x = torch.rand(1, 3, 32, 48)
    first = runtime.infer(x)  # dynamic
    assert compiled._static == {}
    second = runtime.infer(x)  # static 1x3x32x48
    assert list(compiled._static) == [(1, 3, 32, 48)]
    tolerance = 1e-5 if precision == "fp32" else 0.05
    torch.testing.assert_close(second, first, atol=tolerance, rtol=0)
    for width in range(16, 16 * (openvino_backend._STATIC_SHAPES + 3), 16):
        y = torch.rand(1, 3, 16, width)
        runtime.infer(y)
        runtime.infer(y)
    assert len(compiled._static) == openvino_backend._STATIC_SHAPES


def test_a_large_image_is_not_tiled_for_the_torch_memory_model(artifact, runtime_network) -> None:
    """OpenVINO reuses buffers: the Restorer's memory model (measured on torch) is scaled by
    the backend's own factor, so an image torch must tile runs in one pass here."""
    from dcpt_sdk.restorer import Restorer

    directory, _ = artifact("openvino", "fp32")
    on_openvino = Restorer(directory)
    on_torch = Restorer(runtime_network, backend="torch", device="cpu")
    side = int((on_torch.memory_budget_bytes / on_torch._bytes_per_pixel) ** 0.5) + 64
    assert on_torch._tile_for(side, side) is not None
    assert on_openvino._tile_for(side, side) is None
