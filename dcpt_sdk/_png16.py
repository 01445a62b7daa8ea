"""16-bit colour PNG, which Pillow reads only as 8-bit and cannot write at all.

Pillow has no 16-bit RGB/RGBA image mode: it opens a 16-bit RGB PNG as 8-bit "RGB" (keeping only
the high byte) and refuses to write one. This module closes that gap with numpy and zlib only.

Reading reuses Pillow's C decoder through a byte-lane split. PNG filters (Sub, Up, Average, Paeth)
work byte by byte against the byte ``bpp`` positions to the left and the same byte one row up, so
with 16-bit samples the high bytes never mix with the low bytes. Splitting every row into its high
bytes and its low bytes therefore yields two valid *8-bit* filtered streams with the same filter
types; Pillow unfilters each (fast, in C) and the two halves are joined. Interlaced (Adam7) files
work the same way, pass by pass.

Writing is a small encoder: rows are filtered (each row picks the cheapest of the five filters by
the usual sum-of-absolute-differences heuristic, computed for blocks of rows with numpy) and
streamed through one zlib compressor into IDAT chunks, so memory stays near one block of rows.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO

import numpy as np
from PIL import Image

__all__ = ["read_png16", "write_png16", "needs_png16"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> samples per pixel, for the colour types this module decodes at 16 bit.
_CHANNELS_OF_COLOUR_TYPE = {2: 3, 4: 2, 6: 4}
_COLOUR_TYPE_OF_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_ROWS_PER_BLOCK = 64
_IDAT_BYTES = 1 << 18


def needs_png16(data: bytes) -> bool:
    """True for a 16-bit PNG with colour (RGB, RGBA) or gray+alpha, which Pillow would cut to 8 bit."""
    if len(data) < 33 or not data.startswith(_SIGNATURE) or data[12:16] != b"IHDR":
        return False
    bit_depth, colour_type = data[24], data[25]
    return bit_depth == 16 and colour_type in _CHANNELS_OF_COLOUR_TYPE


def read_png16(data: bytes) -> tuple[np.ndarray, bytes | None]:
    """Decode a 16-bit colour PNG to (uint16 H x W x C array, raw eXIf chunk or None).

    C is 3 (RGB), 4 (RGBA) or 2 (gray + alpha). Raises ValueError on a corrupt or truncated file.
    """
    chunks = _read_chunks(data)
    width, height, bit_depth, colour_type, interlace = struct.unpack(">IIBBxxB", chunks["IHDR"][0])
    if bit_depth != 16 or colour_type not in _CHANNELS_OF_COLOUR_TYPE:
        raise ValueError(
            f"not a 16-bit colour PNG (bit depth {bit_depth}, colour type {colour_type})"
        )
    channels = _CHANNELS_OF_COLOUR_TYPE[colour_type]
    passes = _pass_sizes(width, height, interlace)
    expected = sum(h * (1 + w * channels * 2) for w, h in passes)
    raw = _inflate(b"".join(chunks.get("IDAT", [])), expected)
    high, low = _split_lanes(raw, passes, channels)
    header = (width, height, colour_type, interlace)
    pixels = (_decode_8bit(high, *header).astype(np.uint16) << 8) | _decode_8bit(low, *header)
    exif = chunks["eXIf"][0] if "eXIf" in chunks else None
    return pixels.reshape(height, width, channels), exif


def write_png16(fp: BinaryIO, pixels: np.ndarray, icc_profile: bytes | None = None) -> None:
    """Encode a uint16 H x W or H x W x C (C in 1..4) array as a 16-bit PNG into ``fp``."""
    image = pixels[:, :, None] if pixels.ndim == 2 else pixels
    height, width, channels = image.shape
    fp.write(_SIGNATURE)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, _COLOUR_TYPE_OF_CHANNELS[channels], 0, 0, 0)
    _write_chunk(fp, b"IHDR", ihdr)
    if icc_profile:
        _write_chunk(fp, b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    _write_idat(fp, np.ascontiguousarray(image, dtype=">u2"), channels * 2)
    _write_chunk(fp, b"IEND", b"")


# -- reading ---------------------------------------------------------------------------------


def _read_chunks(data: bytes) -> dict[str, list[bytes]]:
    """Chunk type -> payloads, CRC-checked, up to IEND."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("no PNG signature")
    chunks: dict[str, list[bytes]] = {}
    pos = len(_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        crc_bytes = data[pos + 8 + length : pos + 12 + length]
        if len(payload) != length or len(crc_bytes) != 4:
            raise ValueError(f"truncated {kind.decode('latin-1')} chunk")
        if zlib.crc32(kind + payload) != struct.unpack(">I", crc_bytes)[0]:
            raise ValueError(f"broken {kind.decode('latin-1')} chunk (CRC mismatch)")
        if kind == b"IEND":
            break
        chunks.setdefault(kind.decode("latin-1"), []).append(payload)
        pos += 12 + length
    if "IHDR" not in chunks or len(chunks["IHDR"][0]) != 13:
        raise ValueError("missing or malformed IHDR chunk")
    return chunks


def _pass_sizes(width: int, height: int, interlace: int) -> list[tuple[int, int]]:
    """(width, height) of every non-empty pass: one for a plain file, up to seven for Adam7."""
    if interlace == 0:
        return [(width, height)]
    sizes = []
    for x0, y0, dx, dy in _ADAM7:
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w > 0 and h > 0:
            sizes.append((w, h))
    return sizes


def _inflate(compressed: bytes, expected: int) -> bytes:
    # max_length bounds the output, so a hostile stream cannot inflate past the declared size.
    try:
        raw = zlib.decompressobj().decompress(compressed, expected)
    except zlib.error as exc:
        raise ValueError(f"corrupt image data ({exc})") from exc
    if len(raw) < expected:
        raise ValueError(f"image data is truncated ({len(raw)} of {expected} bytes)")
    return raw


def _split_lanes(raw: bytes, passes: list[tuple[int, int]], channels: int) -> tuple[bytes, bytes]:
    """Split filtered 16-bit rows into an 8-bit stream of high bytes and one of low bytes."""
    buffer = np.frombuffer(raw, dtype=np.uint8)
    high_parts, low_parts = [], []
    offset = 0
    for width, height in passes:
        stride = 1 + width * channels * 2
        rows = buffer[offset : offset + height * stride].reshape(height, stride)
        samples = rows[:, 1:].reshape(height, width * channels, 2)
        high_parts.append(np.concatenate([rows[:, :1], samples[:, :, 0]], axis=1).tobytes())
        low_parts.append(np.concatenate([rows[:, :1], samples[:, :, 1]], axis=1).tobytes())
        offset += height * stride
    return b"".join(high_parts), b"".join(low_parts)


def _decode_8bit(
    filtered: bytes, width: int, height: int, colour_type: int, interlace: int
) -> np.ndarray:
    """Let Pillow unfilter an 8-bit stream by wrapping it in a minimal PNG."""
    buffer = io.BytesIO()
    buffer.write(_SIGNATURE)
    _write_chunk(
        buffer, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, interlace)
    )
    # Level 0 stores the bytes uncompressed: the zlib wrapper is all Pillow's decoder needs.
    _write_chunk(buffer, b"IDAT", zlib.compress(filtered, 0))
    _write_chunk(buffer, b"IEND", b"")
    buffer.seek(0)
    with Image.open(buffer, formats=["PNG"]) as image:
        image.load()
        return np.asarray(image)


