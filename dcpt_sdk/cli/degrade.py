"""``dcpt-degrade``: look at the synthetic degradations, or apply one to an image.

    dcpt-degrade photo.jpg --sheet sheet.png           # every degradation, labelled, in one grid
    dcpt-degrade photo.jpg -d rain -o rainy.png --seed 3 --set angle=20
    dcpt-degrade photo.jpg -d haze+rain -o out.png --set haze.beta=1.5
    dcpt-degrade --list                                # names, physical models, parameter ranges

User errors print one line ("error: ...") on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from dcpt_sdk import imaging
from dcpt_sdk._files import atomic_write
from dcpt_sdk.cli.common import run_command
from dcpt_sdk.degradations import available, degrade, degrade_array, get
from dcpt_sdk.errors import DcptError, InvalidImageError, UnsupportedOptionError
from dcpt_sdk.metrics import psnr

__all__ = ["main"]

_COLUMNS = 4
_LABEL_HEIGHT = 20
# After every single degradation the sheet shows one CDD-11 style mix, to show how they combine.
SHEET_MIXES = ("low_light+haze+rain",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        prog="dcpt-degrade",
        description="Apply DCPT's synthetic degradations to an image, or show them all at once.",
    )
    parser.add_argument("image", nargs="?", help="input image file")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--sheet", metavar="OUT", help="write a contact sheet of every degradation")
    what.add_argument("-d", "--degradation", help="a name, or several joined by '+'")
    what.add_argument("--list", action="store_true", help="list the degradations and exit")
    parser.add_argument("-o", "--output", help="output file for -d (format from its suffix)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of -d (repeatable); mixes use COMPONENT.KEY=VALUE",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=256,
        help="--sheet: longest side of each tile in px; the image is scaled down to it before "
        "degrading, so streak lengths and noise show as a training patch would see them",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 success, 1 user error)."""
    args = _parser().parse_args(argv)
    return run_command(lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    if args.list:
        print(_listing())
        return
    if args.image is None:
        raise UnsupportedOptionError("give an input IMAGE, e.g. dcpt-degrade photo.jpg -d rain")
    if args.sheet is not None:
        if args.set:
            raise UnsupportedOptionError("--set applies to -d only; the sheet uses defaults")
        _write_atomic(contact_sheet(args.image, args.seed, args.size), Path(args.sheet))
    else:
        _single(args)


def _single(args: argparse.Namespace) -> None:
    if args.output is None:
        raise UnsupportedOptionError("-d needs an output file: add -o OUT.png")
    params = dict(_parse_setting(s) for s in args.set)
    # The SDK's reader and writer, not Pillow's: 16-bit stays 16-bit (Pillow opens 16-bit RGB
    # PNG at 8 bits), EXIF orientation is applied, ICC carried, the write is atomic.
    output = Path(args.output)
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise DcptError(f"output folder {str(folder)!r} does not exist; create it first")
    loaded = imaging.read_image(args.image)
    degraded = degrade(loaded.pixels, args.degradation, args.seed, **params)
    if degraded.dtype == np.uint16 and output.suffix.lower() not in (".png", ".tif", ".tiff"):
        print(
            f"note: {output.suffix} stores 8 bits per sample; the 16-bit result is written at "
            "8 bits (use .png or .tif to keep 16)",
            file=sys.stderr,
        )
        degraded = ((degraded.astype(np.uint32) + 128) // 257).astype(np.uint8)
    imaging.write_image(output, degraded, icc_profile=loaded.icc_profile)


def _parse_setting(text: str) -> tuple[str, Any]:
    """'sigma=25' -> ('sigma', 25): ints, floats and true/false are converted, the rest kept."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UnsupportedOptionError(f"--set takes KEY=VALUE, got {text!r}; e.g. --set sigma=25")
    if raw.lower() in ("true", "false"):
        return key, raw.lower() == "true"
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw


def _listing() -> str:
    lines = []
    for name in available():
        entry = get(name)
        lines.append(f"{name}: {entry.model}")
        lines.extend(f"    {p.name} = {p.describe()}: {p.doc}" for p in entry.params)
    return "\n".join(lines)


def _open(path: str) -> Image.Image:
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidImageError(f"cannot read image {path!r}: {exc}") from exc
    return image


def contact_sheet(path: str, seed: int | None, size: int) -> Image.Image:
    """The original, every registered degradation of it and ``SHEET_MIXES``, in a labelled grid.

    Each tile uses its own generator seeded with ``seed``, so a tile does not change when
    degradations are added to the registry. Labels give the name and the PSNR to the original.
    """
    if size < 16:
        raise UnsupportedOptionError(f"--size must be at least 16 px, got {size}")
    image = _open(path).convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    clean = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    tiles = [("original", clean)]
    for name in available() + SHEET_MIXES:
        out = degrade_array(clean, name, np.random.default_rng(seed))
        label = get(name).name  # mixes by their canonical name, in order of application
        tiles.append((f"{label}  {psnr(out, clean):.1f} dB", out))
    return _grid(tiles)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _grid(tiles: list[tuple[str, np.ndarray]]) -> Image.Image:
    h, w = tiles[0][1].shape[:2]
    cols = min(_COLUMNS, len(tiles))
    rows = -(-len(tiles) // cols)
    cell_h = h + _LABEL_HEIGHT
    sheet = Image.new("RGB", (cols * w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for i, (label, pixels) in enumerate(tiles):
        x, y = (i % cols) * w, (i // cols) * cell_h
        tile = (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        sheet.paste(Image.fromarray(tile), (x, y + _LABEL_HEIGHT))
        draw.text((x + 4, y + 3), label, fill="black", font=font)
    return sheet


def _write_atomic(image: Image.Image, path: Path) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written file."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedOptionError(
            f"cannot tell the image format of {str(path)!r} from its suffix; use .png, .jpg, "
            ".tif, .bmp or .webp"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DcptError(f"output folder {str(folder)!r} does not exist; create it first")
    try:
        atomic_write(path, lambda handle: image.save(handle, format=fmt))
    except (OSError, ValueError) as exc:
        raise InvalidImageError(
            f"cannot write a {image.mode} image as {fmt} to {str(path)!r}: {exc}; "
            "PNG takes every mode"
        ) from exc


if __name__ == "__main__":
    sys.exit(main())
