from __future__ import annotations

import numpy as np

from dcpt_sdk.degradations import degrade_array


def test_streaks_only_lighten(clean: np.ndarray) -> None:
    out = degrade_array(clean, "rain", 0)
    assert (out >= clean - 1e-6).all()
    assert (out > clean + 0.05).mean() > 0.01  # visible streaks cover part of the image


def test_no_density_no_rain(clean: np.ndarray) -> None:
    np.testing.assert_allclose(degrade_array(clean, "rain", 0, density=0.0), clean, atol=1e-6)


def test_streaks_follow_the_angle() -> None:
    black = np.zeros((128, 128, 3), np.float32)
    layer = degrade_array(black, "rain", 0, angle=0.0, length=30)[..., 0]

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    vertical = correlation(layer[:-4], layer[4:])
    horizontal = correlation(layer[:, :-4], layer[:, 4:])
    assert vertical > 0.5 > horizontal
