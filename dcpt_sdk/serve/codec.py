"""Request bytes to pixels and pixels to response bytes, through dcpt_sdk.imaging.

The header is read first (Pillow parses only the first bytes): whether the body is an image at
all (415 otherwise) and how many pixels it declares (422 over the limit), before a single pixel
is decoded, so a small file that declares a gigantic image costs nothing.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dcpt_sdk import imaging
from dcpt_sdk.errors import DcptError
from dcpt_sdk.serve.errors import ServeError

__all__ = [
    "CONTENT_TYPES",
    "OUTPUT_FORMATS",
    "check_output_format",
    "decode_body",
    "encode_pixels",
    "output_format_of",
    "parse_format",
]

#: The values of ``format=`` and their Content-Type (BMP only comes back for a BMP input).
CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
}
OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpeg", "webp", "tiff")
_ACCEPTED = "PNG, JPEG, TIFF, WebP or BMP"


def parse_format(value: str | None) -> str | None:
    """``format=`` of the query: None (the input's own format) or one of OUTPUT_FORMATS."""
    if value is None:
        return None
    name = value.strip().lower()
    if name not in OUTPUT_FORMATS:
        raise ServeError(
            422,
            "bad_query",
            f"format={value!r} is not an output format; use one of "
            f"{', '.join(OUTPUT_FORMATS)}, or leave it out to get the input's own format",
        )
    return name


def decode_body(data: bytes, max_pixels: int) -> imaging.LoadedImage:
    """The request body as a decoded image, or a ServeError saying what is wrong with it."""
    if not data:
        raise ServeError(
            415,
            "empty_body",
            f"the request body is empty; send the image file's bytes as the body "
            f"(curl --data-binary @photo.png), {_ACCEPTED}",
        )
    width, height = _declared_size(data)
    if width * height > max_pixels:
        raise ServeError(
            422,
            "too_many_pixels",
            f"the image is {width}x{height} = {width * height} pixels, over this service's "
            f"limit of {max_pixels}; send a smaller image (or restore it with dcpt-restore)",
        )
    try:
        return imaging.decode_image(data, "request body")
    except DcptError as exc:
        raise ServeError(422, "corrupt_image", f"{exc}") from exc


def _declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone; 415 for bytes that are no accepted container."""
    try:
        with Image.open(io.BytesIO(data), formats=imaging.READ_FORMATS) as image:
            return image.size
    except Image.UnidentifiedImageError:
        raise ServeError(
            415,
            "not_an_image",
            f"the request body is not a {_ACCEPTED} image (it starts with {data[:8]!r}); "
            "send the image file's own bytes as the body, not a form or a base64 text",
        ) from None
    except Image.DecompressionBombError as exc:
        raise ServeError(422, "too_many_pixels", f"{exc}; send a smaller image") from None
    # Pillow's header parsers raise many exception types on damaged headers.
    except Exception as exc:
        raise ServeError(
            422, "corrupt_image", f"the image header is damaged ({exc}); send the file again"
        ) from None


def output_format_of(loaded: imaging.LoadedImage) -> str:
    """The input's own container as a ``format=`` name (a phone's multi-picture JPEG is JPEG)."""
    names = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff", "WEBP": "webp"}
    return names.get(loaded.format, "bmp")


def check_output_format(pixels: np.ndarray, fmt: str) -> None:
    """Refuse, before any inference, an asked-for format that cannot hold these pixels (JPEG and
    alpha, 16-bit and WebP, ...). imaging's own encoders decide, on a 1x1 corner of the image,
    so the rules live in one place; the message lists the formats that would do."""
    if _holds(pixels, fmt):
        return
    fitting = " or ".join(f"format={name}" for name in OUTPUT_FORMATS if _holds(pixels, name))
    raise ServeError(
        422,
        "format_cannot_hold",
        f"format={fmt} cannot hold this {_describe(pixels)} image; "
        f"{'ask for ' + fitting + ', or ' if fitting else ''}leave format out to get the "
        "input's own format",
    )


def _holds(pixels: np.ndarray, fmt: str) -> bool:
    try:
        imaging.encode_image(pixels[:1, :1], fmt)
    except DcptError:
        return False
    return True


def _describe(pixels: np.ndarray) -> str:
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    kind = {1: "gray", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    depth = "float" if pixels.dtype.kind == "f" else f"{pixels.dtype.itemsize * 8}-bit"
    return f"{depth} {kind}"


def encode_pixels(pixels: np.ndarray, fmt: str, icc_profile: bytes | None) -> bytes:
    """The restored pixels as the response body (the input's colour profile kept)."""
    try:
        return imaging.encode_image(pixels, fmt, icc_profile=icc_profile)
    except DcptError as exc:
        raise ServeError(422, "format_cannot_hold", str(exc)) from exc
