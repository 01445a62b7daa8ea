"""Image files and pixel arrays in, float32 [0, 1] for the network, and the same kind of image out.

Three jobs, each in its own module; this one is the front door and re-exports the other two:

* files (here): :func:`read_image` / :func:`write_image` for PNG, JPEG, TIFF, WebP and BMP, keeping 16-bit
  PNG/TIFF at 16 bit (Pillow alone cuts 16-bit colour to 8 bit, see ``_png16``/``_tiff16``),
  applying the EXIF orientation on read, carrying the ICC profile to the output where the format
  allows it, and writing atomically (a temp file renamed into place: never a half-written file);
* conversion (dcpt_sdk.pixels): :func:`to_float` / :func:`from_float` turn any accepted array into float32 H x W x C in
  [0, 1] and back into exactly the kind it came from (dtype, H x W vs H x W x C, channels);
* small helpers the runtime needs (dcpt_sdk.pixels): alpha split, gray <-> RGB for an RGB model,
  PIL in and out; the all-or-nothing writes and their temp names live in dcpt_sdk._files.

Every user error is an :class:`~dcpt_sdk.errors.InvalidImageError` that says what was given, what
is accepted and how to fix it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, features

from dcpt_sdk import _bmp_rgba, _png16, _tiff16
from dcpt_sdk._files import (
    TEMP_PREFIX,
    atomic_write,
    sweep_stale_temp_files,
    temp_name_for,
    write_bytes_atomic,
    write_text_atomic,
)
from dcpt_sdk._quiet import quiet_decoders

try:
    from PIL import ImageCms as _ImageCms
except ImportError:  # Pillow built without Little CMS: CMYK falls back to the plain conversion
    _ImageCms = None  # type: ignore[assignment]
from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError
from dcpt_sdk.pixels import (
    ImageInfo,
    checked_pixels,
    describe,
    from_float,
    from_pil,
    gray_to_rgb,
    merge_alpha,
    rgb_to_gray,
    split_alpha,
    to_float,
    to_pil,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "READ_FORMATS",
    "ImageInfo",
    "LoadedImage",
    "decode_image",
    "encode_image",
    "from_float",
    "from_pil",
    "gray_to_rgb",
    "merge_alpha",
    "read_image",
    "rgb_to_gray",
    "split_alpha",
    "to_float",
    "to_pil",
    "write_image",
    "write_bytes_atomic",
    "write_text_atomic",
    # the temp-file names of the atomic writers (dcpt_sdk._files), for cleaning up after a kill
    "TEMP_PREFIX",
    "sweep_stale_temp_files",
    "temp_name_for",
]

#: File suffixes read_image/write_image handle (lower case, with the dot).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")

_FORMAT_OF_SUFFIX = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
#: The Pillow formats read_image/decode_image open (dcpt-serve checks request headers by them).
#: Pillow's JPEG opener also returns multi-picture JPEGs from phones (format "MPO").
READ_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")
_SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP"})  # Pillow reads its own RGBA BMPs back as RGB
_ICC_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP"})
_READ_HINT = "is it a PNG/JPEG/TIFF/WebP/BMP file?"
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image file's pixels as stored, plus what must travel with them to the output.

    Attributes:
        pixels: H x W (gray) or H x W x 3/4 (RGB/RGBA); uint8, uint16 for 16-bit PNG/TIFF, float32
            for a float gray TIFF. Already turned upright by the EXIF orientation.
        icc_profile: the embedded colour profile (bytes) or None.
        format: the container as Pillow names it ("PNG", "JPEG", "TIFF", "WEBP", "BMP", "MPO").
    """

    pixels: np.ndarray = field(repr=False)
    icc_profile: bytes | None = field(repr=False)
    format: str

    def __repr__(self) -> str:
        icc = f"{len(self.icc_profile)} bytes" if self.icc_profile else "none"
        return (
            f"LoadedImage(format={self.format!r}, shape={self.pixels.shape}, "
            f"dtype={self.pixels.dtype}, icc_profile={icc})"
        )


# -- reading ---------------------------------------------------------------------------------


