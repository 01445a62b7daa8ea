from __future__ import annotations

import numpy as np
import pytest
import torch
from _models import randomised

from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.metrics import psnr
from dcpt_sdk.models import create_model
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.runtimes.torch_backend import TorchRuntime, resolve_device

CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)"
)


def _trained_like(name: str = "nafnet-tiny") -> torch.nn.Module:
    return randomised(create_model(name))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from dcpt_sdk.zoo.samples import sample_images

    return sample_images()[0][100:164, 200:272].astype(np.float32) / 255.0


def test_bf16_on_cpu_stays_close_to_fp32(photo: np.ndarray) -> None:
    model = _trained_like()
    fp32 = Restorer(model, device="cpu", precision="fp32").run(photo)
    bf16 = Restorer(model, device="cpu", precision="bf16").run(photo)
    assert psnr(bf16, fp32, clip=False) >= 35.0  # bf16 keeps 8 mantissa bits: ~2e-3 relative error


def test_option_errors() -> None:
    model = _trained_like()
    with pytest.raises(UnsupportedOptionError, match="fp16 on the CPU"):
        TorchRuntime(model, device="cpu", precision="fp16")
    with pytest.raises(UnsupportedOptionError, match="for int8 export"):
        TorchRuntime(model, device="cpu", precision="int8")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedOptionError, match="valid: auto, cpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(UnsupportedOptionError, match="has no .spec"):
        TorchRuntime(torch.nn.Conv2d(3, 3, 3))
    if not torch.cuda.is_available():
        with pytest.raises(UnsupportedOptionError, match="torch sees no CUDA GPU"):
            resolve_device("cuda")


def test_runtime_rejects_unpadded_input() -> None:
    runtime = TorchRuntime(_trained_like(), device="cpu")
    with pytest.raises(BackendError, match="not a multiple of 4"):
        runtime.infer(torch.zeros(1, 3, 10, 12))


@CUDA
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("name", ["nafnet-tiny", "restormer-tiny", "promptir-tiny"])
def test_cuda_matches_cpu_fp32(name: str, precision: str, photo: np.ndarray) -> None:
    model = _trained_like(name)
    reference = Restorer(model, device="cpu").run(photo)
    got = Restorer(model, device="cuda", precision=precision).run(photo)  # type: ignore[arg-type]
    threshold = {"fp32": 60.0, "fp16": 45.0, "bf16": 35.0}[precision]
    assert psnr(got, reference, clip=False) >= threshold
