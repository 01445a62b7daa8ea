"""``degrade``: the degradation engine on any image type a user holds.

Converts uint8/uint16/float arrays (HxW, HxWxC with C = 1, 2, 3, 4), PIL images and paths to the
engine's float32 RGB in [0, 1], degrades, and converts back to the caller's kind, dtype and
layout. Files are read by dcpt_sdk.imaging; the array conversion stays here because the engine
keeps what the model-facing code does not (gray+alpha arrays, unclipped float noise).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from dcpt_sdk import imaging
from dcpt_sdk.degradations.registry import Degradation, degrade_array
from dcpt_sdk.errors import InvalidImageError

__all__ = ["degrade"]

ImageInput = np.ndarray | Image.Image | str | os.PathLike

_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KEPT_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I", "F")
# The channel a gray image's result is read from: one channel keeps noise statistics exact
# (averaging three independent draws would divide sigma by sqrt(3)); green is the channel a Bayer
# mosaic samples most densely.
_GRAY_CHANNEL = 1


def degrade(
    img: ImageInput,
    name: str | Degradation,
    seed: int | np.random.Generator | None = None,
    **params: Any,
) -> Any:
    """Degrade an image with a named degradation (or a "+"-joined mix) of the engine.

    Args:
        img: a numpy array (HxW or HxWxC, C = 1, 2, 3 or 4; uint8, uint16, or float32/float64 in
            [0, 1]), a PIL image, or a path to an image file.
        name: a name from ``dcpt_sdk.degradations.available()``, a mix such as "haze+rain", or a
            ``Degradation``.
        seed: an int for a reproducible result, a numpy Generator, or None (unpredictable).
        **params: the degradation's parameters (``dcpt-degrade --list`` shows them); the ones left
            out are drawn from their documented ranges.

    Returns:
        The same kind as given: an array of the same dtype and layout, or a PIL image of the same
        mode (palette and other modes come back as RGB/RGBA, "1" as "L"); a path gives an array.
        Gray images are degraded as RGB with equal channels, and the green channel is returned.
        The alpha channel is passed through untouched. uint16 stays 16-bit (JPEG quantises to
        8 bits, as JPEG does). Float input with ``noise``'s ``clip=False`` may leave [0, 1].

    Raises:
        InvalidImageError: an unreadable file or an unsupported dtype, shape or value range.
        UnsupportedOptionError: an unknown degradation or parameter, or an invalid value.

    Example:
        >>> rainy = dcpt_sdk.degrade(photo, "rain", seed=0, angle=10)
    """
    if isinstance(img, str | os.PathLike):
        # imaging.read_image: EXIF orientation, 16-bit colour PNG/TIFF (Pillow reads them as 8-bit),
        # and the same errors as Restorer.run for unreadable files.
        return _degrade_array(imaging.read_image(img).pixels, name, seed, params)
    if isinstance(img, Image.Image):
        array, mode = _from_pil(img)
        return _to_pil(_degrade_array(array, name, seed, params), mode)
    if isinstance(img, np.ndarray):
        return _degrade_array(img, name, seed, params)
    raise InvalidImageError(
        f"degrade takes a numpy array, a PIL image or a path, got {type(img).__name__}"
    )


def _from_pil(image: Image.Image) -> tuple[np.ndarray, str]:
    """The image's pixels as an array, and the mode to give the result back in."""
    if image.mode not in _KEPT_MODES:
        has_alpha = "transparency" in image.info or image.mode in ("PA", "La", "RGBa")
        image = image.convert("RGBA" if has_alpha else ("L" if image.mode == "1" else "RGB"))
    array = np.asarray(image)
    if image.mode == "I":
        array = np.clip(array, 0, 65535).astype(np.uint16)
    return array, image.mode


def _to_pil(array: np.ndarray, mode: str) -> Image.Image:
    if mode == "I":
        return Image.fromarray(array.astype(np.int32))
    if mode == "F":
        return Image.fromarray(array.astype(np.float32))
    return Image.fromarray(array)


def _degrade_array(
    array: np.ndarray,
    name: str | Degradation,
    seed: int | np.random.Generator | None,
    params: dict[str, Any],
) -> np.ndarray:
    """Split colour and alpha, degrade the colour as float RGB, reassemble in the input dtype."""
    scale = _check(array)
    planes = array[..., None] if array.ndim == 2 else array
    colour_channels = 3 if planes.shape[2] >= 3 else 1
    colour = planes[..., :colour_channels].astype(np.float32)
    if scale != 1.0:
        colour *= np.float32(1.0 / scale)
    elif not (float(colour.min()) >= 0.0 and float(colour.max()) <= 1.0):
        raise InvalidImageError(
            f"float images must lie in [0, 1], got [{float(colour.min()):g}, "
            f"{float(colour.max()):g}]; divide by 255 (or 65535) or clip first"
        )
    rgb = np.repeat(colour, 3, axis=2) if colour_channels == 1 else colour
    out = degrade_array(np.ascontiguousarray(rgb), name, seed, **params)
    if colour_channels == 1:
        out = out[..., _GRAY_CHANNEL : _GRAY_CHANNEL + 1]
    result = _from_float(out, array.dtype, scale)
    if planes.shape[2] in (2, 4):
        result = np.concatenate([result, planes[..., -1:]], axis=2)
    return result[..., 0] if array.ndim == 2 else result


def _check(array: np.ndarray) -> float:
    """The value that means white for this dtype (1.0 for floats); raise on unsupported input."""
    if array.dtype not in _SCALE and array.dtype not in _FLOATS:
        raise InvalidImageError(
            f"unsupported image dtype {array.dtype}; give uint8, uint16, or float32/float64 "
            "in [0, 1]"
        )
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else 0)
    if channels not in (1, 2, 3, 4) or array.shape[0] < 2 or array.shape[1] < 2:
        raise InvalidImageError(
            f"unsupported image shape {array.shape}; give HxW or HxWxC with C = 1, 2, 3 or 4 "
            "(gray, gray+alpha, RGB, RGBA) and H, W >= 2"
        )
    return _SCALE.get(array.dtype, 1.0)


def _from_float(out: np.ndarray, dtype: np.dtype, scale: float) -> np.ndarray:
    if scale == 1.0:
        return out.astype(dtype, copy=False)
    return (np.clip(out, 0.0, 1.0) * np.float32(scale) + np.float32(0.5)).astype(dtype)
