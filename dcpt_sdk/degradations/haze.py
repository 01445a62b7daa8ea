"""Atmospheric-scattering haze over a depth proxy computed from the image itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations._ops import smooth
from dcpt_sdk.degradations.params import uniform

__all__ = ["PARAMS", "depth_proxy", "haze"]

BETA = uniform(
    "beta", 0.8, 1.8, valid=(0, 10), doc="scattering coefficient per unit of the [0, 1] depth proxy"
)
AIRLIGHT = uniform(
    "airlight", 0.75, 0.95, valid=(0, 1), doc="global atmospheric light A (grey), as in RESIDE"
)
PARAMS = (BETA, AIRLIGHT)

# The nearest point of the scene still lies behind some air: depth never reaches 0.
_NEAREST = 0.15


def depth_proxy(img: np.ndarray) -> np.ndarray:
    """A plausible relative depth in [_NEAREST, 1] (1 = far) for a photo with no depth map.

    Two cues: outdoor scenes recede towards the top of the frame (a vertical gradient), and bright,
    colourless regions (sky, distant haze) have a high dark channel (min over RGB), which the dark
    channel prior ties to distance. The dark channel is smoothed at a large scale so object
    texture does not leak into the depth, then mixed 60/40 with the gradient.
    """
    h, w = img.shape[:2]
    vertical = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None]
    dark = smooth(img.min(axis=2), factor=max(2, min(h, w) // 8))
    depth = 0.6 * vertical + 0.4 * dark
    return _NEAREST + (1.0 - _NEAREST) * depth


def haze(
    img: np.ndarray, rng: np.random.Generator, *, beta: Any = None, airlight: Any = None
) -> np.ndarray:
    """Koschmieder scattering: I = J t + A (1 - t), t = exp(-beta d), d = depth proxy in (0, 1].

    The depth comes from ``depth_proxy`` (vertical gradient plus smoothed dark channel), because a
    product that trains from clean photos has no depth maps; RESIDE uses the same model with real
    depth.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the defaults when they are left out.
        beta: haze density; drawn from U[0.8, 1.8] (transmission 0.87-0.76 near, 0.45-0.17 far).
        airlight: A, drawn from U[0.75, 0.95].
    """
    b = BETA.resolve(beta, rng, "haze")
    a = AIRLIGHT.resolve(airlight, rng, "haze")
    t = np.exp(-b * depth_proxy(img)).astype(np.float32)[..., None]
    return img * t + np.float32(a) * (1.0 - t)
