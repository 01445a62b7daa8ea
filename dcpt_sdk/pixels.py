"""Pixel arrays and PIL images in, float32 H x W x C in [0, 1] for the network, and exactly the
kind of array that came in back out (dtype, H x W vs H x W x C, channels): the conversion half of
dcpt_sdk.imaging, which re-exports every public name here.

Every user error is an :class:`~dcpt_sdk.errors.InvalidImageError` that says what was given, what
is accepted and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from dcpt_sdk.errors import InvalidImageError

__all__ = [
    "ImageInfo",
    "checked_pixels",
    "describe",
    "from_float",
    "from_pil",
    "gray_to_rgb",
    "merge_alpha",
    "rgb_to_gray",
    "split_alpha",
    "to_float",
    "to_pil",
]

Layout = Literal["HW", "HWC"]
_ACCEPTED_DTYPES = "uint8, uint16, float16, float32 or float64 (floats in [0, 1])"
_MAX_OF_DTYPE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`from_float` needs to give back exactly the kind of array :func:`to_float` got.

    Attributes:
        dtype: the original dtype (native byte order).
        layout: "HW" for a 2-D array, "HWC" for a 3-D one (even when C is 1).
        channels: 1, 3 or 4.
    """

    dtype: np.dtype
    layout: Layout
    channels: int

    @property
    def has_alpha(self) -> bool:
        return self.channels == 4


# -- PIL images ------------------------------------------------------------------------------


def from_pil(image: Image.Image) -> np.ndarray:
    """A PIL image as a pixel array: "L" -> uint8 H x W, "RGB"/"RGBA" -> uint8 H x W x 3/4,
    "I;16*" -> uint16 H x W, "F" -> float32 H x W.

    Other modes are converted: "1" -> L; "P" -> RGB (RGBA with transparency); "LA"/"PA" -> RGBA;
    "CMYK"/"YCbCr"/"LAB"/"HSV"/"RGBX" -> RGB; "I" -> uint16 when its values fit. No orientation is
    applied: an image in memory is taken as it is.

    Raises:
        InvalidImageError: a mode without a faithful array form (e.g. "I" with negative values).
    """
    image.load()
    mode = image.mode
    if mode in ("L", "RGB", "RGBA", "F"):
        return np.array(image)
    if mode.startswith("I;16"):
        return np.array(image).astype(np.uint16)
    if mode == "I":
        return _int32_to_uint16(np.array(image))
    return np.array(image.convert(_target_mode(image)))


def _target_mode(image: Image.Image) -> str:
    mode = image.mode
    if mode == "1":
        return "L"
    if mode == "P":
        palette_alpha = image.palette is not None and image.palette.mode == "RGBA"
        return "RGBA" if "transparency" in image.info or palette_alpha else "RGB"
    if mode in ("LA", "PA", "RGBa"):
        return "RGBA"
    if mode == "La":
        raise InvalidImageError(
            "a premultiplied 'La' PIL image cannot be converted; call image.convert('LA') first"
        )
    return "RGB"


def _int32_to_uint16(array: np.ndarray) -> np.ndarray:
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        raise InvalidImageError(
            f"32-bit integer pixels with values {low}..{high} do not fit 16 bits; "
            "give uint8/uint16 data or float data in [0, 1]"
        )
    return array.astype(np.uint16)


