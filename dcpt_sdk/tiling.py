"""Padding to a size multiple and overlapping tiles blended without seams.

Pure functions over float32 N x C x H x W tensors; the network is just a callable ``fn``.

Padding is *reflect* (mirror without repeating the edge pixel, like ``torch.nn.functional.pad``
mode "reflect"), extended periodically when the pad is as large as the image, which plain reflect
refuses; a dimension of 1 pixel is repeated. So every size from 1 x 1 up can be padded.

Tiling lays tiles of ``tile`` pixels (a multiple of the model's size multiple) evenly over the
image padded to that multiple, the first at the top/left edge and the last at the bottom/right
edge, so fn always receives tiles whose sides are multiples (it never needs to pad) and all tiles
of one image have the same shape. The padding is read through an index map, never materialised
for the whole image. Neighbouring tiles overlap by at least ``overlap`` pixels. Each tile's weight
along an axis is zero for the ``overlap // 4`` pixels next to an inner edge (where the network saw
an artificial border), then rises as a raised cosine over the middle of the overlap; the two
ramps of a pair of neighbours are complementary, and weights are normalised so they sum to exactly
1 everywhere. A network whose receptive field reaches less than ``overlap // 4`` pixels therefore
gives the same result tiled as untiled; a larger one is cross-faded with no visible seam.
"""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from dcpt_sdk.errors import BackendError, UnsupportedOptionError

__all__ = [
    "AxisLayout",
    "choose_tile_size",
    "crop",
    "is_out_of_memory",
    "pad_to_multiple",
    "run_padded",
    "run_tiled",
    "run_with_oom_retry",
]

logger = logging.getLogger(__name__)

TileFn = Callable[[Tensor], Tensor]
# Lower-case message fragments by which torch, ONNX Runtime and OpenVINO report exhausted memory.
_OOM_MARKERS = ("out of memory", "failed to allocate memory", "bad_alloc", "cannot allocate memory")


# -- padding ---------------------------------------------------------------------------------


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad the bottom and right of ``x`` (... x H x W) up to multiples of ``multiple``.

    Returns the padded tensor (``x`` itself when nothing is needed) and the original (H, W) to
    crop back to. Works for any size, including 1 x 1 and pads larger than the image.
    """
    _check_multiple(multiple)
    height, width = x.shape[-2:]
    padded_h, padded_w = _round_up(height, multiple), _round_up(width, multiple)
    if padded_h != height:
        x = x.index_select(-2, reflect_index(height, padded_h, x.device))
    if padded_w != width:
        x = x.index_select(-1, reflect_index(width, padded_w, x.device))
    return x, (height, width)


def crop(x: Tensor, height: int, width: int) -> Tensor:
    """The top-left ``height`` x ``width`` of ``x`` (a view), undoing :func:`pad_to_multiple`."""
    return x[..., :height, :width]


def reflect_index(size: int, length: int, device: torch.device | str = "cpu") -> Tensor:
    """Source index of each of ``length`` positions along an axis of ``size``, reflect-extended.

    0, 1, ..., size-1, size-2, ..., 1, 0, 1, ...: the mirror pattern repeats with period
    2 * (size - 1), so pads of any length are defined; a size of 1 repeats its only pixel.
    """
    positions = torch.arange(length, device=device)
    if size == 1:
        return torch.zeros_like(positions)
    period = 2 * (size - 1)
    folded = positions % period
    return torch.where(folded < size, folded, period - folded)


def run_padded(fn: TileFn, x: Tensor, multiple: int) -> Tensor:
    """``fn`` on the whole image, padded to the multiple and cropped back (no tiling)."""
    padded, (height, width) = pad_to_multiple(x, multiple)
    out = fn(padded)
    _check_output(out, padded)
    return crop(out, height, width)


# -- tile layout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisLayout:
    """Where the tiles go along one axis and how much each counts.

    Attributes:
        padded: the axis length padded to the multiple (tiles cover exactly this).
        length: each tile's length along the axis (``tile``, or ``padded`` when that is smaller).
        starts: first pixel of each tile, increasing, first 0 and last ``padded - length``.
        weights: one float32 vector of ``length`` per tile; at every position the weights of
            the tiles covering it sum to 1.
    """

    padded: int
    length: int
    starts: tuple[int, ...]
    weights: tuple[Tensor, ...]

    @classmethod
    def build(cls, size: int, tile: int, overlap: int, multiple: int) -> AxisLayout:
        """Lay out tiles over ``size`` pixels (see the module docstring for the rules)."""
        padded = _round_up(size, multiple)
        if padded <= tile:
            return cls(padded, padded, (0,), (torch.ones(padded),))
        count = math.ceil((padded - overlap) / (tile - overlap))
        starts = tuple(round(i * (padded - tile) / (count - 1)) for i in range(count))
        raw = [_edge_weights(start, tile, padded, overlap) for start in starts]
        total = torch.zeros(padded, dtype=torch.float64)
        for start, weight in zip(starts, raw, strict=True):
            total[start : start + tile] += weight
        if not bool((total > 0).all()):  # never seen for tile > overlap; guards the division
            raise RuntimeError(
                f"tile layout leaves pixels without weight: {size=} {tile=} {overlap=}"
            )
        weights = tuple(
            (weight / total[start : start + tile]).float()
            for start, weight in zip(starts, raw, strict=True)
        )
        return cls(padded, tile, starts, weights)


def _edge_weights(start: int, tile: int, padded: int, overlap: int) -> Tensor:
    """Ramps at the tile's inner edges; edges on the image border keep full weight."""
    distance = torch.arange(tile, dtype=torch.float64) + 0.5  # from the leading edge
    weight = torch.ones(tile, dtype=torch.float64)
    if start > 0:
        weight *= _ramp(distance, overlap)
    if start + tile < padded:
        weight *= _ramp(distance.flip(0), overlap)
    return weight


