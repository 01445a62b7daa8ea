"""Scratches to inpaint: straight black or white lines drawn over the image."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dcpt_sdk.degradations.params import uniform

__all__ = ["PARAMS", "inpaint_lines"]

LINES = uniform("lines", 5, 10, valid=(0, 1000), integer=True, doc="number of lines")
THICKNESS = uniform("thickness", 5, 10, valid=(1, 1000), integer=True, doc="line width in px")
PARAMS = (LINES, THICKNESS)


def inpaint_lines(
    img: np.ndarray, rng: np.random.Generator, *, lines: Any = None, thickness: Any = None
) -> np.ndarray:
    """Missing pixels: I = J outside the mask M, 0 or 1 inside (M = straight lines).

    Each line joins two random points of the image and is black or white at random, as in the
    reference 10D inpainting task (5-10 lines, 5-10 px thick). Later lines cover earlier ones.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the defaults, the end points and the colours.
        lines: drawn from {5..10}; thickness: px, drawn from {5..10} (one per image).
    """
    n = LINES.resolve(lines, rng, "inpaint_lines")
    width = THICKNESS.resolve(thickness, rng, "inpaint_lines")
    h, w = img.shape[:2]
    ends = rng.random((n, 4)) * np.array([w, h, w, h])
    colours = rng.integers(1, 3, n)  # 1 = black, 2 = white
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for (x0, y0, x1, y1), colour in zip(ends.tolist(), colours.tolist(), strict=True):
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=width)
    label = np.asarray(canvas)[..., None]
    return np.where(label == 0, img, np.where(label == 1, 0.0, 1.0)).astype(np.float32)