def read_image(path: str | os.PathLike[str]) -> LoadedImage:
    """Read a PNG, JPEG, TIFF, WebP or BMP file, fully decoded and upright.

    16-bit PNG and TIFF (gray, RGB, RGBA) come back as uint16 at full precision. Palette, 1-bit,
    CMYK, YCbCr and LAB images come back as RGB (RGBA when they carry transparency); gray + alpha
    as RGBA. Only the first frame of an animated or multi-page file is read.

    Raises:
        InvalidImageError: a missing, truncated, corrupt or non-image file (the message names it).

    Example:
        >>> loaded = read_image("photo.jpg")
        >>> loaded.pixels.shape, loaded.pixels.dtype
        ((768, 1024, 3), dtype('uint8'))
    """
    path = Path(path)
    return decode_image(_read_bytes(path), str(path))


def decode_image(data: bytes, name: str = "<bytes>") -> LoadedImage:
    """:func:`read_image` of a file's bytes already in memory (read from an object store, say);
    the same pixels as reading the file. ``name`` is what an error message calls the image.

    Raises:
        InvalidImageError: truncated, corrupt or non-image bytes (the message names ``name``).
    """
    try:
        with quiet_decoders():
            return _decode(data)
    # Pillow's plugins raise many exception types on bad input; every one means "unreadable".
    except Exception as exc:
        raise InvalidImageError(
            f"cannot read image '{name}': {_reason(exc)}; {_READ_HINT}"
        ) from exc


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidImageError(
            f"cannot read image '{path}': no such file; check the path"
        ) from None
    except IsADirectoryError:
        raise InvalidImageError(
            f"cannot read image '{path}': it is a folder; give an image file"
        ) from None
    except OSError as exc:
        raise InvalidImageError(f"cannot read image '{path}': {exc.strerror or exc}") from exc


def _reason(exc: Exception) -> str:
    """Pillow's exception as words a user can act on (its bare KeyError of a TIFF tag number,
    ZeroDivisionError or MemoryError say nothing about the file)."""
    if isinstance(exc, Image.UnidentifiedImageError):
        return "not a recognised image"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it (its header declares a very large image)"
    if isinstance(exc, ZeroDivisionError):
        return "corrupt header (a size field such as RowsPerStrip is 0)"
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], int):
        from PIL import TiffTags

        tag = exc.args[0]
        return f"corrupt TIFF: required tag {tag} ({TiffTags.lookup(tag).name}) is missing"
    return str(exc) or type(exc).__name__


def _decode(data: bytes) -> LoadedImage:
    """Decode everything inside one try (the caller's), so truncation surfaces as an error here."""
    _check_png_crcs(data)
    with Image.open(io.BytesIO(data), formats=READ_FORMATS) as image:
        icc = image.info.get("icc_profile")
        exif = Image.Exif()
        if _png16.needs_png16(data):
            pixels, raw_exif = _png16.read_png16(data)
            if raw_exif:
                exif = Image.Exif()
                exif.load(raw_exif)
            if pixels.shape[2] == 2:  # gray + alpha -> RGBA, the one alpha layout downstream knows
                pixels = pixels[:, :, [0, 0, 0, 1]]
        elif _tiff16.needs_tiff16(image):
            exif = image.getexif()  # TIFF tags: read from the header, nothing decoded
            pixels = _tiff16.read_tiff16(data, image)
        else:
            image.load()
            exif = image.getexif()  # PNG may keep eXIf after the image data
            if image.mode == "CMYK":
                pixels, icc = _cmyk_to_rgb(image, icc)
            else:
                pixels = from_pil(image)
        orientation = exif.get(_ORIENTATION_TAG, 1)
        return LoadedImage(
            _orient(pixels, orientation), _matching_icc(icc, pixels), str(image.format)
        )


