"""dcpt-sdk: train, export and run DCPT all-in-one image restoration models.

The public API is small and stable::

    import dcpt_sdk
    restorer = dcpt_sdk.Restorer("model.safetensors")      # or an exported artifact directory
    clean = restorer.run("rainy.png")
    probs = restorer.classify("rainy.png")                 # {"derain": 0.93, ...}

Importing dcpt_sdk needs only numpy, torch, pillow and safetensors; ONNX Runtime, OpenVINO,
TensorRT, NNCF and Accelerate are imported only by the code that uses them.
"""

from __future__ import annotations

from dcpt_sdk.checkpoint import load_model, save_model
from dcpt_sdk.degradations.api import degrade
from dcpt_sdk.errors import DcptError
from dcpt_sdk.imaging import read_image, write_image
from dcpt_sdk.models import create_model, list_models
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.spec import ModelSpec

__version__ = "0.1.0"

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
