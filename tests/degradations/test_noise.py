from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.degradations.noise import noise
from dcpt_sdk.errors import UnsupportedOptionError

Psnr = Callable[[np.ndarray, np.ndarray], float]


def test_sigma_25_unclipped_gives_20_2_db(clean: np.ndarray, psnr: Psnr) -> None:
    out = degrade_array(clean, "noise", 0, sigma=25, clip=False)
    assert psnr(out, clean) == pytest.approx(20.2, abs=0.3)


def test_unclipped_noise_may_leave_the_unit_range(clean: np.ndarray) -> None:
    out = noise(clean, np.random.default_rng(0), sigma=50, clip=False)
    assert out.min() < 0.0 or out.max() > 1.0
    assert np.std(out - clean) == pytest.approx(50 / 255, rel=0.02)


def test_default_sigma_is_one_of_the_reference_levels(clean: np.ndarray) -> None:
    crop = clean[:64, :64]
    levels = {
        round(float(np.std(noise(crop, np.random.default_rng(s), clip=False) - crop)) * 255)
        for s in range(30)
    }
    assert all(min(abs(v - ref) for ref in (15, 25, 50)) <= 2 for v in levels)


@pytest.mark.parametrize("bad", [-1, 300, "high", float("nan")])
def test_invalid_sigma_names_the_valid_range(clean: np.ndarray, bad: object) -> None:
    with pytest.raises(UnsupportedOptionError, match=r"sigma=.* a number in \[0, 255\]"):
        degrade_array(clean, "noise", 0, sigma=bad)


def test_clip_must_be_a_bool(clean: np.ndarray) -> None:
    with pytest.raises(UnsupportedOptionError, match="clip takes one of True, False"):
        degrade_array(clean, "noise", 0, clip="yes")
