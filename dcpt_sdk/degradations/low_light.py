"""Low light: an under-exposed, gamma-darkened image with the noise a dark capture carries."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations.params import uniform

__all__ = ["PARAMS", "low_light"]

EXPOSURE = uniform("exposure", 0.2, 0.5, valid=(0, 1), doc="linear gain on the darkened image")
GAMMA = uniform("gamma", 1.6, 2.6, valid=(0.1, 10), doc="tone-curve exponent (> 1 darkens)")
SHOT = uniform(
    "shot", 0.001, 0.008, valid=(0, 1), doc="shot-noise gain k: variance k * signal (Poisson-like)"
)
READ = uniform("read", 0.002, 0.01, valid=(0, 1), doc="read-noise standard deviation")
PARAMS = (EXPOSURE, GAMMA, SHOT, READ)


def low_light(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    exposure: Any = None,
    gamma: Any = None,
    shot: Any = None,
    read: Any = None,
) -> np.ndarray:
    """Under-exposure: I = clip(L + n), L = e J^gamma, n ~ N(0, k L + sigma_r^2).

    The gamma curve crushes shadows more than highlights (as LOL's low/normal pairs differ), and
    the noise is heteroscedastic: photon shot noise grows with the signal (a Gaussian with the
    Poisson variance k L) on top of signal-independent read noise.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the defaults and the noise.
        exposure: U[0.2, 0.5]; gamma: U[1.6, 2.6]; shot: U[0.001, 0.008]; read: U[0.002, 0.01].
    """
    e = EXPOSURE.resolve(exposure, rng, "low_light")
    g = GAMMA.resolve(gamma, rng, "low_light")
    k = SHOT.resolve(shot, rng, "low_light")
    r = READ.resolve(read, rng, "low_light")
    dark = np.float32(e) * np.power(img, np.float32(g))
    std = np.sqrt(np.float32(k) * dark + np.float32(r * r))
    out = dark + std * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(out, 0.0, 1.0)
