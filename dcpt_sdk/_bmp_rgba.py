"""32-bit BMP with an alpha channel (BITMAPV4HEADER, BI_BITFIELDS with an alpha mask).

Written by hand because neither maintained writer keeps BMP alpha: Pillow saves RGBA as a plain
32-bit BI_RGB bitmap, whose fourth byte every reader (Pillow included) ignores, and OpenCV writes
the same header. Pillow READS this layout as RGBA, so a BMP with alpha round-trips through
dcpt-restore instead of failing at the write ("BMP keeps no alpha channel").
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import numpy as np

__all__ = ["write_bmp_rgba"]

_FILE_HEADER = 14
_V4_HEADER = 108
_BI_BITFIELDS = 3
_LCS_SRGB = 0x73524742  # 'sRGB'
_MASKS = (0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)  # R, G, B, A of a BGRA pixel


def write_bmp_rgba(fp: BinaryIO, rgba: np.ndarray) -> None:
    """Write H x W x 4 uint8 RGBA as a top-down 32-bit BMP with an alpha mask."""
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected H x W x 4 uint8, got {rgba.shape} {rgba.dtype}")
    height, width = rgba.shape[:2]
    pixels = np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]]).tobytes()  # BGRA, rows need no pad
    offset = _FILE_HEADER + _V4_HEADER
    fp.write(struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset))
    fp.write(
        struct.pack(
            "<IiiHHIIiiII4I",
            _V4_HEADER,
            width,
            -height,  # negative: rows top to bottom
            1,  # planes
            32,  # bits per pixel
            _BI_BITFIELDS,
            len(pixels),
            2835,  # 72 dpi in pixels per metre
            2835,
            0,
            0,
            *_MASKS,
        )
    )
    fp.write(struct.pack("<I", _LCS_SRGB) + bytes(36) + bytes(12))  # colour space, endpoints, gamma
    fp.write(pixels)
