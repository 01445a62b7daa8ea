from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_top_level_folders_are_reached_through_symlinks_in_the_package() -> None:
    root = Path(__file__).resolve().parents[1]
    for folder in ("export", "train", "runtimes"):
        link = root / "dcpt_sdk" / folder
        assert link.is_symlink() and link.resolve() == root / folder, link


def test_no_training_module_shadows_an_installed_top_level_module() -> None:
    """``accelerate launch train/pretrain.py`` puts train/ first on sys.path, so a train/
    module named like an installed package (``config``, ``data``, ``metrics``, ...) would be
    imported in its place by any library asking for it. Rename the module if this fails."""
    import importlib.util

    train = Path(__file__).resolve().parents[1] / "train"
    names = sorted(p.stem for p in train.glob("*.py") if p.stem != "__init__")
    assert "pretrain" in names
    code = (
        "import importlib.util, json, sys; "
        f"print(json.dumps([n for n in {names!r} if importlib.util.find_spec(n)]))"
    )
    # A fresh interpreter started outside the checkout: train/ is not on its sys.path there.
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert result.stdout.strip() == "[]", (
        f"train/ modules shadowing installed ones: {result.stdout}"
    )
    assert importlib.util.find_spec("dcpt_sdk.train.pretrain") is not None


def _site_packages() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


@pytest.mark.slow
def test_the_wheel_carries_every_package_and_the_default_model(tmp_path: Path) -> None:
    """Build the wheel, install it (no deps: the test venv's own packages) into a fresh venv
    and restore with the built-in model from outside the checkout."""
    import zipfile

    root = Path(__file__).resolve().parents[1]
    wheels = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(root)],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = wheels.glob("dcpt_sdk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "dcpt_sdk/export/api.py",
        "dcpt_sdk/train/pretrain.py",
        "dcpt_sdk/train/configs/default-model.yaml",
        "dcpt_sdk/runtimes/openvino_backend.py",
        "dcpt_sdk/archs/nafnet/__init__.py",
        "dcpt_sdk/zoo/dcpt-nafnet-w16-7d.safetensors",
    ):
        assert required in names, required
    assert not any(n.split("/")[0] in ("export", "train", "runtimes") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    code = (
        "import numpy as np, dcpt_sdk, dcpt_sdk.export.api, dcpt_sdk.train.loop; "
        "assert 'site-packages' in dcpt_sdk.__file__, dcpt_sdk.__file__; "
        "r = dcpt_sdk.Restorer(backend='torch'); "
        "print(r.run(np.zeros((32, 32, 3), np.uint8)).shape)"
    )
    result = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path,
        # The test venv's packages (torch, ...) on PYTHONPATH: plain directories, so its
        # editable-install hook for the checkout (a .pth file) is not loaded.
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": _site_packages()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(32, 32, 3)"
