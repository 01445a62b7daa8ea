from __future__ import annotations

import numpy as np

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.degradations.haze import depth_proxy


def test_haze_pulls_towards_the_airlight_and_lowers_contrast(clean: np.ndarray) -> None:
    out = degrade_array(clean, "haze", 0, beta=1.5, airlight=0.9)
    assert abs(out.mean() - 0.9) < abs(clean.mean() - 0.9)
    assert out.std() < 0.7 * clean.std()


def test_beta_zero_is_clear_air(clean: np.ndarray) -> None:
    np.testing.assert_allclose(degrade_array(clean, "haze", 0, beta=0.0), clean, atol=1e-6)


def test_the_top_of_the_frame_is_farther() -> None:
    black = np.zeros((64, 64, 3), np.float32)
    veil = degrade_array(black, "haze", 0, beta=1.5, airlight=1.0)[..., 0]
    assert veil[:8].mean() > veil[-8:].mean() + 0.2  # more airlight where the proxy is deep


def test_depth_proxy_range(clean: np.ndarray) -> None:
    depth = depth_proxy(clean)
    assert depth.shape == clean.shape[:2]
    assert 0.0 < depth.min() and depth.max() <= 1.0
