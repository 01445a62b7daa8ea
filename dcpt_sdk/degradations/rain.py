"""Synthetic rain streaks: motion-blurred sparse noise along one direction, screen-blended."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations._ops import fft_convolve, segment_distance
from dcpt_sdk.degradations.params import uniform

__all__ = ["PARAMS", "rain"]

DENSITY = uniform(
    "density", 0.002, 0.006, valid=(0, 0.1), doc="fraction of pixels where a streak starts"
)
LENGTH = uniform("length", 12, 32, valid=(1, 200), doc="streak length in pixels")
ANGLE = uniform(
    "angle", -25, 25, valid=(-90, 90), doc="streak direction in degrees from the vertical"
)
WIDTH = uniform("width", 0.8, 1.6, valid=(0.3, 10), doc="streak thickness in pixels")
BRIGHTNESS = uniform(
    "brightness", 0.45, 0.8, valid=(0, 1), doc="opacity of a streak's core (1 = opaque white)"
)
PARAMS = (DENSITY, LENGTH, ANGLE, WIDTH, BRIGHTNESS)


def streak_kernel(length: float, angle: float, width: float) -> np.ndarray:
    """One rain streak: a soft line, brightest in the middle and fading towards both ends."""
    distance, t = segment_distance(length, angle, margin=width + 1.0)
    profile = np.exp(-0.5 * (distance / (0.5 * width)) ** 2)
    return (profile * (1.0 - 0.7 * t**2)).astype(np.float32)


def rain(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    density: Any = None,
    length: Any = None,
    angle: Any = None,
    width: Any = None,
    brightness: Any = None,
) -> np.ndarray:
    """Rain streaks in front of the scene: I = 1 - (1 - J)(1 - R), R = (sparse seeds * line) * b.

    Seeds of random strength are placed on a fraction ``density`` of the pixels and smeared along
    the fall direction (what a falling drop leaves in one exposure); the streak layer is screen-
    blended, so streaks lighten the scene without ever darkening it (as Rain100L/Rain13K do).

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the defaults and the streak positions.
        density, length, angle, width, brightness: see ``PARAMS``; drawn when left out.
    """
    d = DENSITY.resolve(density, rng, "rain")
    n = LENGTH.resolve(length, rng, "rain")
    a = ANGLE.resolve(angle, rng, "rain")
    w = WIDTH.resolve(width, rng, "rain")
    b = BRIGHTNESS.resolve(brightness, rng, "rain")
    u = rng.random(img.shape[:2], dtype=np.float32)
    seeds = np.where(u < d, 0.5 + 0.5 * u / max(d, 1e-12), 0.0).astype(np.float32)
    streaks = fft_convolve(seeds, streak_kernel(n, a, w))
    layer = np.clip(streaks * np.float32(b), 0.0, 1.0)[..., None]
    return 1.0 - (1.0 - img) * (1.0 - layer)
