"""Lazy imports of optional heavy packages with an error that names the pip extra to install."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from dcpt_sdk import formats
from dcpt_sdk.errors import MissingDependencyError

# module name -> pip extra of dcpt-sdk that installs it; each format's runtime package and its
# extra are the formats table's (python_module, pip_extra), looked up in _extra_of.
_EXTRA_OF_MODULE: dict[str, str] = {
    "onnx": "onnx",
    "onnxscript": "onnx",
    "nncf": "quant",
    "accelerate": "train",
    "yaml": "train",
    "tqdm": "train",
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
        extra = _extra_of(module.split(".")[0])
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"the Python package '{module}' is not installed{why}: pip install 'dcpt-sdk[{extra}]'"
        ) from exc


def _extra_of(package: str) -> str:
    for fmt in formats.FORMATS:
        if fmt.python_module == package and fmt.pip_extra:
            return fmt.pip_extra
    return _EXTRA_OF_MODULE.get(package, "cpu")


def is_available(module: str) -> bool:
    """True when ``module`` can be imported (without importing errors from a broken install)."""
    return importlib.util.find_spec(module) is not None
