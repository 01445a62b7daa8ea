from __future__ import annotations

import subprocess
import sys

import dcpt_sdk

# (tqdm is not listed: torch.hub imports it whenever it is installed.)
OPTIONAL = ["onnx", "onnxruntime", "openvino", "nncf", "accelerate", "tensorrt", "yaml"]


def test_import_needs_only_the_base_dependencies() -> None:
    code = (
        "import sys, dcpt_sdk; "
        f"loaded = [m for m in {OPTIONAL!r} if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_public_api_is_small_and_importable() -> None:
    assert 8 <= len(dcpt_sdk.__all__) <= 20
    for name in dcpt_sdk.__all__:
        assert hasattr(dcpt_sdk, name)


def test_mapped_packages_live_under_dcpt_sdk() -> None:
    import dcpt_sdk.export
    import dcpt_sdk.runtimes
    import dcpt_sdk.train

    for module in (dcpt_sdk.export, dcpt_sdk.runtimes, dcpt_sdk.train):
        assert module.__name__.startswith("dcpt_sdk.")
