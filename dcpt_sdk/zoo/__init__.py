"""The built-in model zoo: weights shipped inside the package, usable offline by name.

Each entry is a .safetensors file in this folder whose metadata carries its ModelSpec. The default
model ("default") is the entry named in DEFAULT_MODEL; until its weights are shipped, asking for it
is a clear error rather than an untrained network.
"""

from __future__ import annotations

from pathlib import Path

from dcpt_sdk.errors import ModelLoadError

ZOO_DIR = Path(__file__).parent
DEFAULT_MODEL = "dcpt-nafnet-w16-7d"


def available_models() -> list[str]:
    """Names of the zoo models shipped in this installation."""
    return sorted(path.stem for path in ZOO_DIR.glob("*.safetensors"))


def model_path(name: str) -> Path:
    """The weights file of a zoo model ("default" means DEFAULT_MODEL)."""
    resolved = DEFAULT_MODEL if name == "default" else name
    path = ZOO_DIR / f"{resolved}.safetensors"
    if path.is_file():
        return path
    shipped = available_models()
    listing = ", ".join(shipped) if shipped else "none yet"
    raise ModelLoadError(
        f"'{name}' is not a built-in model (shipped: {listing}); pass a checkpoint path "
        "(.safetensors/.pth) or an exported artifact directory instead"
    )
