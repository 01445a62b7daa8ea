from __future__ import annotations

import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.degradations.snow import flake_kernel


def test_flakes_and_veil_brighten(clean: np.ndarray) -> None:
    out = degrade_array(clean, "snow", 0)
    assert out.mean() > clean.mean() + 0.02
    assert (out > 0.9).mean() > (clean > 0.9).mean()


def test_veil_alone_is_a_whitish_blend(clean: np.ndarray) -> None:
    out = degrade_array(clean, "snow", 0, density=0.0, veil=0.5)
    np.testing.assert_allclose(out, clean * 0.5 + 0.45, atol=1e-6)


def test_flakes_come_in_several_sizes() -> None:
    black = np.zeros((256, 256, 3), np.float32)
    flakes = degrade_array(black, "snow", 0, veil=0.0, streak=0.0)[..., 0] > 0.3
    widths = _run_lengths(flakes)  # horizontal extent of flake pixels, row by row
    assert widths.min() <= 2 and widths.max() >= 5


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    runs = []
    for row in mask:
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        runs.extend(np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0])
    return np.asarray(runs, np.int64)


def test_streaked_flake_keeps_its_light_but_dims() -> None:
    round_flake = flake_kernel(2.0, 0.0, 0.0)
    streaked = flake_kernel(2.0, 10.0, 0.0)
    assert streaked.sum() == pytest.approx(round_flake.sum(), rel=0.05)
    assert streaked.max() < 0.6 * round_flake.max()
