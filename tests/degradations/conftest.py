from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dcpt_sdk.metrics import psnr as _psnr


@pytest.fixture(scope="session")
def clean(natural_image: np.ndarray) -> np.ndarray:
    """The shipped astronaut box-downscaled to 256x256, float32 in [0, 1]: the photo the
    registry's PSNR bands were measured on."""
    img = natural_image.astype(np.float32) / 255.0
    h, w = img.shape[0] // 2, img.shape[1] // 2
    small = img[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))[:256, :256]
    small = np.ascontiguousarray(small, dtype=np.float32)
    small.setflags(write=False)  # a degradation that writes into its input fails loudly
    return small


@pytest.fixture(scope="session")
def psnr() -> Callable[[np.ndarray, np.ndarray], float]:
    """dcpt_sdk.metrics.psnr of two float images in [0, 1], unclipped: a degradation's own
    output is judged, including any value it lets stray outside [0, 1] (unclipped noise)."""

    def unclipped(output: np.ndarray, target: np.ndarray) -> float:
        return _psnr(output, target, clip=False)

    return unclipped
