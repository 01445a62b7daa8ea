from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.degradations.mosaic import demosaic, mosaic_sample

PATTERNS = ["RGGB", "GRBG", "GBRG", "BGGR"]
METHODS = ["edge-aware", "malvar", "bilinear"]
Psnr = Callable[[np.ndarray, np.ndarray], float]
# The edge-aware method runs on 16-bit samples: a sample comes back within half a 16-bit step.
SIXTEEN_BIT = 0.5 / 65535 + 1e-7


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", METHODS)
def test_flat_colour_is_rebuilt_exactly(pattern: str, method: str) -> None:
    flat = np.broadcast_to(np.float32([0.8, 0.3, 0.1]), (20, 22, 3)).copy()
    out = degrade_array(flat, "mosaic", 0, pattern=pattern, method=method)
    np.testing.assert_allclose(out, flat, atol=SIXTEEN_BIT)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", METHODS)
def test_each_pixel_keeps_the_channel_its_filter_passes(
    clean: np.ndarray, pattern: str, method: str
) -> None:
    raw = mosaic_sample(clean, pattern)
    out = demosaic(raw, pattern, method)
    channel = {"R": 0, "G": 1, "B": 2}
    for i, colour in enumerate(pattern):
        y, x = divmod(i, 2)
        c = channel[colour]
        np.testing.assert_array_equal(raw[y::2, x::2], clean[y::2, x::2, c])
        # border pixels included: OpenCV's own border copying is padded away
        np.testing.assert_allclose(out[y::2, x::2, c], clean[y::2, x::2, c], atol=SIXTEEN_BIT)


def test_default_is_opencv_edge_aware_demosaicing(clean: np.ndarray) -> None:
    """The reference's method: cv2.cvtColor with the edge-aware Bayer code of the layout
    (OpenCV calls R G / G B "BayerBG")."""
    out = degrade_array(clean, "mosaic", 0, pattern="RGGB")
    samples = np.rint(mosaic_sample(clean, "RGGB") * 65535).astype(np.uint16)
    expected = cv2.cvtColor(samples, cv2.COLOR_BayerBG2RGB_EA).astype(np.float32) / 65535
    # away from the border, which OpenCV fills by copying and the engine pads instead
    np.testing.assert_allclose(out[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-6)


def test_edge_aware_is_the_harsher_degradation(natural_image: np.ndarray, psnr: Psnr) -> None:
    """The figures of the mosaic docstring, on the 512x512 astronaut: edge-aware 30.7 dB, Malvar
    34.6 dB (4 dB milder), bilinear 30.6 dB."""
    photo = natural_image.astype(np.float32) / 255.0
    db = {
        m: psnr(degrade_array(photo, "mosaic", 0, pattern="RGGB", method=m), photo) for m in METHODS
    }
    assert db["edge-aware"] == pytest.approx(30.7, abs=0.1)
    assert db["malvar"] == pytest.approx(34.6, abs=0.1)
    assert db["bilinear"] == pytest.approx(30.6, abs=0.1)


def test_malvar_beats_bilinear(clean: np.ndarray, psnr: Psnr) -> None:
    malvar = degrade_array(clean, "mosaic", 0, pattern="RGGB", method="malvar")
    bilinear = degrade_array(clean, "mosaic", 0, pattern="RGGB", method="bilinear")
    assert psnr(malvar, clean) > psnr(bilinear, clean) + 1.0


def test_the_degradation_is_colour_fringing_at_edges(clean: np.ndarray) -> None:
    error = np.abs(degrade_array(clean, "mosaic", 0) - clean).mean(axis=2)
    gray = clean.mean(axis=2)
    edges = np.abs(np.diff(gray, axis=1))[:-1, :] + np.abs(np.diff(gray, axis=0))[:, :-1]
    strong = edges > np.percentile(edges, 90)
    flat = edges < np.percentile(edges, 30)
    assert error[:-1, :-1][strong].mean() > 4 * error[:-1, :-1][flat].mean()
