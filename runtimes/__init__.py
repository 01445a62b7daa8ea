"""Backends behind one protocol (runtimes.base.Runtime), imported lazily.

Each artifact backend module exposes ``is_available() -> bool`` and
``load_artifact(directory, info, device) -> Runtime``; the torch backend wraps a module directly.
Heavy packages (onnxruntime, openvino, tensorrt) are imported only when their backend is used.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from dcpt_sdk import formats
from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import MissingDependencyError
from dcpt_sdk.formats import BackendName, format_of_backend, get_format
from dcpt_sdk.runtimes.base import Runtime

__all__ = ["Runtime", "backend_module", "available_backends", "load_artifact"]


def backend_module(backend: str) -> ModuleType:
    """The module that runs ``backend`` (the formats table's ``runtime``), imported now."""
    return importlib.import_module(format_of_backend(backend).runtime)


def available_backends() -> list[BackendName]:
    """Backends whose packages (and, for TensorRT, GPU) are present on this machine."""
    names: list[BackendName] = []
    for fmt in formats.FORMATS:
        module = backend_module(fmt.backend)
        if getattr(module, "is_available", lambda: True)():
            names.append(fmt.backend)
    return names


def load_artifact(directory: str | Path, info: ArtifactInfo, device: str) -> Runtime:
    """Open an exported artifact with the backend of its format."""
    fmt = get_format(info.format)
    module = backend_module(fmt.backend)
    if not module.is_available():
        raise MissingDependencyError(
            f"the artifact '{directory}' is {fmt.name}, which needs the '{fmt.python_module}' "
            f"package{' and an NVIDIA GPU' if fmt.needs_gpu else ''}: "
            f"pip install 'dcpt-sdk[{fmt.pip_extra}]'"
        )
    return module.load_artifact(Path(directory), info, device)
