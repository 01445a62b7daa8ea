"""Training and evaluation datasets: clean photos degraded on the fly, and their combination.

Every sample is a dict of float32 CHW tensors ``lq`` (degraded), ``gt`` (clean) and an int64
``label`` (the task class). Randomness never comes from global state: sample ``index`` of
``epoch`` draws its crop, flips and degradation from a generator seeded by
``SeedSequence([seed, epoch, index])``. The same seed therefore gives the same batches whatever
the number of DataLoader workers or processes, and a resumed run sees exactly the batches an
uninterrupted one would. The sampler yields ``(epoch, index)`` keys for that reason.

Paired benchmark folders (Rain100L, SOTS, LOL, GoPro, ...) live in :mod:`dcpt_sdk.train.data_paired`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dcpt_sdk.errors import DcptError
from dcpt_sdk.imaging import IMAGE_SUFFIXES, read_image

__all__ = [
    "CleanFolderDataset",
    "ConcatSources",
    "DataError",
    "EpochSampler",
    "SampleSource",
    "center_crop",
    "color_jitter",
    "dihedral",
    "list_images",
    "load_rgb",
    "random_crop",
    "sample_rng",
    "scaled_crop",
    "training_patch",
]

Sample = dict[str, torch.Tensor]
Degrader = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Key = int | tuple[int, int]


class DataError(DcptError):
    """A data folder that is missing, empty, or whose pairs do not match."""


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample: a pure function of (seed, epoch, index), never global state."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


# --- files -----------------------------------------------------------------------------------


def list_images(folder: Path, what: str = "images") -> list[Path]:
    """Image files under ``folder`` (recursively), sorted by relative path; errors when none."""
    if not folder.is_dir():
        raise DataError(f"{what} folder '{folder}' does not exist or is not a folder")
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    if not files:
        raise DataError(
            f"{what} folder '{folder}' holds no images (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def load_rgb(path: Path) -> np.ndarray:
    """An image file as float32 HxWx3 in [0, 1], normalised by its dtype's maximum (8 or 16 bit);
    gray becomes three equal channels and alpha is dropped (restorers see RGB)."""
    pixels = read_image(path).pixels
    if pixels.dtype == np.uint8:
        image = pixels.astype(np.float32) / np.float32(255.0)
    elif pixels.dtype == np.uint16:
        image = pixels.astype(np.float32) / np.float32(65535.0)
    else:
        image = np.clip(pixels.astype(np.float32), 0.0, 1.0)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


# --- geometry --------------------------------------------------------------------------------


def _pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad an image smaller than a patch (some benchmark images are) up to ``size``."""
    pad_h, pad_w = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    if not (pad_h or pad_w):
        return image
    widths = ((0, pad_h), (0, pad_w), (0, 0))
    if pad_h < image.shape[0] and pad_w < image.shape[1]:
        return np.pad(image, widths, mode="reflect")
    return np.pad(image, widths, mode="symmetric")  # reflect needs pads smaller than the side