def _ramp(distance: Tensor, overlap: int) -> Tensor:
    """0 within overlap//4 of the edge, raised cosine up to 1 at overlap - overlap//4.

    Symmetric about overlap / 2, so the ramps of two tiles that overlap by exactly ``overlap``
    add up to 1 by themselves.
    """
    margin = overlap // 4
    width = overlap - 2 * margin
    if width <= 0:
        return torch.ones_like(distance)
    phase = ((distance - margin) / width).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * phase)


# -- tiled run -------------------------------------------------------------------------------


def run_tiled(
    fn: TileFn,
    x: Tensor,
    tile: int,
    overlap: int,
    multiple: int,
    *,
    tiles_per_call: int = 1,
    on_tile: Callable[[int, int], None] | None = None,
) -> Tensor:
    """``fn`` over overlapping tiles of ``x``, blended into one float32 CPU tensor.

    Args:
        fn: maps an N x C x h x w float32 tensor to N x C' x h x w (same size: scale 1). It
            receives tensors on ``x``'s device whose h and w are multiples of ``multiple``, so
            it need not pad; it may move them anywhere and return a tensor on any device.
        x: N x C x H x W float32, any H and W >= 1.
        tile: tile side in pixels, a multiple of ``multiple`` and larger than ``overlap``
            (twice the overlap or more keeps most of each tile unblended).
            An axis shorter than one tile is one tile (padded to the multiple).
        overlap: minimum overlap between neighbouring tiles in pixels (0 = no blending).
        multiple: the model's size multiple.
        tiles_per_call: tiles stacked along N into one fn call (same shape, so they stack).
        on_tile: called as ``on_tile(done, total)`` after each call, with the tiles done so far
            (progress for images that take minutes).

    Returns:
        N x C' x H x W float32 on the CPU. Memory: the output accumulator plus one call's tiles;
        equal to ``run_padded(fn, x, multiple)`` where fn's receptive field < overlap // 4.

    Raises:
        UnsupportedOptionError: tile, overlap, multiple or tiles_per_call out of range.
        BackendError: fn returned a different spatial size or batch than it was given.
    """
    _check_tiling(tile, overlap, multiple, tiles_per_call)
    height, width = x.shape[-2:]
    rows = AxisLayout.build(height, tile, overlap, multiple)
    cols = AxisLayout.build(width, tile, overlap, multiple)
    row_source = reflect_index(height, rows.padded, x.device)
    col_source = reflect_index(width, cols.padded, x.device)
    jobs = [(i, j) for i in range(len(rows.starts)) for j in range(len(cols.starts))]
    out: Tensor | None = None
    for first in range(0, len(jobs), tiles_per_call):
        batch = jobs[first : first + tiles_per_call]
        tiles = torch.cat([_gather(x, row_source, col_source, rows, i, cols, j) for i, j in batch])
        result = fn(tiles)
        _check_output(result, tiles)
        result = result.detach().to("cpu", torch.float32)
        if out is None:
            out = torch.zeros(x.shape[0], result.shape[1], height, width)
        for k, (i, j) in enumerate(batch):
            part = result[k * x.shape[0] : (k + 1) * x.shape[0]]
            _accumulate(out, part, rows, i, cols, j)
        del tiles, result
        if on_tile is not None:
            on_tile(min(first + tiles_per_call, len(jobs)), len(jobs))
    assert out is not None  # jobs is never empty: every axis has at least one tile
    return out


