"""dcpt-sdk: train, export and run DCPT all-in-one image restoration models.

The public API is small and stable::

    import dcpt_sdk
    restorer = dcpt_sdk.Restorer("model.safetensors")      # or an exported artifact directory
    clean = restorer.run("rainy.png")
    probs = restorer.classify("rainy.png")                 # {"derain": 0.93, ...}

Importing dcpt_sdk needs only numpy, torch, pillow and safetensors (the 16-bit PNG/TIFF codecs,
OpenCV and tifffile, are core dependencies imported on first use); ONNX Runtime, OpenVINO,
TensorRT, NNCF and Accelerate are imported only by the code that uses them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcpt_sdk.checkpoint import load_model, save_model
    from dcpt_sdk.degradations.api import degrade
    from dcpt_sdk.errors import DcptError
    from dcpt_sdk.imaging import read_image, write_image
    from dcpt_sdk.models import create_model, list_models
    from dcpt_sdk.restorer import Restorer
    from dcpt_sdk.spec import ModelSpec

__version__ = "0.1.0"

# Public name -> the module defining it. Imported on first use (PEP 562), so `import dcpt_sdk`
# and the console commands' entry points (dcpt_sdk.cli) start without importing torch.
_PUBLIC = {
    "DcptError": "dcpt_sdk.errors",
    "ModelSpec": "dcpt_sdk.spec",
    "Restorer": "dcpt_sdk.restorer",
    "create_model": "dcpt_sdk.models",
    "degrade": "dcpt_sdk.degradations.api",
    "list_models": "dcpt_sdk.models",
    "load_model": "dcpt_sdk.checkpoint",
    "read_image": "dcpt_sdk.imaging",
    "save_model": "dcpt_sdk.checkpoint",
    "write_image": "dcpt_sdk.imaging",
}

__all__ = [
    "DcptError",
    "ModelSpec",
    "Restorer",
    "__version__",
    "create_model",
    "degrade",
    "list_models",
    "load_model",
    "read_image",
    "save_model",
    "write_image",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'dcpt_sdk' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