def random_crop(
    images: Sequence[np.ndarray], size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The same ``size`` x ``size`` window of each (equally sized) image."""
    padded = [_pad_to(img, size) for img in images]
    height, width = padded[0].shape[:2]
    top = int(rng.integers(height - size + 1))
    left = int(rng.integers(width - size + 1))
    return [img[top : top + size, left : left + size] for img in padded]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window (the whole side where the image is smaller)."""
    height, width = image.shape[:2]
    crop_h, crop_w = min(size, height), min(size, width)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return image[top : top + crop_h, left : left + crop_w]


def scaled_crop(
    image: np.ndarray, size: int, scale_range: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """A random ``size`` x ``size`` patch of ``image`` resized by a factor drawn from
    ``scale_range`` (log-uniform), so a dozen photos show their content at many scales.

    Cropping ``size / factor`` pixels first and resizing only the crop keeps the cost per
    sample independent of the photo's size. Downscaling is antialiased (area-like), which also
    thins out the source JPEG's own artefacts and noise.
    """
    low, high = scale_range
    factor = float(np.exp(rng.uniform(np.log(low), np.log(high)))) if high > low else low
    side = max(1, round(size / factor))
    (window,) = random_crop([image], min(side, max(image.shape[:2])), rng)
    if window.shape[0] == size and window.shape[1] == size:
        return window
    tensor = torch.from_numpy(np.ascontiguousarray(window.transpose(2, 0, 1)))[None]
    resized = torch.nn.functional.interpolate(
        tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return np.clip(resized[0].numpy().transpose(1, 2, 0), 0.0, 1.0)


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, saturation and per-channel gain within ``strength`` (0: unchanged).

    Widens the colour statistics of a few photos; done on the clean image BEFORE it is
    degraded, so the pair stays consistent.
    """
    if strength <= 0:
        return image
    brightness = rng.uniform(1.0 - strength, 1.0 + strength)
    saturation = rng.uniform(1.0 - strength, 1.0 + strength)
    gains = rng.uniform(1.0 - strength / 4, 1.0 + strength / 4, size=3)
    gray = image.mean(axis=2, keepdims=True)
    out = (gray + (image - gray) * saturation) * (brightness * gains).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def dihedral(images: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One of the 8 flips/rotations, the same for each image (BasicSR's augmentation)."""
    k = int(rng.integers(8))
    out = [np.rot90(img, k % 4) for img in images]
    if k >= 4:
        out = [img[:, ::-1] for img in out]
    return [np.ascontiguousarray(img) for img in out]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 float32 -> 3xHxW float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


# --- datasets --------------------------------------------------------------------------------


def _split_key(key: Key) -> tuple[int, int]:
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return 0, int(key)


class SampleSource(Dataset[Sample]):
    """Base of every dataset here: ``sample(index, rng)`` makes one (lq, gt, label) triple.

    ``dataset[index]`` or ``dataset[(epoch, index)]`` seeds the generator from (seed, epoch,
    index); a :class:`ConcatSources` calls ``sample`` directly with its own generator.
    """

    seed: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        raise NotImplementedError

    def __getitem__(self, key: Key) -> Sample:
        epoch, index = _split_key(key)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        lq, gt, label = self.sample(index, sample_rng(self.seed, epoch, index))
        return {"lq": to_tensor(lq), "gt": to_tensor(gt), "label": torch.tensor(label)}


class CleanFolderDataset(SampleSource):
    """Clean photos degraded on the fly: the class is drawn per sample among ``degraders``.

    Training (``patch_size`` > 0, ``train=True``): a random patch, a random flip/rotation, then a
    random class and its degradation. Evaluation (``train=False``): every image with every class,
    index = image * classes + class, a centre crop of ``patch_size`` (0: the whole image) and a
    degradation drawn from the sample's own generator, so it is the same on every call.

    Args:
        files: the clean images.
        degraders: (label, function(img, rng) -> degraded) per class this source draws.
        patch_size: crop side; 0 keeps whole images (evaluation only).
        train: random crops, flips and class draws (True) or the fixed evaluation grid (False).
        seed: seeds every sample's generator together with the epoch and index.
        scale_range: training only: the patch is resized by a factor drawn from this range
            (log-uniform); (1, 1) crops at the photo's own scale.
        color_jitter: training only: brightness/saturation/channel-gain jitter (0: none).
        channel_shuffle: training only: a random RGB channel order per patch (a dozen photos
            otherwise teach colour priors: "this texture is brown").
        cache: keep decoded photos in memory (a training set of a few dozen photos is read
            thousands of times; decoding a large JPEG costs more than degrading a patch).
    """

    def __init__(
        self,
        files: Sequence[Path],
        degraders: Sequence[tuple[int, Degrader]],
        *,
        patch_size: int,
        train: bool = True,
        seed: int = 0,
        scale_range: tuple[float, float] = (1.0, 1.0),
        color_jitter: float = 0.0,
        channel_shuffle: bool = False,
        cache: bool = True,
    ) -> None:
        if not files:
            raise DataError("CleanFolderDataset needs at least one image")
        low, high = scale_range
        if not 0 < low <= high:
            raise DataError(f"scale_range must be 0 < low <= high, got {tuple(scale_range)}")
        if not 0 <= color_jitter < 1:
            raise DataError(f"color_jitter must be in [0, 1), got {color_jitter}")
        if not degraders:
            raise DataError("CleanFolderDataset needs at least one degradation class")
        if train and patch_size <= 0:
            raise DataError("training crops need patch_size > 0")
        self.files = list(files)
        self.degraders = list(degraders)
        self.patch_size = patch_size
        self.train = train
        self.seed = seed
        self.scale_range = (float(low), float(high))
        self.color_jitter = float(color_jitter)
        self.channel_shuffle = channel_shuffle
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.files) * (1 if self.train else len(self.degraders))

    def _photo(self, index: int) -> np.ndarray:
        if self._cache is None:
            return load_rgb(self.files[index])
        if index not in self._cache:
            self._cache[index] = load_rgb(self.files[index])
        return self._cache[index]

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        if self.train:
            gt = training_patch(
                self._photo(index),
                self.patch_size,
                rng,
                scale_range=self.scale_range,
                jitter=self.color_jitter,
                channel_shuffle=self.channel_shuffle,
            )
            label, degrade = self.degraders[int(rng.integers(len(self.degraders)))]
        else:
            image, which = divmod(index, len(self.degraders))
            gt = self._photo(image)
            if self.patch_size:
                gt = np.ascontiguousarray(center_crop(gt, self.patch_size))
            label, degrade = self.degraders[which]
        lq = degrade(gt, rng).astype(np.float32, copy=False)
        return lq, gt, label


def training_patch(
    image: np.ndarray,
    size: int,
    rng: np.random.Generator,
    *,
    scale_range: tuple[float, float] = (1.0, 1.0),
    jitter: float = 0.0,
    channel_shuffle: bool = False,
) -> np.ndarray:
    """One augmented clean training patch of ``image``: a crop (rescaled when ``scale_range`` is
    not (1, 1)), a random flip/rotation, colour jitter and, optionally, shuffled RGB channels."""
    if scale_range == (1.0, 1.0):
        (patch,) = random_crop([image], size, rng)
    else:
        patch = scaled_crop(image, size, scale_range, rng)
    (patch,) = dihedral([patch], rng)
    patch = color_jitter(patch, jitter, rng)
    if channel_shuffle:
        patch = np.ascontiguousarray(patch[..., rng.permutation(3)])
    return patch


class ConcatSources(SampleSource):
    """Several sources as one dataset, each repeated ``ratio`` times per epoch.

    Repetition balances a small set (e.g. 200 Rain100L pairs) against a large one (thousands of
    RESIDE pairs), as the reference's enlargement ratios do. Sample ``index`` seeds its generator
    from this dataset's (seed, epoch, index), so sources need no seeds of their own.
    """

    def __init__(
        self, sources: Sequence[SampleSource], ratios: Sequence[int] | None = None, *, seed: int = 0
    ) -> None:
        if not sources:
            raise DataError("ConcatSources needs at least one source")
        ratios = list(ratios) if ratios is not None else [1] * len(sources)
        if len(ratios) != len(sources) or any(r < 1 for r in ratios):
            raise DataError(f"give one ratio >= 1 per source; got {ratios} for {len(sources)}")
        self.sources = list(sources)
        self.ratios = ratios
        self.seed = seed
        sizes = [len(s) * r for s, r in zip(self.sources, ratios, strict=True)]
        self.offsets = list(itertools.accumulate(sizes))

    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, index: int) -> tuple[int, int]:
        """(source number, index inside that source) of a global index."""
        which = bisect.bisect_right(self.offsets, index)
        start = self.offsets[which - 1] if which else 0
        return which, (index - start) % len(self.sources[which])

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        which, local = self.locate(index)
        return self.sources[which].sample(local, rng)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` keys: a permutation seeded by (seed, epoch), or the identity.

    Accelerate's prepared DataLoader calls ``set_epoch`` before each pass (and shards the batches
    across processes), so every process draws the same permutation without shared state.
    """

    def __init__(self, size: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.size = size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        else:
            order = np.arange(self.size)
        return ((self.epoch, int(i)) for i in order)
