"""Sample photos shipped inside the package (no download): for demos, INT8 calibration and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES_DIR = Path(__file__).parent / "samples"


def sample_paths() -> list[Path]:
    """Paths of the shipped sample photos (PNG, RGB, uint8), sorted by name."""
    return sorted(SAMPLES_DIR.glob("*.png"))


def sample_images() -> list[np.ndarray]:
    """The shipped sample photos as uint8 H x W x 3 arrays."""
    return [np.asarray(Image.open(path).convert("RGB")) for path in sample_paths()]
