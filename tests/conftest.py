from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dcpt_sdk.zoo.samples import SAMPLES_DIR


@pytest.fixture(scope="session", autouse=True)
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """backend="auto" caches rankings and exports in the user cache: tests get their own (one
    per session, so the built-in model is exported once per run, never into ~/.cache)."""
    before = os.environ.get("DCPT_CACHE_DIR")
    folder = tmp_path_factory.mktemp("dcpt-cache")
    os.environ["DCPT_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("DCPT_CACHE_DIR", None)
    else:
        os.environ["DCPT_CACHE_DIR"] = before


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def natural_image() -> np.ndarray:
    """A natural RGB photo (uint8 512x512x3): the astronaut the package ships (skimage's)."""
    from PIL import Image

    with Image.open(SAMPLES_DIR / "astronaut.png") as photo:
        return np.ascontiguousarray(photo.convert("RGB"))
