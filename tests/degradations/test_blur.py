from __future__ import annotations

import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.degradations.blur import disk_kernel, splat, trajectory


def _sharpness(img: np.ndarray) -> float:
    gray = img.mean(axis=2)
    return float(np.abs(np.diff(gray, axis=0)).mean() + np.abs(np.diff(gray, axis=1)).mean())


@pytest.mark.parametrize("name", ["motion_blur", "defocus_blur"])
def test_blur_removes_detail_and_keeps_brightness(clean: np.ndarray, name: str) -> None:
    out = degrade_array(clean, name, 0)
    assert _sharpness(out) < 0.7 * _sharpness(clean)
    assert out.mean() == pytest.approx(clean.mean(), abs=0.01)


@pytest.mark.parametrize("shake", [0.0, 0.5, 1.0])
def test_motion_kernel_is_normalised_centred_and_as_long_as_asked(shake: float) -> None:
    path = trajectory(np.random.default_rng(0), 15.0, shake)
    assert float(np.ptp(path, axis=0).max()) == pytest.approx(15.0)
    kernel = splat(path)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    y, x = np.mgrid[: kernel.shape[0], : kernel.shape[1]]
    centre = kernel.shape[0] // 2
    assert float((kernel * y).sum()) == pytest.approx(centre, abs=0.05)  # no shift of the image
    assert float((kernel * x).sum()) == pytest.approx(centre, abs=0.05)


def test_straight_motion_is_a_line() -> None:
    kernel = splat(trajectory(np.random.default_rng(0), 15.0, 0.0))
    assert (kernel > 1e-3).sum() < 4 * 16  # a thin line (<= 4 px across), not a 15 px blob


def test_zero_length_and_zero_radius_change_nothing(clean: np.ndarray) -> None:
    np.testing.assert_allclose(degrade_array(clean, "motion_blur", 0, length=0), clean, atol=1e-5)
    np.testing.assert_allclose(degrade_array(clean, "defocus_blur", 0, radius=0), clean, atol=1e-5)


def test_disk_kernel_is_a_normalised_symmetric_disk() -> None:
    kernel = disk_kernel(3.0)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(kernel, kernel.T)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1])
    centre = kernel.shape[0] // 2
    assert kernel[centre, centre] == kernel.max()
    assert kernel[0, 0] == 0.0 and kernel[centre, 0] == 0.0  # nothing beyond the rim