def _check_png_crcs(data: bytes) -> None:
    """Refuse a truncated PNG or one whose chunk fails its CRC. Pillow checks the CRCs of the
    chunks it parses but not of IDAT, so a corrupt 8-bit image decoded into wrong pixels
    without a word."""
    if not data.startswith(_png16.SIGNATURE):
        return
    try:
        for kind, _, crc_ok in _png16.chunks(data):
            if not crc_ok:
                name = kind.decode("latin-1", errors="replace")
                raise InvalidImageError(f"corrupt PNG: chunk {name!r} fails its CRC check")
    except ValueError as error:  # truncation, in the walker's words
        raise InvalidImageError(str(error)) from None


def _cmyk_to_rgb(image: Image.Image, icc: object) -> tuple[np.ndarray, bytes | None]:
    """CMYK through its own profile to sRGB when it has one (print files do); else Pillow's
    plain formula, which is what viewers without colour management show."""
    if _ImageCms is not None and isinstance(icc, bytes) and icc:
        try:
            srgb = _ImageCms.ImageCmsProfile(_ImageCms.createProfile("sRGB"))
            source = _ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = _ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            if rgb is not None:
                return np.array(rgb), srgb.tobytes()
        except (OSError, _ImageCms.PyCMSError):
            pass  # an unusable profile: fall back to the plain conversion below
    return np.array(image.convert("RGB")), None


def _orient(pixels: np.ndarray, orientation: object) -> np.ndarray:
    """Apply an EXIF orientation (1-8) as ImageOps.exif_transpose does, on the array."""
    transforms: dict[object, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    transform = transforms.get(orientation)
    return pixels if transform is None else np.ascontiguousarray(transform(pixels))


def _matching_icc(icc: object, pixels: np.ndarray) -> bytes | None:
    """The profile, or None when its colour space cannot describe these pixels (e.g. a CMYK
    profile after conversion to RGB, or a gray profile after gray + alpha became RGBA)."""
    if not isinstance(icc, bytes) or len(icc) < 20:
        return None
    space = icc[16:20]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if (channels == 1 and space == b"GRAY") or (channels in (3, 4) and space == b"RGB "):
        return icc
    return None


# -- writing ---------------------------------------------------------------------------------


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    icc_profile: bytes | None = None,
    quality: int = 95,
) -> None:
    """Write pixels to an image file chosen by the suffix, atomically.

    The file appears complete or not at all: it is written to a temp file next to the target,
    synced, then renamed over it; the temp file is removed on any failure. Missing parent folders
    are created. uint16 goes to PNG/TIFF as real 16-bit; float32 gray to TIFF as float. The ICC
    profile is embedded in PNG, JPEG, TIFF and WebP (BMP has no place for it). JPEG is written
    with 4:4:4 chroma so restored colour detail is not halved; ``quality`` applies to JPEG/WebP.

    Raises:
        InvalidImageError: unknown suffix, pixels the format cannot hold (16-bit to JPEG/WebP/BMP,
            alpha to JPEG/BMP), bad arrays, or a file that cannot be written.
        UnsupportedOptionError: quality outside 1..100.

    Example:
        >>> write_image("out/restored.png", restored, icc_profile=loaded.icc_profile)
    """
    path = Path(path)
    image_format = _format_of(path)
    array, icc = _ready_to_encode(pixels, image_format, path, icc_profile, quality)
    try:
        atomic_write(path, lambda fp: _encode(fp, array, image_format, icc, quality))
    except (OSError, ValueError) as exc:
        raise InvalidImageError(
            f"cannot write image '{path}': {exc}; check that the folder is writable and "
            "the disk has space"
        ) from exc


def encode_image(
    pixels: np.ndarray,
    image_format: str,
    icc_profile: bytes | None = None,
    quality: int = 95,
) -> bytes:
    """:func:`write_image` into bytes in memory (an HTTP response body, say): the same checks,
    options and encoders, the same bytes a file of that format would hold.

    ``image_format`` is "png", "jpeg" (or "jpg"), "tiff" (or "tif"), "webp" or "bmp", in any case.

    Raises:
        UnsupportedOptionError: an unknown format, or quality outside 1..100.
        InvalidImageError: pixels the format cannot hold (16-bit to JPEG/WebP/BMP, alpha to
            JPEG), bad arrays.

    Example:
        >>> png_bytes = encode_image(restored, "png", icc_profile=loaded.icc_profile)
    """
    known = _FORMAT_OF_SUFFIX.get("." + str(image_format).lower())
    if known is None:
        names = ", ".join(suffix[1:] for suffix in IMAGE_SUFFIXES)
        raise UnsupportedOptionError(f"unknown image format {image_format!r}; use one of {names}")
    target = Path(f"<{known} bytes>")  # what the shared messages call the output
    array, icc = _ready_to_encode(pixels, known, target, icc_profile, quality)
    buffer = io.BytesIO()
    try:
        _encode(buffer, array, known, icc, quality)
    except (OSError, ValueError) as exc:
        raise InvalidImageError(f"cannot encode the image as {known}: {exc}") from exc
    return buffer.getvalue()