def to_pil(pixels: np.ndarray) -> Image.Image:
    """A pixel array as a PIL image, the inverse of :func:`from_pil` for L, RGB, RGBA, I;16, F.

    Raises:
        InvalidImageError: pixels with no PIL mode, e.g. 16-bit or float colour (Pillow has no
            such modes; keep the array, or write it with write_image).
    """
    array = checked_pixels(pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 2 and array.dtype == np.uint16:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 2 and array.dtype == np.float32:
        return Image.fromarray(np.ascontiguousarray(array))
    raise InvalidImageError(
        f"Pillow has no image mode for {array.dtype} pixels of shape {array.shape}: PIL images "
        "hold uint8 gray/RGB/RGBA, uint16 gray or float32 gray; keep the numpy array or save it "
        "with dcpt_sdk.imaging.write_image (16-bit PNG/TIFF)"
    )


# -- float conversion ------------------------------------------------------------------------


def to_float(pixels: np.ndarray) -> tuple[np.ndarray, ImageInfo]:
    """Pixels -> (float32 H x W x C array in [0, 1], ImageInfo to undo it with from_float).

    uint8 is divided by 255 and uint16 by 65535 (never through 8 bit); float input is taken as
    already in [0, 1] and copied as float32 unclipped, so the caller's values reach the model as
    given. The result is always a new C-contiguous array.

    Raises:
        InvalidImageError: not an array, wrong number of dimensions, channels not 1/3/4, an empty
            image, an unsupported dtype, or NaN/inf values.

    Example:
        >>> image, info = to_float(np.zeros((4, 5), np.uint16))
        >>> image.shape, info
        ((4, 5, 1), ImageInfo(dtype=dtype('uint16'), layout='HW', channels=1))
    """
    array = checked_pixels(pixels)
    info = ImageInfo(
        dtype=array.dtype,
        layout="HW" if array.ndim == 2 else "HWC",
        channels=1 if array.ndim == 2 else array.shape[2],
    )
    image = array[:, :, None] if array.ndim == 2 else array
    converted = np.array(image, dtype=np.float32, order="C", copy=True)
    if info.dtype in _MAX_OF_DTYPE:
        np.divide(converted, _MAX_OF_DTYPE[info.dtype], out=converted)
    else:
        _check_finite(converted, "image")
    return converted, info


def from_float(image: np.ndarray, info: ImageInfo) -> np.ndarray:
    """Float H x W x C in [0, 1] -> pixels of the kind described by ``info``.

    Values are clipped to [0, 1]; integer dtypes are rounded to nearest (uint16 scaled by 65535);
    float dtypes keep their dtype; an "HW" layout drops the channel axis again.

    Raises:
        InvalidImageError: not a float H x W x C array, channels differ from ``info``, or NaN/inf
            values (from a model that overflowed, typically at fp16: try precision="fp32").
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype.kind != "f":
        raise InvalidImageError(
            f"from_float needs a float H x W x C numpy array, got {describe(image)}"
        )
    if image.shape[2] != info.channels:
        raise InvalidImageError(
            f"from_float got {image.shape[2]} channels but the original image had "
            f"{info.channels}; merge alpha back / map RGB back to gray before from_float"
        )
    _check_finite(image, "restored image")
    clipped = np.clip(image, 0.0, 1.0, dtype=np.float32)
    if info.dtype in _MAX_OF_DTYPE:
        clipped *= _MAX_OF_DTYPE[info.dtype]
        pixels = np.rint(clipped, out=clipped).astype(info.dtype)
    else:
        pixels = clipped.astype(info.dtype, copy=False)
    return pixels[:, :, 0] if info.layout == "HW" else pixels


def checked_pixels(pixels: object) -> np.ndarray:
    """Validate an image array and return it in native byte order."""
    if not isinstance(pixels, np.ndarray):
        raise InvalidImageError(
            f"expected a numpy array, got {type(pixels).__name__}; use from_pil for PIL images "
            "and read_image for files"
        )
    if pixels.ndim not in (2, 3):
        raise InvalidImageError(
            f"an image array must be H x W or H x W x C, got shape {pixels.shape}"
        )
    if pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4):
        raise InvalidImageError(
            f"got {pixels.shape[2]} channels (shape {pixels.shape}); accepted are 1 (gray), "
            "3 (RGB) and 4 (RGBA), channels last"
        )
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise InvalidImageError(
            f"the image is empty (shape {pixels.shape}); height and width must be at least 1"
        )
    return pixels.astype(_native_dtype(pixels), copy=False)


def _native_dtype(pixels: np.ndarray) -> np.dtype:
    dtype = pixels.dtype
    accepted = dtype.kind == "u" and dtype.itemsize in (1, 2)
    accepted = accepted or (dtype.kind == "f" and dtype.itemsize in (2, 4, 8))
    if not accepted:
        raise InvalidImageError(
            f"unsupported pixel dtype {dtype} (shape {pixels.shape}); accepted are "
            f"{_ACCEPTED_DTYPES}: convert first, e.g. array.astype(np.uint16) for 16-bit "
            "integers or array.astype(np.uint8) * 255 for a boolean mask"
        )
    return dtype.newbyteorder("=")


def _check_finite(image: np.ndarray, what: str) -> None:
    finite = np.isfinite(image)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise InvalidImageError(
            f"the {what} holds {bad} NaN or infinite values (of {finite.size}); replace them "
            "(e.g. np.nan_to_num) — if a model produced them, try precision='fp32'"
        )


def describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# -- channel helpers -------------------------------------------------------------------------


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour H x W x 3, alpha H x W x 1) for RGBA; (image, None) for gray or RGB.

    Alpha is kept out of the network, which restores colour only. Both parts are views.
    """
    if image.shape[2] == 4:
        return image[:, :, :3], image[:, :, 3:]
    return image, None


def merge_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Put an alpha channel split off by :func:`split_alpha` back (no-op when it is None)."""
    return colour if alpha is None else np.concatenate([colour, alpha], axis=2)


def gray_to_rgb(image: np.ndarray) -> np.ndarray:
    """H x W x 1 -> H x W x 3 by repeating the gray channel, for a model that takes RGB."""
    if image.shape[2] != 1:
        raise InvalidImageError(f"gray_to_rgb needs H x W x 1, got shape {image.shape}")
    return np.repeat(image, 3, axis=2)


def rgb_to_gray(image: np.ndarray) -> np.ndarray:
    """H x W x 3 -> H x W x 1 as the plain mean of the channels.

    The mean, not luma weights: the input was gray repeated three times, so the three outputs
    are three estimates of one value and deserve equal weight; luma weights would favour green.
    """
    if image.shape[2] != 3:
        raise InvalidImageError(f"rgb_to_gray needs H x W x 3, got shape {image.shape}")
    return image.mean(axis=2, keepdims=True, dtype=np.float32).astype(image.dtype, copy=False)
