"""Silence the C codec libraries' own complaints while a file is decoded.

libtiff and libpng (under Pillow and OpenCV) print their diagnostics about a damaged file
straight to file descriptor 2 ("ZIPDecode: Decoding error at scanline 0", "libpng error: ..."),
and Pillow adds a UserWarning per odd TIFF/EXIF tag. The reader turns every failure into one
clear InvalidImageError, so that chatter only buries the message that matters (dozens of lines
for one bad file in a dcpt-restore run). Pillow's DecompressionBombWarning is kept: it is about
the user's resources, not the file's syntax.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

from PIL import Image

__all__ = ["quiet_decoders"]


@contextlib.contextmanager
def quiet_decoders() -> Iterator[None]:
    """fd 2 -> /dev/null and Python warnings recorded for the block; the kept warnings are
    re-issued after fd 2 is restored."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to hide
            saved = -1
        try:
            if saved >= 0:
                with open(os.devnull, "wb") as null:
                    os.dup2(null.fileno(), 2)
            yield
        finally:
            if saved >= 0:
                os.dup2(saved, 2)
                os.close(saved)
    for record in caught:
        if issubclass(record.category, Image.DecompressionBombWarning):
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
