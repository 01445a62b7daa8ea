"""16-bit TIFF with several samples per pixel, which Pillow reads only at 8 bits and cannot write.

Read and written with tifffile (and imagecodecs, which gives it libtiff's codecs: LZW, Deflate,
PackBits, Zstd, JPEG, ...): strips or tiles, chunky or planar samples, predictors, both byte
orders and BigTIFF. This module only maps tifffile's array to the SDK's layout (H x W x C RGB or
RGBA) and applies what the ExtraSamples tag says a fourth sample is.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

__all__ = ["needs_tiff16", "read_tiff16", "write_tiff16"]

BITS, EXTRA_SAMPLES = 258, 338


def needs_tiff16(image: Image.Image) -> bool:
    """True for a TIFF Pillow opened as 8-bit RGB/RGBA although it stores 16-bit samples."""
    if image.format != "TIFF" or image.mode not in ("RGB", "RGBA"):
        return False
    bits = image.tag_v2.get(BITS, ())  # type: ignore[attr-defined]
    return 16 in (bits if isinstance(bits, tuple) else (bits,))


def _tifffile() -> Any:
    import tifffile

    return tifffile


def read_tiff16(data: bytes, image: Image.Image) -> np.ndarray:
    """Decode the first image of a 16-bit colour TIFF to uint16 H x W x C (C = 3 or 4).

    ``image`` is the file opened (not loaded) by Pillow: its size already passed Pillow's
    decompression-bomb check, and its ExtraSamples tag says what a 4th sample means.
    Raises ValueError for a layout that is not 16-bit RGB/RGBA.
    """
    with _tifffile().TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        pixels = page.asarray()
        planar = page.planarconfig == 2
    if planar and pixels.ndim == 3:
        pixels = np.moveaxis(pixels, 0, 2)
    if pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"not a 16-bit RGB/RGBA TIFF (samples {pixels.shape}, {pixels.dtype})")
    if pixels.shape[:2] != (image.height, image.width):
        raise ValueError("the TIFF's first image does not match its header")
    tags = image.tag_v2  # type: ignore[attr-defined]
    return _to_rgb_or_rgba(np.ascontiguousarray(pixels), tuple(tags.get(EXTRA_SAMPLES, ())))


def _to_rgb_or_rgba(pixels: np.ndarray, extra: tuple[int, ...]) -> np.ndarray:
    """Apply ExtraSamples: drop an unspecified 4th sample, un-premultiply associated alpha."""
    if pixels.shape[2] != 4:
        return pixels
    if extra == (0,):
        return np.ascontiguousarray(pixels[:, :, :3])
    if extra == (1,):
        alpha = pixels[:, :, 3:].astype(np.float64)
        colour = pixels[:, :, :3] * np.divide(
            65535.0, alpha, out=np.zeros_like(alpha), where=alpha > 0
        )
        pixels[:, :, :3] = np.clip(np.rint(colour), 0, 65535).astype(np.uint16)
    return pixels


def write_tiff16(fp: BinaryIO, pixels: np.ndarray, icc_profile: bytes | None = None) -> None:
    """Encode uint16 H x W or H x W x C (C in 1, 3, 4) as a Deflate-compressed 16-bit TIFF with
    the horizontal predictor (as libtiff and Photoshop write it); alpha as unassociated."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    options: dict[str, Any] = {
        "photometric": "minisblack" if channels == 1 else "rgb",
        "compression": "zlib",
        "predictor": True,
        "metadata": None,  # no tifffile JSON description tag
    }
    if channels == 4:
        options["extrasamples"] = [2]  # unassociated (straight) alpha
    if icc_profile:
        options["iccprofile"] = icc_profile
    # Through memory: tifffile treats a file object's ``name`` as a path, and the atomic
    # writer's handle (os.fdopen) is named by its descriptor number.
    buffer = io.BytesIO()
    _tifffile().imwrite(buffer, pixels, **options)
    fp.write(buffer.getbuffer())
