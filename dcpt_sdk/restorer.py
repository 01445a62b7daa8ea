"""Restorer: the runtime API applications call, ``Restorer(model).run(img)``.

The path of an image: convert to float32 [0,1] (imaging.to_float), split off alpha, map gray to
RGB for an RGB model, then either one padded forward pass or overlapping tiles blended smoothly
(tiling.run_tiled), on whichever backend runs the model (runtimes/), and back to the caller's
exact kind of image (dtype, layout, channels, PIL or array).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from PIL import Image
from torch import nn

from dcpt_sdk import imaging, tiling
from dcpt_sdk.archs import get_architecture
from dcpt_sdk.autotune import DEFAULT_MIN_PSNR_DB, AutoChoice
from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError
from dcpt_sdk.formats import Precision
from dcpt_sdk.model_source import open_runtime
from dcpt_sdk.runtimes.base import Runtime
from dcpt_sdk.spec import ModelSpec

__all__ = ["Restorer", "ImageLike"]

ImageLike = np.ndarray | Image.Image | str | os.PathLike
# What run() returns an array for: an array, or a path (read, then restored).
_ArrayOrPath = np.ndarray | str | os.PathLike
TileOption = int | Literal["auto"] | None

_DEFAULT_OVERLAP = 64
_DEFAULT_CPU_BUDGET_MB = 1024
_DEFAULT_GPU_BUDGET_FRACTION = 0.5
_MIN_TILE = 64
# classify() sees the whole image, downscaled to at most this long side (a global property).
_CLASSIFY_MAX_SIDE = 1024


class Restorer:
    """Restore images with a DCPT model on torch, ONNX Runtime, OpenVINO or TensorRT.

    Args:
        model: a built-in model name, a checkpoint (.safetensors/.pth), an exported artifact
            directory (from dcpt-export), or a torch network carrying a ``.spec`` (moved to
            the device, and on the CPU to channels_last memory format, in place as ``.to()``
            does).
        backend: "auto" (the fastest candidate on this machine, measured once and cached; see
            dcpt_sdk.autotune), "torch", "onnxruntime", "openvino" or "tensorrt". For a built-in
            model "auto" also exports it once to OpenVINO/ONNX into the user cache when those
            extras are installed (dcpt_sdk.autoexport); a torch network in memory runs on torch.
        device: "auto", "cpu", "cuda", "cuda:N" (torch/ORT/TensorRT) or "GPU" (OpenVINO).
        precision: "fp32", "fp16", "bf16" or "int8"; None takes the artifact's own precision
            (fp32 for torch).
        tile: "auto" (tile only when the image exceeds the memory budget), an int tile size in
            pixels, or None (never tile; an image over the budget is an error).
        tile_overlap: overlap between tiles in pixels (default 64; see benchmarks/results/tiling_quality.md), blended with a smooth ramp.
        memory_budget_mb: activation memory allowed for one forward pass (default 1024 MB on
            CPU, half the free memory on a GPU).
        min_psnr_db: the quality floor of "auto" (and of choosing among several artifacts): a
            candidate is used only if its PSNR against torch fp32 reaches it (default 45 dB,
            which keeps bf16 and fp16; about 38 admits int8 artifacts).

    Example:
        >>> restorer = Restorer("dcpt_nafnet_5d.pth", backend="torch", tile=512)
        >>> clean = restorer.run("rainy.png")
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | nn.Module = "default",
        *,
        backend: str = "auto",
        device: str = "auto",
        precision: Precision | None = None,
        tile: TileOption = "auto",
        tile_overlap: int | None = None,
        memory_budget_mb: float | None = None,
        min_psnr_db: float = DEFAULT_MIN_PSNR_DB,
    ) -> None:
        self._runtime: Runtime
        self._runtime, self._auto_choice = open_runtime(
            model, backend=backend, device=device, precision=precision, min_psnr_db=min_psnr_db
        )
        self.tile = _check_tile(tile, self.spec.pad_multiple)
        self.tile_overlap = _DEFAULT_OVERLAP if tile_overlap is None else int(tile_overlap)
        if self.tile_overlap < 0:
            raise UnsupportedOptionError(f"tile_overlap must be >= 0, got {tile_overlap}")
        self.memory_budget_bytes = int(_budget_mb(memory_budget_mb, self._runtime.device) * 2**20)
        self._bytes_per_pixel = (
            activation_bytes_per_pixel(self.spec) * self._runtime.activation_memory
        )
        # Serialises backends that cannot take concurrent calls (see Runtime.thread_safe).
        self._lock = threading.Lock() if not self._runtime.thread_safe else None

    # -- facts --------------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        return self._runtime.spec

    @property
    def backend(self) -> str:
        return self._runtime.backend

    @property
    def device(self) -> str:
        return self._runtime.device

    @property
    def precision(self) -> str:
        return self._runtime.precision

    @property
    def batch_gain(self) -> bool:
        """True when same-size images restore faster stacked into one call (GPU backends):
        what :meth:`run_batch` decides by, and what a serving queue may batch by."""
        return bool(self._runtime.batch_gain)

    @property
    def auto_choice(self) -> AutoChoice | None:
        """What "auto" measured to choose the backend (None when there was no choice to make);
        ``.summary()`` is one line for people."""
        return self._auto_choice

    def __repr__(self) -> str:
        return (
            f"Restorer(arch={self.spec.arch!r}, backend={self.backend!r}, device={self.device!r}, "
            f"precision={self.precision!r}, tile={self.tile!r})"
        )

    # -- public API ---------------------------------------------------------------------------
    @overload
    def run(
        self, img: _ArrayOrPath, *, on_tile: Callable[[int, int], None] | None = None
    ) -> np.ndarray: ...

    @overload
    def run(
        self, img: Image.Image, *, on_tile: Callable[[int, int], None] | None = None
    ) -> Image.Image: ...

    def run(
        self, img: ImageLike, *, on_tile: Callable[[int, int], None] | None = None
    ) -> np.ndarray | Image.Image:
        """Restore one image; returns the same kind of image it was given.

        Accepts numpy arrays H x W or H x W x C (C = 1, 3, 4) of uint8, uint16, float16/float32
        in [0, 1], a PIL image, or a path (which returns an array). 16-bit stays 16-bit, gray stays
        gray and alpha is carried through untouched. ``on_tile(done, total)`` is called as the
        tiles of a tiled image finish (not at all for an image restored in one pass).

        Raises:
            InvalidImageError: unreadable file, unsupported dtype/shape/channels.
            BackendError: out of memory even at the smallest tile.
        """
        pixels, as_pil = _to_pixels(img)
        colour, alpha, info = self._prepare(pixels)
        restored = self._restore_float(colour, on_tile)
        return self._finish(restored, alpha, info, as_pil)

    def run_batch(self, images: Iterable[ImageLike]) -> Iterator[Any]:
        """Restore many images lazily, in order; same-sized images share one call where that helps."""
        if not self.batch_gain:
            for img in images:
                yield self.run(img)
            return
        pending: list[tuple[np.ndarray, np.ndarray | None, imaging.ImageInfo, bool]] = []
        for img in images:
            pixels, as_pil = _to_pixels(img)
            colour, alpha, info = self._prepare(pixels)
            if pending and (pending[0][0].shape != colour.shape or len(pending) >= 8):
                yield from self._flush(pending)
                pending = []
            pending.append((colour, alpha, info, as_pil))
        yield from self._flush(pending)

    def classify(self, img: ImageLike) -> dict[str, float]:
        """Degradation probabilities (softmax), keyed by class name in the spec's class order.

        The classifier sees the whole image at once, never single tiles, even where ``run``
        restores it tile by tile: an image whose long side exceeds 1024 px is first downscaled
        to 1024 px on that side (the degradation type is a global property and the
        classifier's memory grows with size), then reflect-padded to the multiple.
        """
        if not self._runtime.has_classifier:
            raise UnsupportedOptionError(
                f"this model ({self.spec.arch}, {self.backend}) carries no degradation classifier; "
                "use a DCPT checkpoint saved with its classifier, or an artifact exported from one"
            )
        pixels, _ = _to_pixels(img)
        colour, _, _ = self._prepare(pixels)
        return self._classify_colour(colour)

    def _classify_colour(self, colour: np.ndarray) -> dict[str, float]:
        """classify() of a prepared float image: the whole image, at most 1024 px, padded."""
        batch = _to_batch(_limit_size(colour, _CLASSIFY_MAX_SIDE))
        padded, _ = tiling.pad_to_multiple(batch, self.spec.pad_multiple)
        return self._probabilities(self._call(self._runtime.classify_logits, padded)[0])

    def _probabilities(self, logits: torch.Tensor) -> dict[str, float]:
        probs = torch.softmax(logits.double(), dim=0).tolist()
        return dict(zip(self.spec.degradation_classes, probs, strict=True))

    def run_and_classify(
        self, img: ImageLike, *, on_tile: Callable[[int, int], None] | None = None
    ) -> tuple[Any, dict[str, float]]:
        """``(run(img), classify(img))``, sharing the network pass where it can.

        An image restored in one piece (no tiling) and no larger than classify's 1024 px limit
        is restored and classified from ONE pass: the classifier reads the restorer's own
        decoder features (torch), or the artifact's classifier file returns the restored image
        with the logits. Int8 artifacts are the exception: their classifier file is fp32, so
        the image comes from the int8 model file (what ``run`` gives) and the logits from a
        second run. A tiled image is restored tile by tile and classified as :meth:`classify`
        does: the whole image, downscaled to at most 1024 px, never single tiles. ``on_tile``
        as in :meth:`run`.

        Raises:
            UnsupportedOptionError: the model carries no degradation classifier.
        """
        if not self._runtime.has_classifier:
            return self.run(img), self.classify(img)  # classify raises the clear error
        pixels, as_pil = _to_pixels(img)
        colour, alpha, info = self._prepare(pixels)
        height, width = colour.shape[:2]
        if self._tile_for(height, width) is not None or max(height, width) > _CLASSIFY_MAX_SIDE:
            restored = self._restore_float(colour, on_tile)
            return self._finish(restored, alpha, info, as_pil), self._classify_colour(colour)
        padded, _ = tiling.pad_to_multiple(_to_batch(colour), self.spec.pad_multiple)
        out, logits = self._call(self._runtime.infer_and_classify, padded)
        restored = tiling.crop(out, height, width).clamp(0.0, 1.0)[0].permute(1, 2, 0).numpy()
        return self._finish(restored, alpha, info, as_pil), self._probabilities(logits[0])

    def close(self) -> None:
        self._runtime.close()

    def __enter__(self) -> Restorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _call(self, fn: Any, batch: torch.Tensor) -> torch.Tensor:
        if self._lock is None:
            return fn(batch)
        with self._lock:
            return fn(batch)

    def _prepare(
        self, pixels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, imaging.ImageInfo]:
        image, info = imaging.to_float(pixels)
        _check_float_range(image, info)
        colour, alpha = imaging.split_alpha(image)
        channels = colour.shape[2]
        if channels == 1 and self.spec.in_channels == 3:
            colour = imaging.gray_to_rgb(colour)
        elif channels != self.spec.in_channels:
            raise InvalidImageError(
                f"the image has {channels} colour channels but the model takes "
                f"{self.spec.in_channels}; give an RGB or gray image"
            )
        return colour, alpha, info

    def _finish(
        self, restored: np.ndarray, alpha: np.ndarray | None, info: imaging.ImageInfo, as_pil: bool
    ) -> Any:
        if info.channels in (1, 2) and restored.shape[2] == 3:
            restored = imaging.rgb_to_gray(restored)
        if alpha is not None:
            restored = np.concatenate([restored, alpha], axis=2)
        pixels = imaging.from_float(restored, info)
        return imaging.to_pil(pixels) if as_pil else pixels

    def _flush(self, pending: list) -> Iterator[Any]:  # type: ignore[type-arg]
        if not pending:
            return
        stacked = np.stack([item[0] for item in pending])
        if self._tile_for(stacked.shape[1], stacked.shape[2], len(pending)) is not None:
            for colour, alpha, info, as_pil in pending:
                yield self._finish(self._restore_float(colour), alpha, info, as_pil)
            return
        batch = torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))
        outputs = self._forward_padded(batch)
        for (_, alpha, info, as_pil), out in zip(pending, outputs, strict=True):
            yield self._finish(out.permute(1, 2, 0).numpy(), alpha, info, as_pil)

    def _forward_padded(self, batch: torch.Tensor) -> torch.Tensor:
        padded, (height, width) = tiling.pad_to_multiple(batch, self.spec.pad_multiple)
        out = self._call(self._runtime.infer, padded)
        return tiling.crop(out, height, width).clamp(0.0, 1.0)

    def _tile_for(self, height: int, width: int, batch: int = 1) -> int | None:
        if isinstance(self.tile, int):
            return self.tile if max(height, width) > self.tile else None
        needed = self._bytes_per_pixel * height * width * batch
        if needed <= self.memory_budget_bytes:
            return None
        if self.tile is None:
            raise InvalidImageError(
                f"a {width}x{height} image needs about {needed / 2**20:.0f} MB for one pass, over "
                f"the {self.memory_budget_bytes / 2**20:.0f} MB budget, and tiling is off: use "
                "tile='auto' (or --tile N), or raise memory_budget_mb"
            )
        return tiling.choose_tile_size(
            height,
            width,
            self.spec.in_channels,
            self._bytes_per_pixel,
            self.memory_budget_bytes,
            self.spec.pad_multiple,
        )

    def _restore_float(
        self, colour: np.ndarray, on_tile: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        height, width = colour.shape[:2]
        batch = _to_batch(colour)
        out = tiling.run_with_oom_retry(
            lambda tile: self._run_at_tile(batch, tile, on_tile),
            start_tile=self._tile_for(height, width),
            min_tile=_MIN_TILE,
            image_size=(height, width),
            multiple=self.spec.pad_multiple,
        )
        return out[0].permute(1, 2, 0).numpy()

    def _run_at_tile(
        self,
        batch: torch.Tensor,
        tile: int | None,
        on_tile: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        if tile is None or max(batch.shape[2:]) <= tile:
            return self._forward_padded(batch)
        return tiling.run_tiled(
            self._forward_padded,
            batch,
            tile=tile,
            overlap=self.tile_overlap,
            multiple=self.spec.pad_multiple,
            on_tile=on_tile,
        ).clamp_(0.0, 1.0)


def activation_bytes_per_pixel(spec: ModelSpec) -> float:
    """Peak activation memory of one forward pass per input pixel (float32), by architecture:
    its registry entry's ``memory_factor`` times its base width (Architecture.memory_factor,
    measured by benchmarks/activation_memory.py; the whole-image check is
    benchmarks/restore_memory.py)."""
    try:
        arch = get_architecture(spec.arch)
    except UnsupportedOptionError:
        # An artifact of an architecture this dcpt-sdk does not know (from a newer version):
        # the conservative factor at a paper-size width, so tiling errs on the safe side.
        return _UNKNOWN_ARCH_BYTES_PER_PIXEL
    return arch.activation_bytes_per_pixel(spec.hparams)


_UNKNOWN_ARCH_BYTES_PER_PIXEL = 256.0 * 64


def _to_batch(colour: np.ndarray) -> torch.Tensor:
    """A float H x W x C image as a 1 x C x H x W tensor."""
    return torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1)))[None]


