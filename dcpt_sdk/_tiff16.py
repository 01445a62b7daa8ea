"""16-bit TIFF with several samples per pixel, which Pillow reads only as 8-bit and cannot write.

Pillow has no 16-bit RGB/RGBA image mode, so it cuts 16-bit colour TIFFs to 8 bit on read and
refuses to write them. This module closes that gap with numpy, zlib and Pillow's own decoders.

Reading: the samples of the file's first image are re-described as a 16-bit *gray* image that is
``samples`` times as wide (for planar files, one gray image per plane). For each horizontal band of
strips (or row of tiles) a small stand-alone TIFF is assembled from the very same compressed bytes
plus a new directory saying so, and Pillow (libtiff) decodes it with whatever compression the file
uses (LZW, Deflate, PackBits, Zstd, ...) at full 16-bit precision. Bands keep every decode at most
W x H gray pixels, so Pillow's decompression-bomb limit acts as for the colour image. The only
thing that changes meaning is the horizontal predictor, which steps by ``samples`` in the real
image: it is left out of the new directory and undone here with numpy.

Writing: a little-endian baseline TIFF, Deflate-compressed with the horizontal predictor (as
libtiff, tifffile and Photoshop write it), one IFD after the strips.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

__all__ = ["needs_tiff16", "read_tiff16", "write_tiff16"]

# TIFF tags used here
WIDTH, HEIGHT, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
STRIP_OFFSETS, SAMPLES, ROWS_PER_STRIP, STRIP_COUNTS, PLANAR = 273, 277, 278, 279, 284
PREDICTOR, TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_COUNTS = 317, 322, 323, 324, 325
EXTRA_SAMPLES, SAMPLE_FORMAT, ICC_PROFILE = 338, 339, 34675
_SHORT, _LONG, _UNDEFINED = 3, 4, 7
_TYPE_FORMAT = {_SHORT: "H", _LONG: "I", _UNDEFINED: "B"}
_DEFLATE = 8
_STRIP_BYTES = 1 << 20

Entry = tuple[int, Sequence[int] | bytes]  # (TIFF type, values)


def needs_tiff16(image: Image.Image) -> bool:
    """True for a TIFF Pillow opened as 8-bit RGB/RGBA although it stores 16-bit samples."""
    if image.format != "TIFF" or image.mode not in ("RGB", "RGBA"):
        return False
    bits = image.tag_v2.get(BITS, ())  # type: ignore[attr-defined]
    return 16 in (bits if isinstance(bits, tuple) else (bits,))


def read_tiff16(data: bytes, image: Image.Image) -> np.ndarray:
    """Decode the first image of a 16-bit colour TIFF to uint16 H x W x C (C = 3 or 4).

    ``image`` is the file opened (not loaded) by Pillow, whose parsed tags are reused.
    Raises ValueError for layouts this reader does not handle.
    """
    tags = image.tag_v2  # type: ignore[attr-defined]
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ValueError(
            "16-bit colour BigTIFF files are not supported; save as classic TIFF or PNG"
        )
    predictor = int(tags.get(PREDICTOR, 1))
    if predictor not in (1, 2):
        raise ValueError(f"TIFF predictor {predictor} is not supported for 16-bit samples")
    samples, width, height = int(tags[SAMPLES]), int(tags[WIDTH]), int(tags[HEIGHT])
    tiled = TILE_OFFSETS in tags
    offsets = list(tags[TILE_OFFSETS] if tiled else tags[STRIP_OFFSETS])
    counts = list(tags[TILE_COUNTS] if tiled else tags[STRIP_COUNTS])
    if int(tags.get(PLANAR, 1)) == 2:
        per_plane = len(offsets) // samples
        planes = [
            _decode_wide(data, tags, offsets[first:], counts[first:], 1)
            for first in range(0, per_plane * samples, per_plane)
        ]
        pixels = np.stack(planes, axis=2)
    else:
        pixels = _decode_wide(data, tags, offsets, counts, samples)
        pixels = pixels.reshape(height, width, samples)
    if predictor == 2:
        _undo_horizontal_predictor(pixels, int(tags.get(TILE_WIDTH, 0)))
    return _to_rgb_or_rgba(pixels, tuple(tags.get(EXTRA_SAMPLES, ())))


def write_tiff16(fp: BinaryIO, pixels: np.ndarray, icc_profile: bytes | None = None) -> None:
    """Encode uint16 H x W or H x W x C (C in 1, 3, 4) as a Deflate-compressed 16-bit TIFF."""
    image = pixels[:, :, None] if pixels.ndim == 2 else pixels
    height, width, channels = image.shape
    rows_per_strip = max(1, _STRIP_BYTES // (width * channels * 2))
    strips = [
        zlib.compress(_predict(image[top : top + rows_per_strip]).tobytes(), 6)
        for top in range(0, height, rows_per_strip)
    ]
    offsets, position = [], 8
    for strip in strips:
        offsets.append(position)
        position += len(strip) + len(strip) % 2
    if position >= 2**32 - 2**20:
        raise ValueError("image too large for a classic TIFF (4 GB); write a .png instead")
    entries: dict[int, Entry] = {
        WIDTH: (_LONG, [width]),
        HEIGHT: (_LONG, [height]),
        BITS: (_SHORT, [16] * channels),
        COMPRESSION: (_SHORT, [_DEFLATE]),
        PHOTOMETRIC: (_SHORT, [1 if channels == 1 else 2]),
        STRIP_OFFSETS: (_LONG, offsets),
        SAMPLES: (_SHORT, [channels]),
        ROWS_PER_STRIP: (_LONG, [rows_per_strip]),
        STRIP_COUNTS: (_LONG, [len(strip) for strip in strips]),
        PLANAR: (_SHORT, [1]),
        PREDICTOR: (_SHORT, [2]),
        SAMPLE_FORMAT: (_SHORT, [1] * channels),
    }
    if channels == 4:
        entries[EXTRA_SAMPLES] = (_SHORT, [2])  # unassociated (straight) alpha
    if icc_profile:
        entries[ICC_PROFILE] = (_UNDEFINED, icc_profile)
    fp.write(b"II*\x00" + struct.pack("<I", position))
    for strip in strips:
        fp.write(strip + b"\x00" * (len(strip) % 2))
    fp.write(ifd_bytes(entries, position, "<"))


def ifd_bytes(entries: Mapping[int, Entry], offset: int, endian: str) -> bytes:
    """One IFD (no next IFD) placed at ``offset``, followed by its out-of-line values."""
    count = len(entries)
    values_at = offset + 2 + 12 * count + 4
    table, extra = [struct.pack(endian + "H", count)], bytearray()
    for tag in sorted(entries):
        kind, values = entries[tag]
        packed = struct.pack(f"{endian}{len(values)}{_TYPE_FORMAT[kind]}", *values)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\x00")
        else:
            field = struct.pack(endian + "I", values_at + len(extra))
            extra += packed + b"\x00" * (len(packed) % 2)
        table.append(struct.pack(endian + "HHI", tag, kind, len(values)) + field)
    table.append(b"\x00\x00\x00\x00")
    return b"".join(table) + bytes(extra)


# -- reading ---------------------------------------------------------------------------------


def _decode_wide(
    data: bytes, tags: Any, offsets: list[int], counts: list[int], spread: int
) -> np.ndarray:
    """Decode ``spread`` interleaved samples as one uint16 H x (W * spread) gray image.

    Decoded in horizontal bands of whole strips (or one row of tiles), each of at most W x H
    gray pixels, so Pillow's decompression-bomb limit applies as it would to the colour image.
    """
    width, height = int(tags[WIDTH]), int(tags[HEIGHT])
    if TILE_OFFSETS in tags:
        band_rows = int(tags[TILE_LENGTH])
        chunks_per_band = -(-width // int(tags[TILE_WIDTH]))
    else:
        strip_rows = min(int(tags.get(ROWS_PER_STRIP, height)), height)
        chunks_per_band = max(1, height // spread // strip_rows)
        band_rows = chunks_per_band * strip_rows
    out = np.empty((height, width * spread), dtype=np.uint16)
    for band, top in enumerate(range(0, height, band_rows)):
        rows = min(band_rows, height - top)
        first, last = band * chunks_per_band, (band + 1) * chunks_per_band
        chunks = list(zip(offsets[first:last], counts[first:last], strict=True))
        out[top : top + rows] = _decode_band(data, tags, chunks, rows, spread)
    return out


def _decode_band(
    data: bytes, tags: Any, chunks: list[tuple[int, int]], rows: int, spread: int
) -> np.ndarray:
    """A stand-alone gray TIFF made of these strips/tiles, decoded by Pillow (libtiff)."""
    endian = "<" if data[:2] == b"II" else ">"
    pieces = [data[offset : offset + count] for offset, count in chunks]
    if any(len(piece) != count for piece, (_, count) in zip(pieces, chunks, strict=True)):
        raise ValueError("the file is truncated (image data missing)")
    positions = [8 + sum(len(piece) for piece in pieces[:k]) for k in range(len(pieces))]
    body = b"".join(pieces)
    entries: dict[int, Entry] = {
        WIDTH: (_LONG, [int(tags[WIDTH]) * spread]),
        HEIGHT: (_LONG, [rows]),
        BITS: (_SHORT, [16]),
        COMPRESSION: (_SHORT, [int(tags.get(COMPRESSION, 1))]),
        PHOTOMETRIC: (_SHORT, [1]),
        SAMPLES: (_SHORT, [1]),
        PLANAR: (_SHORT, [1]),
        SAMPLE_FORMAT: (_SHORT, [1]),
    }
    if TILE_OFFSETS in tags:
        entries[TILE_WIDTH] = (_LONG, [int(tags[TILE_WIDTH]) * spread])
        entries[TILE_LENGTH] = (_LONG, [int(tags[TILE_LENGTH])])
        entries[TILE_OFFSETS] = (_LONG, positions)
        entries[TILE_COUNTS] = (_LONG, [len(piece) for piece in pieces])
    else:
        entries[ROWS_PER_STRIP] = (_LONG, [min(int(tags.get(ROWS_PER_STRIP, rows)), rows)])
        entries[STRIP_OFFSETS] = (_LONG, positions)
        entries[STRIP_COUNTS] = (_LONG, [len(piece) for piece in pieces])
    ifd_at = 8 + len(body) + len(body) % 2
    header = data[:4] + struct.pack(endian + "I", ifd_at)
    padding = b"\x00" * (len(body) % 2)
    tiff = header + body + padding + ifd_bytes(entries, ifd_at, endian)
    with Image.open(io.BytesIO(tiff), formats=["TIFF"]) as gray:
        gray.load()
        return np.asarray(gray).astype(np.uint16)


def _undo_horizontal_predictor(pixels: np.ndarray, tile_width: int) -> None:
    """Cumulative sums along each row (per sample), restarting at every tile's left edge."""
    step = tile_width or pixels.shape[1]
    for left in range(0, pixels.shape[1], step):
        block = pixels[:, left : left + step]
        np.cumsum(block, axis=1, dtype=np.uint16, out=block)


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


# -- writing ---------------------------------------------------------------------------------


def _predict(rows: np.ndarray) -> np.ndarray:
    """Horizontal differencing per sample (TIFF predictor 2), little-endian uint16."""
    diff = rows.astype("<u2", copy=True)
    diff[:, 1:] -= rows[:, :-1]
    return diff
