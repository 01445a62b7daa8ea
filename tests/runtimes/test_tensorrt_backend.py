"""The TensorRT backend: availability and its error where TensorRT or a GPU is missing.

Running a plan needs TensorRT and a CUDA GPU; tests/export/test_tensorrt_build.py's real test
builds and verifies one where they exist (verification runs through this backend)."""

from __future__ import annotations

import pytest

from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import MissingDependencyError, UnsupportedOptionError
from dcpt_sdk.runtimes import available_backends, load_artifact
from dcpt_sdk.runtimes import tensorrt_backend as backend
from dcpt_sdk.spec import ModelSpec


def test_unavailable_without_tensorrt_or_gpu() -> None:
    import torch

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