def _ready_to_encode(
    pixels: np.ndarray, image_format: str, target: Path, icc_profile: bytes | None, quality: int
) -> tuple[np.ndarray, bytes | None]:
    """The checked array (H x W x 1 as H x W) and the profile to embed, or a clear error."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise UnsupportedOptionError(f"quality must be an int in 1..100, got {quality!r}")
    array = checked_pixels(pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    _check_fits_format(array, image_format, target)
    icc = icc_profile if image_format in _ICC_FORMATS else None
    if icc is not None and _matching_icc(icc, array) is None:
        raise InvalidImageError(
            f"the ICC profile given for '{target}' is not an RGB/GRAY profile matching "
            f"{describe(array)}; pass the profile read with this image, or icc_profile=None"
        )
    return array, icc


def _format_of(path: Path) -> str:
    image_format = _FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if image_format is None:
        raise InvalidImageError(
            f"cannot write '{path}': unknown image suffix {path.suffix!r}; "
            f"use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    return image_format


def _check_fits_format(array: np.ndarray, image_format: str, path: Path) -> None:
    channels = 1 if array.ndim == 2 else array.shape[2]
    if array.dtype == np.uint16 and image_format not in _SIXTEEN_BIT_FORMATS:
        raise InvalidImageError(
            f"cannot write 16-bit pixels to '{path}': {image_format} stores 8 bits per sample; "
            "write a .png or .tif file to keep 16 bits"
        )
    if array.dtype.kind == "f" and not (image_format == "TIFF" and array.dtype == np.float32):
        raise InvalidImageError(
            f"cannot write {array.dtype} pixels to '{path}': only float32 gray goes to .tif; "
            "convert to uint8/uint16 first, e.g. with from_float(image, info)"
        )
    if array.dtype.kind == "f" and channels != 1:
        raise InvalidImageError(
            f"cannot write float32 colour pixels to '{path}': TIFF float is written for gray "
            "only; convert to uint16 (e.g. np.rint(image * 65535).astype(np.uint16))"
        )
    if channels == 4 and image_format not in (*_ALPHA_FORMATS, "BMP"):
        raise InvalidImageError(
            f"cannot write RGBA pixels to '{path}': {image_format} keeps no alpha channel; "
            "write .png, .tif or .webp, or drop alpha with pixels[..., :3]"
        )


def _encode(
    fp: BinaryIO, array: np.ndarray, image_format: str, icc: bytes | None, quality: int
) -> None:
    if array.dtype == np.uint16 and image_format == "PNG":
        _png16.write_png16(fp, array, icc)
    elif array.dtype == np.uint16:
        _tiff16.write_tiff16(fp, array, icc)
    elif image_format == "BMP" and array.ndim == 3 and array.shape[2] == 4:
        _bmp_rgba.write_bmp_rgba(fp, array)
    else:
        options = _save_options(image_format, quality)
        if icc is not None:
            options["icc_profile"] = icc
        Image.fromarray(np.ascontiguousarray(array)).save(fp, format=image_format, **options)


def _save_options(image_format: str, quality: int) -> dict[str, object]:
    if image_format == "JPEG":
        return {"quality": quality, "subsampling": 0}
    if image_format == "WEBP":
        return {"quality": quality, "exact": True}  # exact: keep colour under transparent pixels
    if image_format == "TIFF" and features.check("libtiff"):
        return {"compression": "tiff_adobe_deflate"}
    return {}
