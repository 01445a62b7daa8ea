"""Lazy imports of optional heavy packages with an error that names the pip extra to install."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from dcpt_sdk.errors import MissingDependencyError

# module name -> pip extra of dcpt-sdk that installs it
_EXTRA_OF_MODULE: dict[str, str] = {
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "openvino": "openvino",
    "nncf": "quant",
    "accelerate": "train",
    "yaml": "train",
    "tqdm": "train",
    "tensorrt": "gpu",
    "fastapi": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "ray": "ray",
    "tritonclient": "triton",
}


def require(module: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRA_OF_MODULE.get(module.split(".")[0], "cpu")
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"the Python package '{module}' is not installed{why}: pip install 'dcpt-sdk[{extra}]'"
        ) from exc


def is_available(module: str) -> bool:
    """True when ``module`` can be imported (without importing errors from a broken install)."""
    return importlib.util.find_spec(module) is not None
