"""imaging.encode_image / decode_image: image files as bytes in memory, exactly as on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError
from dcpt_sdk.imaging import decode_image, encode_image, read_image, write_image


def _pixels(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    return rng.integers(0, top + 1, shape, dtype=dtype)


@pytest.mark.parametrize(
    ("fmt", "suffix", "shape", "dtype"),
    [
        ("png", ".png", (9, 13, 3), np.uint8),
        ("PNG", ".png", (9, 13, 4), np.uint16),
        ("tiff", ".tif", (9, 13, 3), np.uint16),
        ("tif", ".tiff", (9, 13), np.uint8),
        ("webp", ".webp", (9, 13, 4), np.uint8),
        ("bmp", ".bmp", (9, 13, 3), np.uint8),
        ("jpeg", ".jpg", (9, 13, 3), np.uint8),
        ("jpg", ".jpeg", (9, 13), np.uint8),
    ],
)
def test_encode_image_gives_the_bytes_write_image_writes(
    tmp_path: Path, rng: np.random.Generator, fmt: str, suffix: str, shape: tuple, dtype: type
) -> None:
    pixels = _pixels(rng, shape, dtype)
    data = encode_image(pixels, fmt)
    path = tmp_path / f"image{suffix}"
    write_image(path, pixels)
    assert data == path.read_bytes()
    decoded = decode_image(data)
    assert decoded.pixels.dtype == dtype and decoded.pixels.shape == shape
    np.testing.assert_array_equal(decoded.pixels, read_image(path).pixels)
    if fmt.lower() not in ("jpeg", "jpg", "webp"):  # lossless formats come back exactly
        np.testing.assert_array_equal(decoded.pixels, pixels)


def test_encode_image_keeps_the_colour_profile(tmp_path: Path, rng: np.random.Generator) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = _pixels(rng, (8, 8, 3), np.uint16)
    decoded = decode_image(encode_image(pixels, "png", icc_profile=icc))
    assert decoded.icc_profile == icc
    np.testing.assert_array_equal(decoded.pixels, pixels)


@pytest.mark.parametrize(
    ("shape", "dtype", "fmt", "match"),
    [
        ((8, 8, 3), np.uint16, "jpeg", "16-bit pixels"),
        ((8, 8, 4), np.uint8, "jpeg", "RGBA pixels"),
        ((8, 8, 3), np.uint16, "webp", "16-bit pixels"),
    ],
)
def test_encode_image_refuses_pixels_the_format_cannot_hold(
    rng: np.random.Generator, shape: tuple, dtype: type, fmt: str, match: str
) -> None:
    with pytest.raises(InvalidImageError, match=match):
        encode_image(_pixels(rng, shape, dtype), fmt)


def test_encode_image_refuses_unknown_formats_and_bad_quality(rng: np.random.Generator) -> None:
    pixels = _pixels(rng, (4, 4, 3), np.uint8)
    with pytest.raises(UnsupportedOptionError, match=r"unknown image format 'gif'; use one of png"):
        encode_image(pixels, "gif")
    with pytest.raises(UnsupportedOptionError, match="quality must be an int in 1..100"):
        encode_image(pixels, "jpeg", quality=0)


def test_decode_image_names_the_bytes_it_cannot_read(rng: np.random.Generator) -> None:
    with pytest.raises(InvalidImageError, match="cannot read image 'upload': not a recognised"):
        decode_image(b"definitely not an image", "upload")
    png = encode_image(_pixels(rng, (16, 16, 3), np.uint8), "png")
    with pytest.raises(InvalidImageError, match="truncated PNG"):
        decode_image(png[: len(png) // 2])
