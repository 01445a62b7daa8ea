"""Dead-leaves images: synthetic clean patches with the edge statistics of natural photos.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) drops opaque disks of random colour
whose radii follow a power law p(r) ~ r^-3, each new one on top of the others. Its images are
scale invariant and full of occluding edges at every size and contrast, the structure that
deblurring and deblocking must learn; Achddou, Gousseau & Ladjal ("Synthetic images as a
regularity prior for image restoration neural networks", SSVM 2021) train denoisers and
deblurrers on them that come close to training on photos. They can supplement the dozen photos
that packages ship, most of them textures, microscopy and text; for the default model they were
tried as a fifth fine-tuning stage for motion blur and JPEG, which did not move on the held-out
photos (train/experiments/deblur-jpeg/README.md). No library draws them, hence this module.

Each patch is drawn at twice its size and area-averaged down, so disk edges are anti-aliased
(sharp, not jagged); every disk gets a gentle linear shading so flat areas are not perfectly flat.
Drawing one takes about a second, so a training source draws a bank of them once and crops
patches from it, as from photos.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcpt_sdk.train.data import DataError, Degrader, SampleSource, training_patch

__all__ = ["DeadLeavesDataset", "dead_leaves"]

_ALPHA = 3.0  # the power law's exponent: scale invariance, as measured on natural images
_SUPERSAMPLE = 2


def _radii(rng: np.random.Generator, count: int, low: float, high: float) -> np.ndarray:
    """``count`` radii in [low, high] with density ~ r^-ALPHA (inverse-CDF sampling)."""
    a, b = low ** (1.0 - _ALPHA), high ** (1.0 - _ALPHA)
    return (a - rng.random(count) * (a - b)) ** (1.0 / (1.0 - _ALPHA))


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A grey level plus a random tint of random strength: mostly muted colours, as in photos."""
    grey = rng.random()
    tint = (rng.random(3) - 0.5) * rng.uniform(0.0, 0.8)
    return np.clip(grey + tint, 0.0, 1.0)


def dead_leaves(size: int, rng: np.random.Generator, *, min_radius: float = 1.0) -> np.ndarray:
    """One ``size`` x ``size`` RGB dead-leaves image, float32 in [0, 1], fully covered.

    Drawn front to back: each new disk only fills pixels no earlier disk covers (the same law as
    dropping them back to front, but it stops as soon as the image is full).

    Args:
        size: side of the output in pixels.
        rng: draws every disk.
        min_radius: smallest disk radius in output pixels (the largest is the image side).
    """
    if size < 4:
        raise DataError(f"dead-leaves images need size >= 4, got {size}")
    side = size * _SUPERSAMPLE
    canvas = np.zeros((side, side, 3), np.float32)
    covered = np.zeros((side, side), bool)
    left_uncovered = side * side
    while left_uncovered:
        # Disks in batches of 256 (one draw of radii and centres each), until nothing is left.
        radii = _radii(rng, 256, min_radius * _SUPERSAMPLE, float(side))
        centres = rng.uniform(-0.1 * side, 1.1 * side, (256, 2))
        for (cy, cx), r in zip(centres, radii, strict=True):
            top, bottom = max(int(cy - r), 0), min(int(cy + r) + 2, side)
            left, right = max(int(cx - r), 0), min(int(cx + r) + 2, side)
            if top >= bottom or left >= right:
                continue
            yy, xx = np.ogrid[top:bottom, left:right]
            dy, dx = (yy - cy) / r, (xx - cx) / r
            fill = (dy * dy + dx * dx <= 1.0) & ~covered[top:bottom, left:right]
            if not fill.any():
                continue
            slope = rng.uniform(-0.15, 0.15, 2)
            shade = (1.0 + slope[0] * dy + slope[1] * dx)[..., None]
            colour = np.clip(_colour(rng) * shade, 0.0, 1.0)
            canvas[top:bottom, left:right][fill] = np.broadcast_to(colour, (*fill.shape, 3))[fill]
            covered[top:bottom, left:right] |= fill
            left_uncovered -= int(fill.sum())
            if not left_uncovered:
                break
    small = canvas.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.ascontiguousarray(small, dtype=np.float32)


class DeadLeavesDataset(SampleSource):
    """Patches of dead-leaves images, degraded on the fly, the class drawn per sample.

    Training only (the evaluation stays on photos). A bank of ``images`` dead-leaves images of
    ``image_size`` pixels is drawn once (lazily, each seeded by its index, so every run and every
    worker draws the same bank) and kept in memory; a sample is a random crop of a random one,
    a random flip/rotation and colour jitter, like a photo patch. ``len`` is 1: the config's
    ``ratio`` says how many patches an epoch draws.
    """

    def __init__(
        self,
        degraders: Sequence[tuple[int, Degrader]],
        *,
        patch_size: int,
        seed: int = 0,
        color_jitter: float = 0.0,
        images: int = 48,
        image_size: int = 256,
    ) -> None:
        if not degraders:
            raise DataError("DeadLeavesDataset needs at least one degradation class")
        if not 4 <= patch_size <= image_size:
            raise DataError(
                f"dead-leaves patches need 4 <= patch_size <= image_size ({image_size}), "
                f"got {patch_size}"
            )
        if images < 1:
            raise DataError(f"DeadLeavesDataset needs images >= 1, got {images}")
        self.degraders = list(degraders)
        self.patch_size = patch_size
        self.seed = seed
        self.color_jitter = float(color_jitter)
        self.image_count = images
        self.image_size = image_size
        self._bank: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return 1

    def _image(self, which: int) -> np.ndarray:
        if which not in self._bank:
            rng = np.random.default_rng([self.seed, 0xDEAD, which])
            self._bank[which] = dead_leaves(self.image_size, rng)
        return self._bank[which]

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        image = self._image(int(rng.integers(self.image_count)))
        gt = training_patch(image, self.patch_size, rng, jitter=self.color_jitter)
        label, degrade = self.degraders[int(rng.integers(len(self.degraders)))]
        lq = degrade(gt, rng).astype(np.float32, copy=False)
        return lq, gt, label
