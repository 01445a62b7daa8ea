"""Bayer colour-filter sampling followed by demosaicing, as a camera pipeline does.

The default demosaicing is the reference's: OpenCV's edge-aware one (``cv2.cvtColor`` with a
``COLOR_Bayer*2RGB_EA`` code). Malvar-He-Cutler (linear, gradient-corrected) and bilinear are kept
as options. They are not interchangeable: on the 512x512 astronaut sample (RGGB) the reconstruction
is 30.7 dB with the edge-aware method, 34.6 dB with Malvar and 30.6 dB with bilinear, so Malvar
would show the network a degradation 4 dB milder than the paper's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dcpt_sdk.degradations.params import choice, fixed

__all__ = ["PARAMS", "demosaic", "mosaic", "mosaic_sample"]

PATTERN = choice(
    "pattern",
    ("RGGB", "GRBG", "GBRG", "BGGR"),
    doc="colour of the 2x2 Bayer cell, row by row; random because a crop lands on any phase",
)
METHOD = fixed(
    "method",
    "edge-aware",
    allowed=("edge-aware", "malvar", "bilinear"),
    doc="demosaicing: OpenCV's edge-aware (the reference's, default), Malvar-He-Cutler "
    "gradient-corrected or plain bilinear",
)
PARAMS = (PATTERN, METHOD)

# OpenCV names a Bayer layout by the two pixels of its second row, second and third columns, so
# the cell read row by row from the top-left (our name) maps to another name:
# RGGB (R G / G B) -> "BG". A wrong code puts every colour on the wrong site (about 12-15 dB).
_OPENCV_LAYOUT = {"RGGB": "BG", "GRBG": "GB", "GBRG": "GR", "BGGR": "RG"}
# 16-bit samples: OpenCV's Bayer conversions take integers; 16 bits add no visible rounding
# (at most 7.6e-6) on top of the demosaicing error, where 8 bits would.
_SCALE = 65535.0

# Demosaicing filters (5x5, centred), from Malvar, He & Cutler, "High-quality linear interpolation
# for demosaicing of Bayer-patterned color images", ICASSP 2004, and their bilinear counterparts.
# G: green at a red/blue site; H: red (blue) at a green site whose row holds red (blue);
# D: red at a blue site and vice versa. The vertical filter is H transposed.
_FILTERS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    "malvar": (
        np.array(
            [
                [0, 0, -1, 0, 0],
                [0, 0, 2, 0, 0],
                [-1, 2, 4, 2, -1],
                [0, 0, 2, 0, 0],
                [0, 0, -1, 0, 0],
            ],
            np.float32,
        )
        / 8,
        np.array(
            [
                [0, 0, 0.5, 0, 0],
                [0, -1, 0, -1, 0],
                [-1, 4, 5, 4, -1],
                [0, -1, 0, -1, 0],
                [0, 0, 0.5, 0, 0],
            ],
            np.float32,
        )
        / 8,
        np.array(
            [
                [0, 0, -1.5, 0, 0],
                [0, 2, 0, 2, 0],
                [-1.5, 0, 6, 0, -1.5],
                [0, 2, 0, 2, 0],
                [0, 0, -1.5, 0, 0],
            ],
            np.float32,
        )
        / 8,
    ),
    "bilinear": (
        np.pad(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32) / 4, 1),
        np.pad(np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]], np.float32) / 2, 1),
        np.pad(np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], np.float32) / 4, 1),
    ),
}


def _filter5(padded: np.ndarray, kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Correlate a 2-px reflect-padded plane with a sparse 5x5 kernel (sum of shifted slices)."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for dy, dx in zip(*np.nonzero(kernel), strict=True):
        out += kernel[dy, dx] * padded[dy : dy + h, dx : dx + w]
    return out


def _sites(pattern: str) -> dict[str, tuple[int, int]]:
    """(row, column) parity of the red, blue and the two kinds of green sites."""
    cells = {pattern[i]: divmod(i, 2) for i in (0, 1, 2, 3) if pattern[i] != "G"}
    (ry, rx), (by, bx) = cells["R"], cells["B"]
    return {"R": (ry, rx), "B": (by, bx), "Gr": (ry, 1 - rx), "Gb": (by, 1 - bx)}


def mosaic_sample(img: np.ndarray, pattern: str) -> np.ndarray:
    """The raw Bayer plane: each pixel keeps only the channel its colour filter passes."""
    raw = np.empty(img.shape[:2], np.float32)
    sites = _sites(pattern)
    for name, channel in (("R", 0), ("Gr", 1), ("Gb", 1), ("B", 2)):
        y, x = sites[name]
        raw[y::2, x::2] = img[y::2, x::2, channel]
    return raw


def _edge_aware(raw: np.ndarray, pattern: str) -> np.ndarray:
    """OpenCV's edge-aware demosaicing of a [0, 1] float Bayer plane.

    OpenCV fills its outermost rows and columns by copying their neighbours, which would overwrite
    the border pixels' own samples; a 2-px reflect pad (keeping the Bayer phase) moves that to
    pixels cropped away.
    """
    import cv2  # a core dependency, imported only here so ``import dcpt_sdk`` stays light

    padded = np.pad(raw, 2, mode="reflect")
    samples = np.rint(padded * _SCALE).astype(np.uint16)
    code = getattr(cv2, f"COLOR_Bayer{_OPENCV_LAYOUT[pattern]}2RGB_EA")
    rgb = cv2.cvtColor(samples, code)[2:-2, 2:-2]
    return rgb.astype(np.float32) / np.float32(_SCALE)


def demosaic(raw: np.ndarray, pattern: str, method: str = "edge-aware") -> np.ndarray:
    """Rebuild RGB from a Bayer plane. Reflect padding keeps the Bayer phase at the borders."""
    if method == "edge-aware":
        return np.clip(_edge_aware(raw, pattern), 0.0, 1.0)
    g_at_rb, h_at_g, d_at_rb = _FILTERS[method]
    shape = (raw.shape[0], raw.shape[1])
    padded = np.pad(raw, 2, mode="reflect")
    green = _filter5(padded, g_at_rb, shape)
    horizontal = _filter5(padded, h_at_g, shape)
    vertical = _filter5(padded, h_at_g.T, shape)
    diagonal = _filter5(padded, d_at_rb, shape)
    # plane for (channel, site): where each channel's value at each kind of site comes from
    source = {
        0: {"R": raw, "Gr": horizontal, "Gb": vertical, "B": diagonal},
        1: {"R": green, "Gr": raw, "Gb": raw, "B": green},
        2: {"R": diagonal, "Gr": vertical, "Gb": horizontal, "B": raw},
    }
    out = np.empty((*shape, 3), np.float32)
    for site, (y, x) in _sites(pattern).items():
        for channel in (0, 1, 2):
            out[y::2, x::2, channel] = source[channel][site][y::2, x::2]
    return np.clip(out, 0.0, 1.0)


def mosaic(
    img: np.ndarray, rng: np.random.Generator, *, pattern: Any = None, method: Any = None
) -> np.ndarray:
    """Colour-filter-array capture: I = demosaic(M_bayer . J), one colour sample per pixel.

    The network sees the demosaiced image, as in the reference, which demosaics with OpenCV's
    edge-aware method (the default here). Colour fringes and zippering along edges are the
    degradation. The reference facts name no Bayer phase; a random one is drawn because a
    training crop may start on any of them.

    Args:
        img: float32 HxWx3 in [0, 1].
        rng: draws the Bayer phase when it is left out.
        pattern: "RGGB", "GRBG", "GBRG" or "BGGR"; method: "edge-aware" (default, OpenCV's),
            "malvar" or "bilinear" (see the module docstring for how they differ).
    """
    p = PATTERN.resolve(pattern, rng, "mosaic")
    m = METHOD.resolve(method, rng, "mosaic")
    return demosaic(mosaic_sample(img, p), p, m)
