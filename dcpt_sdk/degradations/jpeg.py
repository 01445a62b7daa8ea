"""JPEG compression artefacts, made with Pillow's encoder in memory."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from dcpt_sdk.degradations._ops import to_uint8
from dcpt_sdk.degradations.params import choice

__all__ = ["PARAMS", "jpeg"]

QUALITY = choice(
    "quality",
    (10, 20, 30, 40, 50),
    valid=(1, 100),
    integer=True,
    doc="JPEG quality factor (libjpeg scale, 4:2:0 chroma); the reference draws {10, ..., 50}",
)
PARAMS = (QUALITY,)


def jpeg(img: np.ndarray, rng: np.random.Generator, *, quality: Any = None) -> np.ndarray:
    """Lossy coding: I = decode(encode(J, q)), 8x8 DCT blocks quantised by quality q.

    The image is rounded to 8 bits first, as every real JPEG is.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the quality when it is left out.
        quality: 1-100; drawn from {10, 20, 30, 40, 50} when left out (reference test: 20).
    """
    q = QUALITY.resolve(quality, rng, "jpeg")
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buffer, format="JPEG", quality=q)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        pixels = np.asarray(decoded.convert("RGB"), dtype=np.float32)
    return pixels * np.float32(1.0 / 255.0)
