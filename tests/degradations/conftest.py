from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture(scope="session")
def clean(natural_image: np.ndarray) -> np.ndarray:
    """skimage's astronaut box-downscaled to 256x256, float32 in [0, 1]: the photo the registry's
    PSNR bands were measured on."""
    img = natural_image.astype(np.float32) / 255.0
    h, w = img.shape[0] // 2, img.shape[1] // 2
    small = img[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))[:256, :256]
    small = np.ascontiguousarray(small, dtype=np.float32)
    small.setflags(write=False)  # a degradation that writes into its input fails loudly
    return small


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10.0 * np.log10(1.0 / mse)


@pytest.fixture(scope="session")
def psnr() -> Callable[[np.ndarray, np.ndarray], float]:
    """PSNR in dB of two float images in [0, 1]."""
    return _psnr