def _gather(
    x: Tensor,
    row_source: Tensor,
    col_source: Tensor,
    rows: AxisLayout,
    i: int,
    cols: AxisLayout,
    j: int,
) -> Tensor:
    top, left = rows.starts[i], cols.starts[j]
    tile_rows = row_source[top : top + rows.length, None]
    tile_cols = col_source[None, left : left + cols.length]
    return x[:, :, tile_rows, tile_cols]  # one gather of just the tile, padding included


def _accumulate(
    out: Tensor, part: Tensor, rows: AxisLayout, i: int, cols: AxisLayout, j: int
) -> None:
    """Add one tile's weighted output; rows/columns in the padding are dropped."""
    height, width = out.shape[-2:]
    top, left = rows.starts[i], cols.starts[j]
    keep_h, keep_w = min(rows.length, height - top), min(cols.length, width - left)
    weight = rows.weights[i][:keep_h, None] * cols.weights[j][None, :keep_w]
    target = out[:, :, top : top + keep_h, left : left + keep_w]
    target.addcmul_(part[:, :, :keep_h, :keep_w], weight)


# -- memory ----------------------------------------------------------------------------------


def choose_tile_size(
    height: int,
    width: int,
    channels: int,
    bytes_per_pixel_estimate: float,
    budget_bytes: float,
    multiple: int,
) -> int | None:
    """The largest tile that fits the budget, or None when the whole image does.

    Memory model of one forward pass over an h x w region (after padding to the multiple):
    ``h * w * (bytes_per_pixel_estimate + 8 * channels)``: the network's activations, calibrated
    per architecture by the caller, plus that region's float32 input and output. Buffers the size
    of the whole image (the float image and the tiled output accumulator) are needed whatever the
    tile and are not counted. When one axis fits whole, the tile grows along the other.

    Raises:
        BackendError: the budget does not fit even a ``multiple`` x ``multiple`` tile.
    """
    _check_multiple(multiple)
    per_pixel = bytes_per_pixel_estimate + 8.0 * channels
    padded_h, padded_w = _round_up(height, multiple), _round_up(width, multiple)
    max_area = budget_bytes / per_pixel
    if padded_h * padded_w <= max_area:
        return None
    side = math.isqrt(int(max_area))
    short = min(padded_h, padded_w)
    if short <= side:  # the short axis is one tile, so the tile may be longer
        side = int(max_area // short)
    side -= side % multiple
    if side < multiple:
        raise BackendError(
            f"a memory budget of {budget_bytes / 2**20:.1f} MB does not fit even a "
            f"{multiple}x{multiple} tile at ~{per_pixel:.0f} bytes per pixel; raise the memory "
            "budget (memory_budget_mb=) or run on a device with more memory"
        )
    return side


def is_out_of_memory(exc: BaseException) -> bool:
    """True for MemoryError, torch.cuda.OutOfMemoryError, or an error whose message reports
    exhausted memory ("out of memory", "failed to allocate memory", "bad_alloc", ...), which is
    how torch (RuntimeError), ONNX Runtime and OpenVINO report it."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if isinstance(exc, MemoryError) or (oom_type is not None and isinstance(exc, oom_type)):
        return True
    message = str(exc).lower()
    return isinstance(exc, Exception) and any(marker in message for marker in _OOM_MARKERS)


def run_with_oom_retry(
    run: Callable[[int | None], Tensor],
    *,
    start_tile: int | None,
    min_tile: int,
    image_size: tuple[int, int],
    multiple: int,
    on_retry: Callable[[int | None, int], None] | None = None,
) -> Tensor:
    """``run(tile)``, halving the tile after each out-of-memory error down to ``min_tile``.

    ``start_tile=None`` means "whole image first": the first retry uses half the padded long
    side. Tiles stay multiples of ``multiple``; when halving would undershoot ``min_tile`` (rounded
    up to the multiple), that smallest tile is tried last. Each retry is logged (warning) and reported to ``on_retry(failed_tile, next_tile)``;
    other errors propagate untouched. Cached CUDA memory is released between tries.

    Raises:
        BackendError: out of memory even at the smallest tile; says what to do.

    Example:
        >>> out = run_with_oom_retry(lambda t: run_tiled(fn, x, t, 32, 8) if t else fn(x),
        ...                          start_tile=None, min_tile=64, image_size=(h, w), multiple=8)
    """
    _check_multiple(multiple)
    smallest = _round_up(max(min_tile, multiple), multiple)
    whole = max(_round_up(size, multiple) for size in image_size)
    tile = start_tile
    while True:
        try:
            return run(tile)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # Outside the except block: the failed attempt's frames (and tensors) are gone now.
        _release_memory()
        failed, tile = tile, _next_tile(tile, whole, smallest, multiple)
        if tile is None:
            raise BackendError(_oom_message(failed, image_size, min_tile, reason))
        logger.warning("out of memory with tile=%s; retrying with tile=%d", failed, tile)
        if on_retry is not None:
            on_retry(failed, tile)


def _next_tile(failed: int | None, whole: int, smallest: int, multiple: int) -> int | None:
    """Half the failed tile (the whole padded image for None), at least ``smallest``; None when
    that would not be smaller than what just failed."""
    base = whole if failed is None else min(failed, whole)
    half = base // 2
    candidate = max(half - half % multiple, smallest)
    return candidate if candidate < base else None


def _oom_message(
    failed: int | None, image_size: tuple[int, int], min_tile: int, reason: str
) -> str:
    height, width = image_size
    attempt = "the whole image" if failed is None else f"{failed}-px tiles"
    return (
        f"out of memory restoring a {width}x{height} image even with {attempt}, the smallest "
        f"tile allowed (min {min_tile} px) ({reason}); restore a smaller image (downscale or "
        "crop it), pass a smaller --tile (tile=) where the minimum allows, or free memory / use "
        "a device with more of it"
    )


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


# -- checks ----------------------------------------------------------------------------------


def _round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def _check_multiple(multiple: int) -> None:
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise UnsupportedOptionError(f"multiple must be an int >= 1, got {multiple!r}")


def _check_tiling(tile: int, overlap: int, multiple: int, tiles_per_call: int) -> None:
    _check_multiple(multiple)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise UnsupportedOptionError(f"overlap must be an int >= 0 pixels, got {overlap!r}")
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < multiple or tile % multiple:
        lower = max(multiple, tile - tile % multiple) if isinstance(tile, int) else multiple
        raise UnsupportedOptionError(
            f"tile must be a positive multiple of the model's size multiple {multiple}, got "
            f"{tile!r}; use e.g. {lower} or {lower + multiple}"
        )
    if tile <= overlap:
        raise UnsupportedOptionError(
            f"tile={tile} must be larger than the overlap ({overlap}), or tiles would not "
            f"advance; use a tile of at least {2 * overlap} (twice the overlap is a good "
            "minimum) or a smaller overlap"
        )
    if (
        isinstance(tiles_per_call, bool)
        or not isinstance(tiles_per_call, int)
        or tiles_per_call < 1
    ):
        raise UnsupportedOptionError(f"tiles_per_call must be an int >= 1, got {tiles_per_call!r}")


def _check_output(out: object, given: Tensor) -> None:
    if not isinstance(out, Tensor) or out.ndim != 4:
        raise BackendError(
            f"the model returned {type(out).__name__} "
            f"{tuple(out.shape) if isinstance(out, Tensor) else ''} for an input of "
            f"{tuple(given.shape)}; expected an N x C x H x W tensor"
        )
    if out.shape[0] != given.shape[0] or out.shape[-2:] != given.shape[-2:]:
        raise BackendError(
            f"the model returned shape {tuple(out.shape)} for an input of {tuple(given.shape)}; "
            "tiling needs the same batch and height/width out as in (scale 1)"
        )