# Float pixels are taken in [0, 1]; unclipped noise pushes a few a little past 1, but a maximum
# past this is an image on another scale (0-255, HDR), which clipping would silently destroy.
_FLOAT_MAX = 2.0


def _check_float_range(image: np.ndarray, info: imaging.ImageInfo) -> None:
    if info.dtype.kind != "f" or image.size == 0:
        return
    top = float(image.max())
    if top > _FLOAT_MAX:
        raise InvalidImageError(
            f"this float image holds values up to {top:g}, but float images must be in [0, 1] "
            "(the output would be clipped to it); divide a 0-255 image by 255 first, or pass "
            "it as uint8"
        )


def _check_tile(tile: TileOption, multiple: int) -> TileOption:
    if tile is None or tile == "auto":
        return tile
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < _MIN_TILE:
        raise UnsupportedOptionError(
            f"tile must be 'auto', None or an int >= {_MIN_TILE}, got {tile!r}"
        )
    if tile % multiple:
        lower = tile - tile % multiple
        raise UnsupportedOptionError(
            f"tile must be a multiple of the model's pad multiple {multiple}; got {tile}, "
            f"use {lower} or {lower + multiple}"
        )
    return tile


def _budget_mb(budget: float | None, device: str) -> float:
    if budget is not None:
        if budget <= 0:
            raise UnsupportedOptionError(f"memory_budget_mb must be > 0, got {budget}")
        return float(budget)
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free / 2**20 * _DEFAULT_GPU_BUDGET_FRACTION
    return float(_DEFAULT_CPU_BUDGET_MB)


def _to_pixels(img: ImageLike) -> tuple[np.ndarray, bool]:
    """(pixel array, whether the caller gave a PIL image)."""
    if isinstance(img, Image.Image):
        return imaging.from_pil(img), True
    if isinstance(img, str | os.PathLike):
        return imaging.read_image(Path(img)).pixels, False
    if isinstance(img, np.ndarray):
        return img, False
    raise InvalidImageError(
        f"cannot restore a {type(img).__name__}; give a numpy array (HxW or HxWxC), "
        "a PIL image or a path to an image file"
    )


def _limit_size(colour: np.ndarray, longest: int) -> np.ndarray:
    height, width = colour.shape[:2]
    if max(height, width) <= longest:
        return colour
    scale = longest / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = [
        np.asarray(Image.fromarray(colour[:, :, c]).resize(size, Image.Resampling.BOX))
        for c in range(colour.shape[2])
    ]
    return np.stack(resized, axis=2).astype(np.float32)
