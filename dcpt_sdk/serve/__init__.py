"""dcpt-serve: one Restorer behind an HTTP service (the ``serve`` extra).

    from dcpt_sdk.serve import ServeSettings, create_app
    app = create_app(Restorer(), ServeSettings(queue_size=8))   # an ASGI app for any server

``create_app`` is imported on first use, after checking that the extra is installed, so a
missing FastAPI is an error naming ``pip install 'dcpt-sdk[serve]'``, not an ImportError from
deep inside the app module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dcpt_sdk._optional import require
from dcpt_sdk.serve.settings import ServeSettings

if TYPE_CHECKING:
    from dcpt_sdk.serve.app import create_app

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name != "create_app":
        raise AttributeError(f"module 'dcpt_sdk.serve' has no attribute '{name}'")
    for module in ("fastapi", "prometheus_client"):
        require(module, "dcpt-serve")
    from dcpt_sdk.serve.app import create_app

    return create_app
