from __future__ import annotations

import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array


def test_darker(clean: np.ndarray) -> None:
    assert degrade_array(clean, "low_light", 0).mean() < 0.45 * clean.mean()


def test_gamma_crushes_shadows_more_than_highlights(clean: np.ndarray) -> None:
    out = degrade_array(clean, "low_light", 0, shot=0.0, read=0.0)
    dark, bright = (clean > 0.05) & (clean < 0.2), clean > 0.7
    assert (out[dark] / clean[dark]).mean() < 0.7 * (out[bright] / clean[bright]).mean()


def test_neutral_settings_change_nothing(clean: np.ndarray) -> None:
    out = degrade_array(clean, "low_light", 0, exposure=1.0, gamma=1.0, shot=0.0, read=0.0)
    np.testing.assert_allclose(out, clean, atol=1e-6)


def test_shot_noise_grows_with_the_signal() -> None:
    flat = np.ones((128, 128, 3), np.float32)
    params = {"exposure": 1.0, "gamma": 1.0, "shot": 0.01, "read": 0.0}
    dim = degrade_array(flat * 0.1, "low_light", 0, **params)
    bright = degrade_array(flat * 0.4, "low_light", 0, **params)
    assert dim.std() == pytest.approx(np.sqrt(0.01 * 0.1), rel=0.05)
    assert bright.std() == pytest.approx(np.sqrt(0.01 * 0.4), rel=0.05)
