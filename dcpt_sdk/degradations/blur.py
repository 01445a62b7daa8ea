"""Blur from the camera: motion along a random trajectory, and out-of-focus disks."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations._ops import fft_convolve
from dcpt_sdk.degradations.params import uniform

__all__ = ["MOTION_PARAMS", "DEFOCUS_PARAMS", "defocus_blur", "disk_kernel", "motion_blur"]

LENGTH = uniform("length", 6, 24, valid=(0, 100), doc="extent of the blur trajectory in pixels")
SHAKE = uniform(
    "shake", 0.0, 1.0, valid=(0, 3), doc="how much the path wanders (0 = straight line)"
)
MOTION_PARAMS = (LENGTH, SHAKE)

RADIUS = uniform("radius", 1.5, 4.0, valid=(0, 50), doc="radius of the circle of confusion in px")
DEFOCUS_PARAMS = (RADIUS,)

_STEPS = 256  # samples along the exposure; enough for sub-pixel steps on a 100 px path


def trajectory(rng: np.random.Generator, length: float, shake: float) -> np.ndarray:
    """A camera-shake path: (N, 2) positions (y, x), centred on their mean, extent ``length``.

    The velocity starts in a random direction and drifts by integrated random accelerations
    (a smooth random walk), so ``shake=0`` is linear motion and ``shake=1`` curls and turns.
    """
    heading = rng.uniform(0.0, 2.0 * np.pi)
    start = np.array([np.sin(heading), np.cos(heading)])
    acceleration = rng.standard_normal((_STEPS, 2)) * (2.0 * shake / np.sqrt(_STEPS))
    velocity = start + np.cumsum(acceleration, axis=0)
    path = np.cumsum(velocity, axis=0)
    path -= path.mean(axis=0)  # centred: the blur does not shift the image
    extent = float(np.ptp(path, axis=0).max())
    return path * (length / extent if extent > 0 else 0.0)


def splat(path: np.ndarray) -> np.ndarray:
    """Rasterise a path into a normalised, odd-sized kernel with bilinear weights."""
    radius = int(np.ceil(np.abs(path).max())) + 1
    size = 2 * radius + 1
    pos = path + radius
    base = np.floor(pos).astype(np.int64)
    frac = pos - base
    kernel = np.zeros(size * size, np.float64)
    for dy in (0, 1):
        for dx in (0, 1):
            wy = frac[:, 0] if dy else 1.0 - frac[:, 0]
            wx = frac[:, 1] if dx else 1.0 - frac[:, 1]
            index = (base[:, 0] + dy) * size + base[:, 1] + dx
            kernel += np.bincount(index, weights=wy * wx, minlength=size * size)
    kernel /= kernel.sum()
    return kernel.reshape(size, size).astype(np.float32)


def motion_blur(
    img: np.ndarray, rng: np.random.Generator, *, length: Any = None, shake: Any = None
) -> np.ndarray:
    """Camera motion during exposure: I = J * k, k = a random smooth trajectory of extent L.

    The kernel is centred on the trajectory's mean, so the blurred image stays aligned with the
    sharp one (as GoPro pairs are aligned to their middle frame).

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the defaults and the trajectory.
        length: extent in px, drawn from U[6, 24]; shake: wander, drawn from U[0, 1].
    """
    n = LENGTH.resolve(length, rng, "motion_blur")
    s = SHAKE.resolve(shake, rng, "motion_blur")
    kernel = splat(trajectory(rng, n, s))
    return np.clip(fft_convolve(img, kernel), 0.0, 1.0)


def disk_kernel(radius: float) -> np.ndarray:
    """A uniform disk with anti-aliased rim (pixel coverage), normalised to sum 1."""
    r = int(np.ceil(radius)) + 1
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    coverage = np.clip(radius + 0.5 - np.hypot(y, x), 0.0, 1.0)
    return (coverage / coverage.sum()).astype(np.float32)


def defocus_blur(img: np.ndarray, rng: np.random.Generator, *, radius: Any = None) -> np.ndarray:
    """Out-of-focus optics: I = J * disk(r), the thin-lens circle of confusion of radius r.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the radius when it is left out.
        radius: in px, drawn from U[1.5, 4].
    """
    r = RADIUS.resolve(radius, rng, "defocus_blur")
    return np.clip(fft_convolve(img, disk_kernel(r)), 0.0, 1.0)
