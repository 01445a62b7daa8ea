"""16-bit colour PNG through OpenCV (libpng): Pillow reads it only at 8 bits and cannot write it.

``cv2.imdecode``/``cv2.imencode`` with IMREAD_UNCHANGED read and write 16-bit RGB/RGBA (and gray
+ alpha, read as BGRA) at full precision and in one allocation: a 9000x9000 16-bit RGB PNG reads
within ~1 GB where a Python decoder built on Pillow's 8-bit path needed 2.4 GB. This module
only maps OpenCV's BGR order to RGB, reads the eXIf chunk on the way in and writes the iCCP
chunk on the way out (OpenCV keeps neither).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

__all__ = ["SIGNATURE", "chunks", "needs_png16", "read_png16", "write_png16"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES_16 = (2, 4, 6)  # RGB, gray + alpha, RGBA: what Pillow would cut to 8 bits
_IHDR_END = len(SIGNATURE) + 8 + 13 + 4


def _cv2() -> Any:
    import cv2

    return cv2


def needs_png16(data: bytes) -> bool:
    """True for a 16-bit PNG with colour (RGB, RGBA) or gray+alpha, which Pillow would cut to 8 bit."""
    if len(data) < 33 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        return False
    return data[24] == 16 and data[25] in _COLOUR_TYPES_16


def chunks(data: bytes) -> Iterator[tuple[bytes, memoryview, bool]]:
    """(type, payload view (no copy), CRC matches) of each chunk of a PNG, up to and with IEND.

    Raises ValueError when the file ends before IEND (inside a chunk or between chunks).
    """
    view, at = memoryview(data), len(SIGNATURE)
    while True:
        if at + 12 > len(data):
            raise ValueError("truncated PNG: the file ends before its IEND chunk")
        length = int.from_bytes(view[at : at + 4], "big")
        kind, end = bytes(view[at + 4 : at + 8]), at + 8 + length
        if end + 4 > len(data):
            name = kind.decode("latin-1", errors="replace")
            raise ValueError(f"truncated PNG: the file ends inside its {name!r} chunk")
        crc_ok = zlib.crc32(view[at + 4 : end]) == int.from_bytes(view[end : end + 4], "big")
        yield kind, view[at + 8 : end], crc_ok
        if kind == b"IEND":
            return
        at = end + 4


def read_png16(data: bytes) -> tuple[np.ndarray, bytes | None]:
    """Decode a 16-bit colour PNG to (uint16 H x W x C RGB/RGBA array, raw eXIf chunk or None).

    Gray + alpha comes back as RGBA (gray replicated). Raises ValueError on a file libpng rejects.
    """
    cv2 = _cv2()
    # libpng's own words about a bad file are silenced by the caller (dcpt_sdk._quiet).
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3:
        raise ValueError("corrupt or truncated 16-bit PNG (libpng could not decode it)")
    code = cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
    cv2.cvtColor(pixels, code, dst=pixels)  # in place: no second full-size array
    exif = next((bytes(payload) for kind, payload, _ in chunks(data) if kind == b"eXIf"), None)
    return pixels, exif


def write_png16(fp: BinaryIO, pixels: np.ndarray, icc_profile: bytes | None = None) -> None:
    """Encode uint16 H x W (gray), H x W x 3 (RGB) or H x W x 4 (RGBA) as a 16-bit PNG."""
    cv2 = _cv2()
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    elif channels != 1:
        raise ValueError(f"a 16-bit PNG is written from 1, 3 or 4 channels, got {channels}")
    # zlib level 6, what Pillow and libpng use by default (OpenCV's own default is 1).
    ok, encoded = cv2.imencode(
        ".png", np.ascontiguousarray(pixels), [cv2.IMWRITE_PNG_COMPRESSION, 6]
    )
    if not ok:
        raise ValueError("OpenCV could not encode the 16-bit PNG")
    data = encoded.tobytes()
    if icc_profile:  # iCCP goes before the image data, right after IHDR
        payload = b"ICC Profile\x00\x00" + zlib.compress(icc_profile)
        chunk = struct.pack(">I", len(payload)) + b"iCCP" + payload
        chunk += struct.pack(">I", zlib.crc32(b"iCCP" + payload))
        data = data[:_IHDR_END] + chunk + data[_IHDR_END:]
    fp.write(data)
