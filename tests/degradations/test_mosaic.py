from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dcpt_sdk.degradations import degrade_array
from dcpt_sdk.degradations.mosaic import demosaic, mosaic_sample

PATTERNS = ["RGGB", "GRBG", "GBRG", "BGGR"]
Psnr = Callable[[np.ndarray, np.ndarray], float]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", ["malvar", "bilinear"])
def test_flat_colour_is_rebuilt_exactly(pattern: str, method: str) -> None:
    flat = np.broadcast_to(np.float32([0.8, 0.3, 0.1]), (20, 22, 3)).copy()
    out = degrade_array(flat, "mosaic", 0, pattern=pattern, method=method)
    np.testing.assert_allclose(out, flat, atol=1e-6)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pixel_keeps_the_channel_its_filter_passes(clean: np.ndarray, pattern: str) -> None:
    raw = mosaic_sample(clean, pattern)
    out = demosaic(raw, pattern)
    channel = {"R": 0, "G": 1, "B": 2}
    for i, colour in enumerate(pattern):
        y, x = divmod(i, 2)
        c = channel[colour]
        np.testing.assert_array_equal(raw[y::2, x::2], clean[y::2, x::2, c])
        np.testing.assert_allclose(out[y::2, x::2, c], clean[y::2, x::2, c], atol=1e-6)


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