# -- writing ---------------------------------------------------------------------------------


def _write_chunk(fp: BinaryIO, kind: bytes, payload: bytes) -> None:
    fp.write(struct.pack(">I", len(payload)) + kind + payload)
    fp.write(struct.pack(">I", zlib.crc32(kind + payload)))


def _write_idat(fp: BinaryIO, image: np.ndarray, bpp: int) -> None:
    """Filter and compress blocks of rows, emitting IDAT chunks as the compressor fills them."""
    height = image.shape[0]
    rows = image.reshape(height, -1).view(np.uint8)
    compressor = zlib.compressobj(6)
    pending = bytearray()
    previous = np.zeros(rows.shape[1], dtype=np.uint8)
    for start in range(0, height, _ROWS_PER_BLOCK):
        block = rows[start : start + _ROWS_PER_BLOCK]
        pending += compressor.compress(_filter_rows(block, previous, bpp).tobytes())
        previous = block[-1]
        while len(pending) >= _IDAT_BYTES:
            _write_chunk(fp, b"IDAT", bytes(pending[:_IDAT_BYTES]))
            del pending[:_IDAT_BYTES]
    pending += compressor.flush()
    _write_chunk(fp, b"IDAT", bytes(pending))


def _filter_rows(rows: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """Filter each row with whichever PNG filter gives the smallest sum of |signed bytes|."""
    x = rows.astype(np.int16)
    up = np.vstack([previous[None].astype(np.int16), x[:-1]])
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up_left = np.zeros_like(x)
    up_left[:, bpp:] = up[:, :-bpp]
    candidates = np.stack(
        [x, x - left, x - up, x - (left + up) // 2, x - _paeth(left, up, up_left)]
    ).astype(np.uint8)  # modulo 256, as PNG arithmetic is
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
    best = cost.argmin(axis=0)
    chosen = candidates[best, np.arange(rows.shape[0])]
    return np.concatenate([best.astype(np.uint8)[:, None], chosen], axis=1)


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    estimate_left = np.abs(up - up_left)
    estimate_up = np.abs(left - up_left)
    estimate_corner = np.abs(left + up - 2 * up_left)
    use_left = (estimate_left <= estimate_up) & (estimate_left <= estimate_corner)
    use_up = ~use_left & (estimate_up <= estimate_corner)
    return np.where(use_left, left, np.where(use_up, up, up_left))
