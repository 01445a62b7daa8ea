from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def natural_image() -> np.ndarray:
    """A natural RGB photo (uint8 HxWx3) shipped by scikit-image (no download)."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photos")
    return np.ascontiguousarray(skimage_data.astronaut())
