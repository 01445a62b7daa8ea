from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.errors import UnsupportedOptionError

Psnr = Callable[[np.ndarray, np.ndarray], float]


def test_lower_quality_loses_more(clean: np.ndarray, psnr: Psnr) -> None:
    q10 = psnr(degrade_array(clean, "jpeg", 0, quality=10), clean)
    q50 = psnr(degrade_array(clean, "jpeg", 0, quality=50), clean)
    assert q10 < q50 - 2.0


def test_artefacts_sit_on_the_8x8_grid(clean: np.ndarray) -> None:
    error = degrade_array(clean, "jpeg", 0, quality=10) - clean
    step = np.abs(np.diff(error.mean(axis=2), axis=1))  # column-to-column jumps of the error
    at_block_edges = step[:, 7::8].mean()
    inside = np.delete(step, np.s_[7::8], axis=1).mean()
    assert at_block_edges > 1.3 * inside


@pytest.mark.parametrize("bad", [0, 101, 20.5])
def test_invalid_quality(clean: np.ndarray, bad: float) -> None:
    with pytest.raises(UnsupportedOptionError, match=r"quality takes a whole number in \[1, 100\]"):
        degrade_array(clean, "jpeg", 0, quality=bad)
