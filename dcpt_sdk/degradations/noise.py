"""Additive white Gaussian noise, the reference denoising degradation."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations.params import choice, fixed

__all__ = ["PARAMS", "noise"]

SIGMA = choice(
    "sigma",
    (15, 25, 50),
    valid=(0, 255),
    doc="standard deviation in 8-bit units (/255); reference 5D: {15, 25, 50}, 10D: U[1, 50]",
)
CLIP = fixed(
    "clip",
    True,
    allowed=(True, False),
    doc="clip the result to [0, 1]; the reference training data does not clip (clip=False)",
)
PARAMS = (SIGMA, CLIP)


def noise(
    img: np.ndarray, rng: np.random.Generator, *, sigma: Any = None, clip: Any = None
) -> np.ndarray:
    """Sensor/transmission noise: I = J + n, n ~ N(0, (sigma/255)^2) per pixel and channel.

    The reference DCPT data adds the noise without clipping, so a denoiser also learns what lies
    beyond [0, 1]; with ``clip=False`` the output may therefore leave [0, 1] (the only
    degradation that may). The default ``clip=True`` gives images people can look at and save.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: the source of every random draw (defaults and the noise itself).
        sigma: noise level in /255 units; drawn from {15, 25, 50} when left out.
        clip: clip to [0, 1] (default True).
    """
    s = SIGMA.resolve(sigma, rng, "noise")
    do_clip = CLIP.resolve(clip, rng, "noise")
    out = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(s / 255.0)
    if do_clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out
