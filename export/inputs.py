"""Natural-image inputs for verification and INT8 calibration.

Random noise is a poor test of an image network: it drives normalisations and activations into
ranges real photos never reach (and misses the ones they do). Both the parity check and the
default INT8 calibration therefore use crops of the shipped sample photos, degraded by the
degradation engine the models are trained on, so the statistics match what a user feeds them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.spec import ModelSpec

__all__ = ["IMAGE_SUFFIXES", "round_up", "sample_crops", "folder_crops", "to_batch"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return int(math.ceil(value / multiple) * multiple)


def _crop(image: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random height x width crop; images smaller than that are reflect-padded first."""
    pad_h, pad_w = max(0, height - image.shape[0]), max(0, width - image.shape[1])
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    top = int(rng.integers(0, image.shape[0] - height + 1))
    left = int(rng.integers(0, image.shape[1] - width + 1))
    return image[top : top + height, left : left + width]


def _degrade(image: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
    """Apply the index-th degradation of the engine (cycling), or return the image unchanged.

    The engine (dcpt_sdk.degradations) is part of dcpt_sdk; the fallback only keeps export usable
    in a checkout where it is missing or broken.
    """
    try:
        from dcpt_sdk.degradations import available, degrade_array
    except ImportError:
        return image
    names = available()
    return degrade_array(np.ascontiguousarray(image), names[index % len(names)], rng)


def to_batch(image: np.ndarray, spec: ModelSpec, multiple: int | None = None) -> np.ndarray:
    """float32 HxWx3 in [0, 1] -> 1 x C x H' x W' in the spec's value range, H' and W'
    reflect-padded to ``multiple`` (the spec's pad multiple by default), as the Restorer pads."""
    multiple = multiple or spec.pad_multiple
    if spec.in_channels == 1:
        image = image.mean(axis=2, keepdims=True)
    elif spec.in_channels != 3:
        raise UnsupportedOptionError(
            f"export verification feeds RGB or gray images; this model takes {spec.in_channels} "
            "channels"
        )
    height, width = image.shape[:2]
    pad = ((0, round_up(height, multiple) - height), (0, round_up(width, multiple) - width), (0, 0))
    if any(p[1] for p in pad):
        image = np.pad(image, pad, mode="reflect")
    low, high = spec.value_range
    scaled = image.astype(np.float32) * (high - low) + low
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None])


def sample_crops(
    sizes: Sequence[tuple[int, int]], *, seed: int = 0, degrade: bool = True
) -> list[np.ndarray]:
    """One crop (float32 HxWx3 in [0, 1]) of the shipped sample photos per size, degraded."""
    from dcpt_sdk.zoo.samples import sample_images

    photos = sample_images()
    rng = np.random.default_rng(seed)
    crops = []
    for index, (height, width) in enumerate(sizes):
        photo = photos[index % len(photos)].astype(np.float32) / 255.0
        crop = _crop(photo, height, width, rng)
        crops.append(_degrade(crop, index, rng) if degrade else crop)
    return crops


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as opened:
            if opened.mode.startswith("I"):  # 16-bit gray: the 16-bit maximum maps to 1
                gray = np.asarray(opened).astype(np.float32) / 65535.0
                return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
            return np.asarray(opened.convert("RGB")).astype(np.float32) / 255.0
    except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
        raise UnsupportedOptionError(f"calib image '{path}' cannot be read: {exc}") from exc


def folder_crops(folder: str | Path, size: int, count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` random size x size crops (float32 HxWx3 in [0, 1]) of the images in ``folder``.

    The images are used as given (a calibration folder should hold the degraded inputs the model
    will see). Images are visited in name order, cycling when there are fewer than ``count``.

    Raises:
        UnsupportedOptionError: the folder does not exist or holds no readable image.
    """
    directory = Path(folder)
    if not directory.is_dir():
        raise UnsupportedOptionError(f"calib folder '{directory}' does not exist or is no folder")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UnsupportedOptionError(
            f"calib folder '{directory}' holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    rng = np.random.default_rng(seed)
    images = [_read_rgb(path) for path in files[:count]]
    return [_crop(images[i % len(images)], size, size, rng) for i in range(count)]
