"""The model flags every command that runs a model shares (dcpt-restore, both engines, and
dcpt-serve): one definition, so the same flag means the same thing everywhere."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dcpt_sdk.autotune import DEFAULT_MIN_PSNR_DB
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.formats import FORMATS, PRECISIONS

if TYPE_CHECKING:
    from dcpt_sdk.restorer import Restorer, TileOption

__all__ = ["add_model_arguments", "open_restorer", "parse_tile", "restorer_options"]


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --backend, --device, --precision, --min-psnr-db, --tile, --tile-overlap."""
    parser.add_argument("--model", default="default", help="zoo name, checkpoint or artifact dir")
    parser.add_argument(
        "--backend", default="auto", choices=["auto", *(f.backend for f in FORMATS)]
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or GPU")
    parser.add_argument("--precision", default=None, choices=PRECISIONS)
    parser.add_argument(
        "--min-psnr-db",
        type=float,
        default=DEFAULT_MIN_PSNR_DB,
        help="quality floor of --backend auto: PSNR against torch fp32 a backend must reach "
        "(about 38 admits int8)",
    )
    parser.add_argument("--tile", default="auto", help="tile size in pixels, 'auto' or 'none'")
    parser.add_argument("--tile-overlap", type=int, default=None)


def parse_tile(value: str) -> TileOption:
    if value == "auto":
        return "auto"
    if value == "none":
        return None
    if value.isdigit():
        return int(value)
    raise UnsupportedOptionError(
        f"--tile must be a number of pixels, 'auto' or 'none'; got '{value}'"
    )


def restorer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Restorer keyword arguments the model flags stand for (``Restorer(**options)``)."""
    return {
        "model": args.model,
        "backend": args.backend,
        "device": args.device,
        "precision": args.precision,
        "tile": parse_tile(args.tile),
        "tile_overlap": args.tile_overlap,
        "min_psnr_db": args.min_psnr_db,
    }


def open_restorer(args: argparse.Namespace) -> Restorer:
    """The Restorer of the model flags; says on stderr what runs (and what "auto" measured)."""
    from dcpt_sdk.restorer import Restorer

    restorer = Restorer(**restorer_options(args))
    print(f"{restorer}", file=sys.stderr)
    if restorer.auto_choice is not None:
        print(restorer.auto_choice.summary(), file=sys.stderr)
    return restorer
