"""Falling snow: flakes in three depth layers (far, mid, near), some streaked, over a veil."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations._ops import fft_convolve_sum, segment_distance
from dcpt_sdk.degradations.params import uniform

__all__ = ["PARAMS", "snow"]

DENSITY = uniform(
    "density", 0.003, 0.01, valid=(0, 0.2), doc="flakes per pixel, all layers together"
)
ANGLE = uniform("angle", -40, 40, valid=(-90, 90), doc="fall direction in degrees from vertical")
STREAK = uniform(
    "streak", 0, 8, valid=(0, 100), doc="motion streak of the nearest flakes in px (0 = round)"
)
VEIL = uniform("veil", 0.05, 0.25, valid=(0, 1), doc="strength of the whitish veil (snowy air)")
PARAMS = (DENSITY, ANGLE, STREAK, VEIL)

# (flake radius sigma in px, share of the flakes, share of the streak length): many small far
# flakes, few large near ones that move fastest across the frame.
_LAYERS = ((0.6, 0.65, 0.3), (1.3, 0.27, 0.6), (2.4, 0.08, 1.0))
_VEIL_LIGHT = 0.9


def flake_kernel(sigma: float, streak: float, angle: float) -> np.ndarray:
    """A Gaussian flake smeared along the fall direction; the smear keeps the flake's total light,
    so a streaked flake is dimmer at its core (as a moving flake is in one exposure)."""
    distance, _ = segment_distance(streak, angle, margin=3.0 * sigma + 1.0)
    shape = np.exp(-0.5 * (distance / sigma) ** 2)
    area = 2.0 * np.pi * sigma**2
    return (shape * (area / (area + streak * np.sqrt(2.0 * np.pi) * sigma))).astype(np.float32)


def snow(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    density: Any = None,
    angle: Any = None,
    streak: Any = None,
    veil: Any = None,
) -> np.ndarray:
    """Snow: I = 1 - (1 - V)(1 - F), V = J (1 - v) + 0.9 v, F = sum over layers of seeds * flake.

    Flake centres of random brightness are scattered in three layers (radius 0.6, 1.3, 2.4 px,
    65/27/8 % of the flakes); each layer is convolved with its flake shape, streaked in
    proportion to its nearness, and the sum is screen-blended over the veiled scene.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the defaults and the flake positions.
        density, angle, streak, veil: see ``PARAMS``; drawn when left out.
    """
    d = DENSITY.resolve(density, rng, "snow")
    a = ANGLE.resolve(angle, rng, "snow")
    s = STREAK.resolve(streak, rng, "snow")
    v = VEIL.resolve(veil, rng, "snow")
    u = rng.random(img.shape[:2], dtype=np.float32) / np.float32(max(d, 1e-12))
    layers, kernels, lower = [], [], 0.0
    for sigma, share, smear in _LAYERS:
        inside = (u >= lower) & (u < lower + share)
        layers.append(np.where(inside, 0.6 + 0.4 * (u - lower) / share, 0.0).astype(np.float32))
        kernels.append(flake_kernel(sigma, s * smear, a))
        lower += share
    flakes = np.clip(fft_convolve_sum(layers, kernels), 0.0, 1.0)[..., None]
    veiled = img * np.float32(1.0 - v) + np.float32(_VEIL_LIGHT * v)
    return 1.0 - (1.0 - veiled) * (1.0 - flakes)
